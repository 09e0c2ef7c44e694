// Puts one direction of a connection back in byte order. Events carry the
// stream offset of their first byte; this releases bytes in offset order,
// holds early arrivals for a while, and turns holes that never fill into
// explicit gaps, so the parser always knows what it did not see.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace sightline::conn {

struct StreamLimits {
  size_t max_held_bytes = 256 * 1024;  // early arrivals kept while a hole is open
  uint64_t hole_timeout_ns = 1'000'000'000;
};

struct StreamStats {
  uint64_t reordered = 0;        // events that arrived before an earlier one
  uint64_t stale = 0;            // events entirely before the current offset (duplicates)
  uint64_t lost_bytes = 0;       // holes declared gaps: bytes never seen
  uint64_t uncaptured_bytes = 0; // bytes moved but not captured (capture size, sendfile)
};

class StreamOrderer {
 public:
  // Called for bytes in order; `gap` > 0 means that many bytes are missing at this point.
  struct Output {
    std::function<void(std::string_view bytes, uint64_t ts_ns)> data;
    std::function<void(uint64_t gap, uint64_t ts_ns)> gap;
  };

  explicit StreamOrderer(StreamLimits limits = {}) : limits_(limits) {}

  // Starts the stream at `offset` (0 for connections seen from their start).
  void Start(uint64_t offset) {
    next_ = offset;
    started_ = true;
  }
  bool started() const { return started_; }

  // One event: `moved` bytes at `seq`, of which `captured` (a prefix) are known.
  void Push(uint64_t seq, uint64_t moved, std::string_view captured, uint64_t ts_ns,
            const Output& out, StreamStats& stats);

  // Declares holes older than the timeout (relative to now_ns) as gaps and
  // releases what waited behind them. `force` releases everything.
  void Flush(uint64_t now_ns, bool force, const Output& out, StreamStats& stats);

  size_t held_bytes() const { return held_bytes_; }

 private:
  struct Held {
    uint64_t moved;
    std::string captured;
    uint64_t ts_ns;
  };
  void Deliver(uint64_t moved, std::string_view captured, uint64_t ts_ns, const Output& out,
               StreamStats& stats);
  void Drain(const Output& out, StreamStats& stats);
  void SkipToFirstHeld(const Output& out, StreamStats& stats);

  StreamLimits limits_;
  bool started_ = false;
  uint64_t next_ = 0;
  std::map<uint64_t, Held> held_;
  size_t held_bytes_ = 0;
};

}  // namespace sightline::conn
