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

AsyncWriter::AsyncWriter(std::vector<std::unique_ptr<Output>> outputs, size_t max_queued_bytes,
                         OnBatch on_batch)
    : outputs_(std::move(outputs)),
      max_queued_bytes_(max_queued_bytes),
      on_batch_(std::move(on_batch)),
      thread_([this] { Run(); }) {}

AsyncWriter::~AsyncWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool AsyncWriter::Push(std::string line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() + line.size() + 1 > max_queued_bytes_) return false;
    queue_ += line;
    queue_ += '\n';
    ++queued_lines_;
  }
  wake_.notify_one();
  return true;
}

void AsyncWriter::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void AsyncWriter::Run() {
  std::string batch;
  while (true) {
    uint64_t lines = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, nothing left
      batch.clear();
      batch.swap(queue_);
      lines = queued_lines_;
      queued_lines_ = 0;
      busy_ = true;
    }
    bool ok = true;
    for (auto& out : outputs_) ok = out->Write(batch) && ok;
    if (on_batch_) on_batch_(ok ? lines : 0, ok ? 0 : lines);
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = false;
    }
    idle_.notify_all();
  }
  idle_.notify_all();
}

}  // namespace sightline::logs
