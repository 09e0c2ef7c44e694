// The stream orderer: bytes out in offset order, holes turned into gaps.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conn/stream.h"

namespace {

using sightline::conn::StreamLimits;
using sightline::conn::StreamOrderer;
using sightline::conn::StreamStats;

struct Recorder {
  std::string bytes;  // gaps appear as one '#' per missing byte
  std::vector<uint64_t> gaps;
  StreamOrderer::Output out{
      [this](std::string_view b, uint64_t) { bytes.append(b); },
      [this](uint64_t n, uint64_t) {
        gaps.push_back(n);
        bytes.append(n, '#');
      }};
};

TEST(StreamOrderer, InOrder) {
  StreamOrderer s;
  StreamStats st;
  Recorder r;
  s.Start(0);
  s.Push(0, 3, "abc", 1, r.out, st);
  s.Push(3, 2, "de", 2, r.out, st);
  EXPECT_EQ(r.bytes, "abcde");
  EXPECT_EQ(st.reordered, 0u);
}

TEST(StreamOrderer, ReordersEarlyArrival) {
  StreamOrderer s;
  StreamStats st;
  Recorder r;
  s.Start(0);
  s.Push(3, 3, "def", 2, r.out, st);
  EXPECT_EQ(r.bytes, "");
  EXPECT_EQ(s.held_bytes(), 3u);
  s.Push(0, 3, "abc", 1, r.out, st);
  EXPECT_EQ(r.bytes, "abcdef");
  EXPECT_EQ(st.reordered, 1u);
  EXPECT_EQ(s.held_bytes(), 0u);
}

TEST(StreamOrderer, UncapturedTailIsAGap) {
  StreamOrderer s;
  StreamStats st;
  Recorder r;
  s.Start(0);
  s.Push(0, 10, "abcd", 1, r.out, st);
  s.Push(10, 2, "xy", 2, r.out, st);
  EXPECT_EQ(r.bytes, "abcd######xy");
  EXPECT_EQ(st.uncaptured_bytes, 6u);
  EXPECT_EQ(st.lost_bytes, 0u);
}

TEST(StreamOrderer, HoleBecomesGapAfterTimeout) {
  StreamOrderer s(StreamLimits{1024, 100});
  StreamStats st;
  Recorder r;
  s.Start(0);
  s.Push(5, 2, "fg", 1000, r.out, st);
  s.Flush(1050, false, r.out, st);
  EXPECT_EQ(r.bytes, "");
  s.Flush(1100, false, r.out, st);
  EXPECT_EQ(r.bytes, "#####fg");
  EXPECT_EQ(st.lost_bytes, 5u);
  // The late event for the hole is now stale.
  s.Push(0, 5, "abcde", 1200, r.out, st);
  EXPECT_EQ(st.stale, 1u);
  EXPECT_EQ(r.bytes, "#####fg");
}

TEST(StreamOrderer, HeldBytesAreBounded) {
  StreamOrderer s(StreamLimits{8, 1'000'000});
  StreamStats st;
  Recorder r;
  s.Start(0);
  s.Push(2, 4, "cdef", 1, r.out, st);
  s.Push(6, 6, "ghijkl", 2, r.out, st);  // 10 held > 8: the hole is given up
  EXPECT_EQ(r.bytes, "##cdefghijkl");
  EXPECT_EQ(s.held_bytes(), 0u);
  EXPECT_EQ(st.lost_bytes, 2u);
}

TEST(StreamOrderer, OverlapKeepsOnlyNewBytes) {
  StreamOrderer s;
  StreamStats st;
  Recorder r;
  s.Start(0);
  s.Push(0, 4, "abcd", 1, r.out, st);
  s.Push(2, 4, "cdef", 2, r.out, st);
  EXPECT_EQ(r.bytes, "abcdef");
}

TEST(StreamOrderer, StartsWhereFirstEventLands) {
  StreamOrderer s;
  StreamStats st;
  Recorder r;
  s.Push(1000, 3, "abc", 1, r.out, st);
  EXPECT_EQ(r.bytes, "abc");
  EXPECT_TRUE(s.started());
}

}  // namespace
