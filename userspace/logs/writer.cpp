#include "logs/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace sightline::logs {
namespace {

constexpr uint64_t kDayNs = 86'400'000'000'000ull;

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(size_t(n));
  }
  return true;
}

bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

}  // namespace

TokenBucket::TokenBucket(double per_second, NowNs mono)
    : rate_(per_second), tokens_(per_second), mono_(std::move(mono)) {
  if (rate_ > 0) last_ns_ = mono_();
}

bool TokenBucket::Take() {
  if (rate_ <= 0) return true;
  const uint64_t now = mono_();
  if (now > last_ns_) {
    tokens_ = std::min(rate_, tokens_ + double(now - last_ns_) * rate_ / 1e9);
    last_ns_ = now;
  }
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool FdOutput::Write(std::string_view bytes) { return WriteAll(fd_, bytes); }

std::string DayOf(uint64_t wall_ns) {
  const time_t t = time_t(wall_ns / 1'000'000'000ull);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &utc);
  return buf;
}

RotatingFile::RotatingFile(std::string path, uint32_t retention_days, NowNs wall)
    : path_(std::move(path)), retention_days_(retention_days), wall_(std::move(wall)) {
  day_ = DayOf(wall_());
  // A file left by an earlier run on an earlier day belongs to that day.
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0 && st.st_size > 0) {
    const std::string written = DayOf(uint64_t(st.st_mtim.tv_sec) * 1'000'000'000ull);
    if (written < day_) {
      std::string saved = day_;
      day_ = written;
      Rotate(saved);
      return;
    }
  }
  Open();
  Prune();
}

RotatingFile::~RotatingFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RotatingFile::Open() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) error_ = path_ + ": " + std::strerror(errno);
}

void RotatingFile::Rotate(const std::string& today) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // A second run on the same day appends to what the first one rotated.
  std::string target = path_ + "." + day_;
  std::error_code ec;
  if (std::filesystem::exists(target, ec)) {
    for (int n = 1; n < 1000 && std::filesystem::exists(target, ec); ++n) {
      target = path_ + "." + day_ + "." + std::to_string(n);
    }
  }
  if (::rename(path_.c_str(), target.c_str()) != 0 && errno != ENOENT) {
    error_ = path_ + ": rotation to " + target + " failed: " + std::strerror(errno);
  }
  day_ = today;
  Open();
  Prune();
}

bool RotatingFile::Write(std::string_view bytes) {
  const std::string today = DayOf(wall_());
  if (today != day_) Rotate(today);
  if (fd_ < 0) {
    Open();  // the directory may be back
    if (fd_ < 0) return false;
  }
  return WriteAll(fd_, bytes);
}

size_t RotatingFile::Prune() {
  if (retention_days_ == 0) return 0;
  namespace fs = std::filesystem;
  const fs::path p(path_);
  const std::string prefix = p.filename().string() + ".";
  const uint64_t now = wall_();
  const uint64_t keep_ns = uint64_t(retention_days_) * kDayNs;
  const std::string oldest_kept = DayOf(now > keep_ns ? now - keep_ns : 0);
  size_t deleted = 0;
  std::error_code ec;
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < prefix.size() + 10 || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    const std::string_view date = rest.substr(0, 10);
    if (!IsDate(date)) continue;
    if (rest.size() > 10 &&
        (rest[10] != '.' || rest.find_first_not_of("0123456789", 11) != std::string_view::npos)) {
      continue;
    }
    if (date < oldest_kept && fs::remove(entry.path(), ec)) ++deleted;
  }
  return deleted;
}

struct AsyncWriter::State {
  std::vector<std::unique_ptr<Output>> outputs;
  size_t max_queued_bytes = 0;
  OnBatch on_batch;
  std::mutex mu;
  std::condition_variable wake;
  std::condition_variable idle;
  std::string queue;  // complete lines, newline-terminated
  uint64_t queued_lines = 0;
  bool busy = false;
  bool stop = false;
  bool done = false;
  bool abandoned = false;  // the owner is gone: report nothing more
};

AsyncWriter::AsyncWriter(std::vector<std::unique_ptr<Output>> outputs, size_t max_queued_bytes,
                         OnBatch on_batch, std::chrono::milliseconds stop_timeout)
    : stop_timeout_(stop_timeout), state_(std::make_shared<State>()) {
  state_->outputs = std::move(outputs);
  state_->max_queued_bytes = max_queued_bytes;
  state_->on_batch = std::move(on_batch);
  thread_ = std::thread([s = state_] { Run(s); });
}

AsyncWriter::~AsyncWriter() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->stop = true;
  state_->wake.notify_one();
  if (state_->idle.wait_for(lock, stop_timeout_, [this] { return state_->done; })) {
    lock.unlock();
    thread_.join();
  } else {
    state_->abandoned = true;
    lock.unlock();
    thread_.detach();
  }
}

bool AsyncWriter::Push(std::string line) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->queue.size() + line.size() + 1 > state_->max_queued_bytes) return false;
    state_->queue += line;
    state_->queue += '\n';
    ++state_->queued_lines;
  }
  state_->wake.notify_one();
  return true;
}

bool AsyncWriter::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->idle.wait_for(lock, timeout,
                               [this] { return state_->queue.empty() && !state_->busy; });
}

void AsyncWriter::Run(const std::shared_ptr<State>& s) {
  std::string batch;
  while (true) {
    uint64_t lines = 0;
    {
      std::unique_lock<std::mutex> lock(s->mu);
      s->wake.wait(lock, [&] { return s->stop || !s->queue.empty(); });
      if (s->queue.empty()) {  // stopping, nothing left
        s->done = true;
        s->idle.notify_all();
        return;
      }
      batch.clear();
      batch.swap(s->queue);
      lines = s->queued_lines;
      s->queued_lines = 0;
      s->busy = true;
    }
    bool ok = true;
    for (auto& out : s->outputs) ok = out->Write(batch) && ok;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->busy = false;
      if (!s->abandoned && s->on_batch) s->on_batch(ok ? lines : 0, ok ? 0 : lines);
    }
    s->idle.notify_all();
  }
}

}  // namespace sightline::logs
