// Access-log outputs with injected clocks: the token bucket's exact
// admissions, daily rotation to FILE.YYYY-MM-DD, retention of rotated files,
// and the writer thread handing every queued line to its outputs.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "logs/writer.h"

namespace {

namespace logs = sightline::logs;
namespace fs = std::filesystem;

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint64_t kDay = 86400 * kSecond;
// 2026-11-24T10:00:00Z
constexpr uint64_t kNov24 = 1795514400ull * kSecond;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sightline-logs-writer-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

TEST(LogsWriter, DayOfIsUtc) {
  EXPECT_EQ(logs::DayOf(kNov24), "2026-11-24");
  EXPECT_EQ(logs::DayOf(kNov24 + 14 * 3600 * kSecond - 1), "2026-11-24");
  EXPECT_EQ(logs::DayOf(kNov24 + 14 * 3600 * kSecond), "2026-11-25");
}

TEST(LogsWriter, TokenBucketExactDrops) {
  uint64_t now = 5 * kSecond;
  logs::TokenBucket bucket(10, [&] { return now; });
  int taken = 0;
  for (int i = 0; i < 25; ++i) taken += bucket.Take();
  EXPECT_EQ(taken, 10);  // one second of burst
  now += kSecond / 2;    // half a second refills 5
  taken = 0;
  for (int i = 0; i < 25; ++i) taken += bucket.Take();
  EXPECT_EQ(taken, 5);
  now += 10 * kSecond;  // never more than the burst
  taken = 0;
  for (int i = 0; i < 25; ++i) taken += bucket.Take();
  EXPECT_EQ(taken, 10);
  logs::TokenBucket unlimited(0, [&] { return now; });
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(unlimited.Take());
}

TEST(LogsWriter, RotatesDailyAndKeepsRetention) {
  TempDir dir;
  const std::string path = dir.path + "/access.log";
  uint64_t now = kNov24;
  // Rotated files of earlier runs: 40 and 31 days old go, 30 and 2 days old stay.
  for (const char* old : {"access.log.2026-10-15", "access.log.2026-10-24", "access.log.2026-10-25",
                          "access.log.2026-11-22", "access.log.2026-10-01.1",
                          "other.log.2020-01-01", "access.log.notadate"}) {
    std::ofstream(dir.path + "/" + old) << "old\n";
  }
  {
    logs::RotatingFile f(path, 30, [&] { return now; });
    ASSERT_TRUE(f.ok()) << f.error();
    EXPECT_EQ(Files(dir.path),
              (std::set<std::string>{"access.log", "access.log.2026-10-25", "access.log.2026-11-22",
                                     "other.log.2020-01-01", "access.log.notadate"}));
    ASSERT_TRUE(f.Write("a1\na2\n"));
    now += 13 * 3600 * kSecond;  // 23:00 the same day
    ASSERT_TRUE(f.Write("a3\n"));
    now += 2 * 3600 * kSecond;  // 01:00 the next day
    ASSERT_TRUE(f.Write("b1\n"));
    EXPECT_EQ(Read(dir.path + "/access.log.2026-11-24"), "a1\na2\na3\n");
    EXPECT_EQ(Read(path), "b1\n");
    // 30 days later: b1's day is rotated and is just within the retention;
    // 2026-11-24 and 2026-11-22 age out.
    now += 30 * kDay;
    ASSERT_TRUE(f.Write("c1\n"));
    EXPECT_EQ(Files(dir.path),
              (std::set<std::string>{"access.log", "access.log.2026-11-25", "other.log.2020-01-01",
                                     "access.log.notadate"}));
    EXPECT_EQ(Read(dir.path + "/access.log.2026-11-25"), "b1\n");
    EXPECT_EQ(Read(path), "c1\n");
  }
}

TEST(LogsWriter, RetentionZeroKeepsEverything) {
  TempDir dir;
  const std::string path = dir.path + "/a.log";
  std::ofstream(dir.path + "/a.log.2001-01-01") << "x\n";
  uint64_t now = kNov24;
  logs::RotatingFile f(path, 0, [&] { return now; });
  EXPECT_EQ(f.Prune(), 0u);
  EXPECT_TRUE(fs::exists(dir.path + "/a.log.2001-01-01"));
}

TEST(LogsWriter, UnwritableFileIsAnError) {
  uint64_t now = kNov24;
  logs::RotatingFile f("/nonexistent-dir/x/access.log", 30, [&] { return now; });
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.error().find("/nonexistent-dir/x/access.log"), std::string::npos);
  EXPECT_FALSE(f.Write("x\n"));
}

struct Failing : logs::Output {
  bool Write(std::string_view) override { return false; }
};

TEST(LogsWriter, AsyncWriterWritesEveryQueuedLineAndCountsFailures) {
  TempDir dir;
  const std::string path = dir.path + "/w.log";
  uint64_t now = kNov24;
  uint64_t written = 0, failed = 0;
  {
    std::vector<std::unique_ptr<logs::Output>> outs;
    outs.push_back(std::make_unique<logs::RotatingFile>(path, 30, [&] { return now; }));
    logs::AsyncWriter w(std::move(outs), 1 << 20, [&](uint64_t ok, uint64_t bad) {
      written += ok;
      failed += bad;
    });
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(w.Push("line " + std::to_string(i)));
    ASSERT_TRUE(w.Drain(std::chrono::seconds(10)));
    EXPECT_EQ(written, 1000u);
  }
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(Read(path), expected);
  EXPECT_EQ(failed, 0u);

  std::vector<std::unique_ptr<logs::Output>> outs;
  outs.push_back(std::make_unique<Failing>());
  written = failed = 0;
  {
    logs::AsyncWriter w(std::move(outs), 1 << 20, [&](uint64_t ok, uint64_t bad) {
      written += ok;
      failed += bad;
    });
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(w.Push("x"));
  }
  EXPECT_EQ(written, 0u);
  EXPECT_EQ(failed, 7u);
}

// An output that blocks until released, standing in for a stdout pipe nobody reads.
struct Stuck : logs::Output {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;
  bool Write(std::string_view) override {
    std::unique_lock<std::mutex> lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [this] { return released; });
    return true;
  }
};

TEST(LogsWriter, FullQueueRefusesInsteadOfBlocking) {
  auto stuck = std::make_unique<Stuck>();
  Stuck* s = stuck.get();
  std::vector<std::unique_ptr<logs::Output>> outs;
  outs.push_back(std::move(stuck));
  uint64_t written = 0;
  {
    logs::AsyncWriter w(std::move(outs), 100, [&](uint64_t ok, uint64_t) { written += ok; });
    ASSERT_TRUE(w.Push(std::string(9, 'a')));
    {
      std::unique_lock<std::mutex> lock(s->mu);
      s->cv.wait(lock, [s] { return s->entered; });
    }
    // The writer is stuck with the first line: the queue takes ten 10-byte lines, no more.
    int accepted = 0, refused = 0;
    for (int i = 0; i < 50; ++i) (w.Push(std::string(9, 'b')) ? accepted : refused)++;
    EXPECT_EQ(accepted, 10);
    EXPECT_EQ(refused, 40);
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->released = true;
    }
    s->cv.notify_all();
    ASSERT_TRUE(w.Drain(std::chrono::seconds(10)));
    EXPECT_EQ(written, 11u);
  }
}

TEST(LogsWriter, StuckOutputDoesNotKeepTheOwnerFromStopping) {
  auto stuck = std::make_unique<Stuck>();
  Stuck* s = stuck.get();
  std::vector<std::unique_ptr<logs::Output>> outs;
  outs.push_back(std::move(stuck));
  uint64_t reported = 0;
  {
    logs::AsyncWriter w(
        std::move(outs), 100, [&](uint64_t ok, uint64_t bad) { reported += ok + bad; },
        std::chrono::milliseconds(100));
    ASSERT_TRUE(w.Push("x"));
    {
      std::unique_lock<std::mutex> lock(s->mu);
      s->cv.wait(lock, [s] { return s->entered; });
    }
    EXPECT_FALSE(w.Drain(std::chrono::milliseconds(50)));
  }  // returns after the stop timeout although the write never returned
  EXPECT_EQ(reported, 0u);
  // The abandoned thread finishes on its own once the output unblocks; it
  // reports nothing to an owner that is gone.
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->released = true;
    s->cv.notify_all();
  }
}

}  // namespace
