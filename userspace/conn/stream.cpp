#include "conn/stream.h"

namespace sightline::conn {

void StreamOrderer::Deliver(uint64_t moved, std::string_view captured, uint64_t ts_ns,
                            const Output& out, StreamStats& stats) {
  if (!captured.empty()) out.data(captured, ts_ns);
  if (moved > captured.size()) {
    stats.uncaptured_bytes += moved - captured.size();
    out.gap(moved - captured.size(), ts_ns);
  }
  next_ += moved;
}

void StreamOrderer::Drain(const Output& out, StreamStats& stats) {
  while (!held_.empty()) {
    auto it = held_.begin();
    if (it->first > next_) return;
    Held h = std::move(it->second);
    uint64_t seq = it->first;
    held_bytes_ -= h.captured.size();
    held_.erase(it);
    if (seq + h.moved <= next_) {
      stats.stale++;
      continue;
    }
    // Overlap with what was already delivered: keep only the new tail.
    uint64_t skip = next_ - seq;
    std::string_view cap = h.captured;
    cap = skip < cap.size() ? cap.substr(skip) : std::string_view();
    Deliver(h.moved - skip, cap, h.ts_ns, out, stats);
  }
}

void StreamOrderer::SkipToFirstHeld(const Output& out, StreamStats& stats) {
  auto it = held_.begin();
  uint64_t missing = it->first - next_;
  stats.lost_bytes += missing;
  out.gap(missing, it->second.ts_ns);
  next_ = it->first;
}

void StreamOrderer::Push(uint64_t seq, uint64_t moved, std::string_view captured, uint64_t ts_ns,
                         const Output& out, StreamStats& stats) {
  if (!started_) Start(seq);
  if (seq + moved <= next_) {
    stats.stale++;
    return;
  }
  if (seq <= next_ && held_.empty()) {
    uint64_t skip = next_ - seq;
    captured = skip < captured.size() ? captured.substr(skip) : std::string_view();
    Deliver(moved - skip, captured, ts_ns, out, stats);
    return;
  }
  if (seq > next_) stats.reordered++;
  auto [it, inserted] = held_.try_emplace(seq, Held{moved, std::string(captured), ts_ns});
  if (!inserted) {
    stats.stale++;
    return;
  }
  held_bytes_ += captured.size();
  Drain(out, stats);
  // Too much waiting behind a hole: give up on it rather than grow.
  while (held_bytes_ > limits_.max_held_bytes && !held_.empty()) {
    SkipToFirstHeld(out, stats);
    Drain(out, stats);
  }
}

void StreamOrderer::Flush(uint64_t now_ns, bool force, const Output& out, StreamStats& stats) {
  while (!held_.empty()) {
    const Held& first = held_.begin()->second;
    if (!force && first.ts_ns + limits_.hole_timeout_ns > now_ns) return;
    SkipToFirstHeld(out, stats);
    Drain(out, stats);
  }
}

}  // namespace sightline::conn
