// Replaying recorded database traffic through a protocol session: the
// captures in tests/unit/data (one line per recv(), '>' from the client,
// '<' back, hex bytes), a sink that records what comes out, and the replay
// itself, whole, cut at an offset or a few bytes per call.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/db/operation.h"

namespace sightline::db::testing {

class Recorder : public Sink {
 public:
  void OnOperation(const Operation& op) override { ops.push_back(op); }
  void OnError(std::string_view reason) override { errors.emplace_back(reason); }
  std::vector<Operation> ops;
  std::vector<std::string> errors;
};

// One recv() of the capture: from the client (to the server) or back.
struct Chunk {
  bool from_client;
  std::string bytes;
};

inline std::vector<Chunk> LoadCapture(const std::string& name) {
  const auto path = std::filesystem::path(__FILE__).parent_path() / "data" / name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<Chunk> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 3 || line[0] == '#') continue;
    Chunk c{line[0] == '>', {}};
    for (size_t i = 2; i + 1 < line.size(); i += 2) {
      c.bytes.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    }
    out.push_back(std::move(c));
  }
  return out;
}

inline Stream StreamOf(bool from_client, Side side) {
  // The observed client writes requests; an observed server reads them.
  const bool egress = side == Side::kServer ? !from_client : from_client;
  return egress ? Stream::kEgress : Stream::kIngress;
}

inline size_t TotalBytes(const std::vector<Chunk>& chunks) {
  size_t n = 0;
  for (const Chunk& c : chunks) n += c.bytes.size();
  return n;
}

// Feeds chunks to a fresh Session(side) as the side `as` sees them (time =
// 1000 * (index + 1)); `cut` splits the chunk holding that byte offset of the
// whole capture in two; `step` feeds that many bytes per call; chunks before
// `skip` are not seen. The session never buffers more than `max_buffered`.
template <typename Session>
Recorder ReplayCapture(const std::vector<Chunk>& chunks, Side side, Side as, size_t cut,
                       size_t step, size_t skip, size_t max_buffered) {
  if (as == Side::kUnknown) as = side;
  Session session(side);
  Recorder r;
  size_t offset = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const std::string_view b = chunks[i].bytes;
    if (i < skip) {
      offset += b.size();
      continue;
    }
    const Stream s = StreamOf(chunks[i].from_client, as);
    const uint64_t ts = 1000 * (i + 1);
    std::vector<std::string_view> parts = {b};
    if (cut > offset && cut < offset + b.size()) {
      parts = {b.substr(0, cut - offset), b.substr(cut - offset)};
    }
    for (std::string_view p : parts) {
      while (!p.empty()) {
        const size_t n = std::min(step, p.size());
        session.OnData(s, p.substr(0, n), ts, r);
        p.remove_prefix(n);
      }
    }
    offset += b.size();
    EXPECT_LE(session.buffered_bytes(), max_buffered);
  }
  session.OnClose(1000 * (chunks.size() + 1), r);
  EXPECT_EQ(session.side(), as);
  return r;
}

}  // namespace sightline::db::testing
