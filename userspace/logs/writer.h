// Where access-log lines go, and how fast.
//
// A token bucket caps lines per second so that a traffic flood cannot turn
// into a disk flood. Lines are written by a thread of their own through a
// bounded queue: a slow disk or a stdout pipe nobody reads never stalls the
// event loop that drains the kernel ring buffer; what does not fit in the
// queue is dropped and counted. The file output rotates daily
// (file -> file.YYYY-MM-DD, UTC) and deletes rotated files older than the
// retention. Clocks are injected so all of this is tested without waiting.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sightline::logs {

// Nanoseconds: CLOCK_MONOTONIC for rates, CLOCK_REALTIME for dates.
using NowNs = std::function<uint64_t()>;

class TokenBucket {
 public:
  // `per_second` 0: unlimited. The burst is one second's worth.
  TokenBucket(double per_second, NowNs mono);
  // Takes a token when one is there.
  bool Take();

 private:
  double rate_;
  double tokens_;
  uint64_t last_ns_ = 0;
  NowNs mono_;
};

// Receives batches of whole lines; returns false when they could not be written.
class Output {
 public:
  virtual ~Output() = default;
  virtual bool Write(std::string_view bytes) = 0;
};

// A file descriptor that stays open (stdout). Never closed here.
class FdOutput : public Output {
 public:
  explicit FdOutput(int fd) : fd_(fd) {}
  bool Write(std::string_view bytes) override;

 private:
  int fd_;
};

// "YYYY-MM-DD" (UTC) of a CLOCK_REALTIME time.
std::string DayOf(uint64_t wall_ns);

class RotatingFile : public Output {
 public:
  // Opens (appends to) `path`; `retention_days` 0 keeps every rotated file.
  RotatingFile(std::string path, uint32_t retention_days, NowNs wall);
  ~RotatingFile() override;
  RotatingFile(const RotatingFile&) = delete;
  RotatingFile& operator=(const RotatingFile&) = delete;

  // Rotates first when the day changed since the file was opened.
  bool Write(std::string_view bytes) override;
  // Deletes rotated files (path.YYYY-MM-DD) dated before today - retention.
  // Returns how many were deleted.
  size_t Prune();

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

 private:
  void Open();
  void Rotate(const std::string& today);

  std::string path_;
  uint32_t retention_days_;
  NowNs wall_;
  std::string day_;  // of the lines in path_
  int fd_ = -1;
  std::string error_;
};

struct WriterStats {
  uint64_t lines = 0;         // written
  uint64_t write_errors = 0;  // lines lost to a failed write
};

// Lines in, batches out, on a thread of its own.
class AsyncWriter {
 public:
  // Called from the writer thread after each batch with the lines it wrote
  // and those it lost to a write error.
  using OnBatch = std::function<void(uint64_t written, uint64_t failed)>;

  AsyncWriter(std::vector<std::unique_ptr<Output>> outputs, size_t max_queued_bytes,
              OnBatch on_batch,
              std::chrono::milliseconds stop_timeout = std::chrono::milliseconds(5000));
  // Writes what is queued, then stops. An output stuck for longer than the
  // stop timeout (a pipe nobody reads) is left to its thread, which then
  // reports nothing more, so that the daemon can still exit.
  ~AsyncWriter();

  // Queues one line (without its newline). False when the queue is full.
  bool Push(std::string line);
  // Waits until everything queued so far has been handed to the outputs;
  // false if that took longer than `timeout`.
  bool Drain(std::chrono::milliseconds timeout);

 private:
  struct State;
  static void Run(const std::shared_ptr<State>& s);

  std::chrono::milliseconds stop_timeout_;
  // Shared with the thread: it outlives this object when abandoned.
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace sightline::logs
