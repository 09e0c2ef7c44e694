#include "resources/service_collector.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>

#include "resources/families.h"

namespace sightline::resources {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = FamilyLabels;

// Largest /proc/<pid>/stat we accept: the command name is at most 64 bytes and
// the 52 numeric fields fit well within this.
constexpr std::size_t kMaxStat = 4096;

enum class FileRead { kOk, kGone, kError };

// Reads a small /proc file. A process that exited leaves ENOENT (directory
// gone) or ESRCH (reaped while we read).
FileRead ReadSmall(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? FileRead::kGone : FileRead::kError;
  out->assign(kMaxStat, '\0');
  std::size_t used = 0;
  FileRead result = FileRead::kOk;
  while (used < out->size()) {
    const ssize_t n = ::read(fd, out->data() + used, out->size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      result = errno == ESRCH ? FileRead::kGone : FileRead::kError;
      break;
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  // A file filling the whole buffer is not a stat line we understand.
  if (result == FileRead::kOk && used == out->size()) result = FileRead::kError;
  out->resize(used);
  return result;
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Now on the clock a process's start time is measured on (CLOCK_BOOTTIME),
// in clock ticks.
uint64_t BootTicksNow(double ticks_per_second) {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(static_cast<double>(ts.tv_sec) * ticks_per_second +
                               static_cast<double>(ts.tv_nsec) * ticks_per_second / 1e9);
}

Labels With(Labels base, const char* name, std::string value) {
  base.emplace_back(name, std::move(value));
  return base;
}

}  // namespace

ServiceCollector::ServiceCollector(ServiceCollectorOptions o) : o_(std::move(o)) {
  const long hz = o_.ticks_per_second > 0 ? o_.ticks_per_second : sysconf(_SC_CLK_TCK);
  const long page = o_.page_size > 0 ? o_.page_size : sysconf(_SC_PAGESIZE);
  ticks_per_second_ = hz > 0 ? static_cast<double>(hz) : 100.0;
  page_size_ = page > 0 ? static_cast<double>(page) : 4096.0;
  if (o_.max_processes == 0) o_.max_processes = 1;
}

void ServiceCollector::Note(uint32_t pid, std::string_view service_name) {
  const std::string name(service_name);
  Note(pid, name, {{"service_name", name}});
}

void ServiceCollector::Note(uint32_t pid, const std::string& key,
                            const prometheus::Labels& labels) {
  const uint64_t at = BootTicksNow(ticks_per_second_);
  std::lock_guard<std::mutex> lock(notes_mu_);
  auto it = pending_.find(pid);
  if (it == pending_.end()) {
    // Far more distinct processes opening connections within one second
    // than can be followed at all: this connection's note is dropped.
    if (pending_.size() >= 2 * o_.max_processes) {
      ++notes_shed_;
      return;
    }
    it = pending_.emplace(pid, Pending{}).first;
  }
  if (it->second.service != key) {
    it->second.service = key;
    it->second.labels = labels;
  }
  it->second.at = at;
}

void ServiceCollector::Sweep() {
  std::lock_guard<std::mutex> lock(state_mu_);
  Refresh(false);
}

std::size_t ServiceCollector::size() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return processes_.size();
}

std::vector<prometheus::MetricFamily> ServiceCollector::Collect() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  try {
    Refresh(true);
  } catch (...) {
    // Out of memory while reading: render what is known.
  }
  return Render();
}

ServiceCollector::ReadResult ServiceCollector::ReadStat(uint32_t pid, Stat* out) const {
  std::string text;
  const FileRead r = ReadSmall(o_.proc_root + "/" + std::to_string(pid) + "/stat", &text);
  if (r == FileRead::kGone) return ReadResult::kGone;
  if (r != FileRead::kOk) return ReadResult::kMalformed;
  const auto stat = ParsePidStat(text);
  if (!stat) return ReadResult::kMalformed;
  *out = *stat;
  return ReadResult::kOk;
}

std::optional<uint64_t> ServiceCollector::CountFds(uint32_t pid) const {
  const std::string path = o_.proc_root + "/" + std::to_string(pid) + "/fd";
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    // Gone since its stat was read: the next read folds it; not an error.
    if (errno != ENOENT && errno != ESRCH) ++fd_errors_;
    return std::nullopt;
  }
  uint64_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (ParseU64(entry->d_name)) ++count;
  }
  closedir(dir);
  return count;
}

ServiceCollector::Service* ServiceCollector::ServiceFor(const std::string& key,
                                                       const prometheus::Labels& labels) const {
  if (auto it = services_.find(key); it != services_.end()) return &it->second;
  if (services_.size() >= o_.max_processes) {
    // Make room by forgetting the service whose last process exited longest
    // ago; its CPU counter starts again from zero if it comes back.
    auto oldest = services_.end();
    for (auto it = services_.begin(); it != services_.end(); ++it) {
      if (it->second.live == 0 &&
          (oldest == services_.end() || it->second.dead_since < oldest->second.dead_since)) {
        oldest = it;
      }
    }
    if (oldest == services_.end()) return nullptr;
    services_.erase(oldest);
    ++shed_service_limit_;
  }
  Service& s = services_[key];
  s.labels = labels;
  return &s;
}

Labels ServiceCollector::LabelsOf(const std::string& key) const {
  if (auto it = services_.find(key); it != services_.end() && !it->second.labels.empty()) {
    return Labels(it->second.labels.begin(), it->second.labels.end());
  }
  return {{"service_name", key}};
}

// What `p` used while it counted for its service goes into the service's
// total, so the counter does not go back when the process leaves.
void ServiceCollector::Fold(const Process& p) const {
  Service& s = services_[p.service];
  s.folded_user += p.last.utime - std::min(p.base_user, p.last.utime);
  s.folded_system += p.last.stime - std::min(p.base_system, p.last.stime);
  s.folded_any = true;
  if (s.live > 0 && --s.live == 0) s.dead_since = generation_;
}

void ServiceCollector::Refresh(bool fds) const {
  ++generation_;
  std::unordered_map<uint32_t, Pending> notes;
  {
    std::lock_guard<std::mutex> lock(notes_mu_);
    notes.swap(pending_);
    notes_dropped_ += notes_shed_;
    notes_shed_ = 0;
  }

  for (auto it = processes_.begin(); it != processes_.end();) {
    const uint32_t pid = it->first;
    Process& p = it->second;
    Stat s;
    const ReadResult r = ReadStat(pid, &s);
    if (r == ReadResult::kMalformed) {
      // Keep the last good reading; a note for it waits for the next connection.
      ++stat_errors_;
      notes.erase(pid);
      ++it;
      continue;
    }
    if (r == ReadResult::kGone || s.start != p.last.start) {
      // Exited, or exited and its pid was taken by another process. The new
      // one is followed only if it was noted itself, after it started
      // (handled below); a note older than it was about the process folded here.
      Fold(p);
      it = processes_.erase(it);
      if (auto note = notes.find(pid);
          note != notes.end() && (r == ReadResult::kGone || note->second.at < s.start)) {
        notes.erase(note);
      }
      continue;
    }
    // CPU readings of one process never go back.
    s.utime = std::max(s.utime, p.last.utime);
    s.stime = std::max(s.stime, p.last.stime);
    p.last = s;
    if (auto note = notes.find(pid); note != notes.end()) {
      if (note->second.service != p.service) {
        // It ran exec, or its name was re-read: what it used so far stays
        // with the service it had.
        if (Service* to = ServiceFor(note->second.service, note->second.labels)) {
          Fold(p);
          p.service = note->second.service;
          p.base_user = s.utime;
          p.base_system = s.stime;
          ++to->live;
        } else {
          ++shed_service_limit_;
        }
      }
      notes.erase(note);
    }
    p.fds = fds ? CountFds(pid) : p.fds;
    ++it;
  }

  for (auto& [pid, note] : notes) {
    Stat s;
    const ReadResult r = ReadStat(pid, &s);
    if (r == ReadResult::kMalformed) {
      ++stat_errors_;
      continue;
    }
    // Gone before it was ever read, or the pid already belongs to a process
    // started after the note: the noted process's CPU is not known.
    if (r == ReadResult::kGone || s.start > note.at) {
      ++exited_unread_;
      continue;
    }
    if (processes_.size() >= o_.max_processes) {
      // Counted once per process, however often it is noted again.
      auto [it, fresh] = refused_.try_emplace(pid, s.start);
      if (fresh || it->second != s.start) {
        it->second = s.start;
        ++shed_process_limit_;
      }
      if (refused_.size() > o_.max_processes) refused_.clear();
      continue;
    }
    Service* service = ServiceFor(note.service, note.labels);
    if (service == nullptr) {
      ++shed_service_limit_;
      continue;
    }
    ++service->live;
    refused_.erase(pid);
    Process p;
    p.service = std::move(note.service);
    p.last = s;
    if (fds) p.fds = CountFds(pid);
    processes_.emplace(pid, std::move(p));
  }
}

std::vector<prometheus::MetricFamily> ServiceCollector::Render() const {
  auto cpu = NewFamily("process_cpu_time_seconds_total",
                       "CPU seconds used by the service's processes, exited ones included.",
                       MetricType::Counter);
  auto rss = NewFamily("process_memory_usage_bytes",
                       "Resident memory of the service's processes, in bytes.", MetricType::Gauge);
  auto virt = NewFamily("process_memory_virtual_bytes",
                        "Virtual memory of the service's processes, in bytes.", MetricType::Gauge);
  auto fds = NewFamily("process_open_file_descriptors",
                       "Open file descriptors of the service's processes.", MetricType::Gauge);
  auto threads =
      NewFamily("process_threads", "Threads of the service's processes.", MetricType::Gauge);
  auto instances =
      NewFamily("process_instances", "Live processes of the service.", MetricType::Gauge);
  auto uptime = NewFamily("process_uptime_seconds",
                          "Seconds since the service's newest process started.", MetricType::Gauge);

  std::optional<double> boot_uptime;
  {
    std::string text;
    if (ReadSmall(o_.proc_root + "/uptime", &text) == FileRead::kOk) {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() && v >= 0) boot_uptime = v;
    }
  }
  const double hz = ticks_per_second_;
  auto seconds = [hz](uint64_t ticks) { return static_cast<double>(ticks) / hz; };
  auto since_start = [&](uint64_t start) { return std::max(0.0, *boot_uptime - seconds(start)); };

  struct Sum {
    uint64_t user = 0, system = 0, rss = 0, vsize = 0, threads = 0, fds = 0, instances = 0;
    uint64_t newest = 0;
    bool any_fds = false;
  };
  std::map<std::string, Sum> sums;
  for (const auto& [name, s] : services_) {
    Sum& sum = sums[name];
    sum.user = s.folded_user;
    sum.system = s.folded_system;
  }
  for (const auto& [pid, p] : processes_) {
    const uint64_t user = p.last.utime - std::min(p.base_user, p.last.utime);
    const uint64_t system = p.last.stime - std::min(p.base_system, p.last.stime);
    if (o_.pid_label) {
      const Labels l = With(LabelsOf(p.service), "process_pid", std::to_string(pid));
      Add(cpu, With(l, "cpu_mode", "user"), seconds(user));
      Add(cpu, With(l, "cpu_mode", "system"), seconds(system));
      Add(rss, l, static_cast<double>(p.last.rss) * page_size_);
      Add(virt, l, static_cast<double>(p.last.vsize));
      if (p.fds) Add(fds, l, static_cast<double>(*p.fds));
      Add(threads, l, static_cast<double>(p.last.threads));
      Add(instances, l, 1);
      if (boot_uptime) Add(uptime, l, since_start(p.last.start));
      continue;
    }
    Sum& sum = sums[p.service];
    sum.user += user;
    sum.system += system;
    sum.rss += p.last.rss;
    sum.vsize += p.last.vsize;
    sum.threads += p.last.threads;
    if (p.fds) {
      sum.fds += *p.fds;
      sum.any_fds = true;
    }
    ++sum.instances;
    sum.newest = std::max(sum.newest, p.last.start);
  }
  for (const auto& [name, sum] : sums) {
    const Labels l = LabelsOf(name);
    if (o_.pid_label) {
      // Processes that exited keep their CPU in one series per service, so
      // the sum over a service's series never goes back.
      const auto it = services_.find(name);
      if (it == services_.end() || !it->second.folded_any) continue;
      const Labels exited = With(l, "process_pid", "exited");
      Add(cpu, With(exited, "cpu_mode", "user"), seconds(sum.user));
      Add(cpu, With(exited, "cpu_mode", "system"), seconds(sum.system));
      continue;
    }
    Add(cpu, With(l, "cpu_mode", "user"), seconds(sum.user));
    Add(cpu, With(l, "cpu_mode", "system"), seconds(sum.system));
    Add(instances, l, static_cast<double>(sum.instances));
    if (sum.instances == 0) continue;
    Add(rss, l, static_cast<double>(sum.rss) * page_size_);
    Add(virt, l, static_cast<double>(sum.vsize));
    if (sum.any_fds) Add(fds, l, static_cast<double>(sum.fds));
    Add(threads, l, static_cast<double>(sum.threads));
    if (boot_uptime) Add(uptime, l, since_start(sum.newest));
  }

  auto followed = NewFamily("sightline_service_processes",
                            "Processes whose resources are followed now.", MetricType::Gauge);
  Add(followed, {}, static_cast<double>(processes_.size()));
  auto shed = NewFamily("sightline_service_processes_shed_total",
                        "Observed processes whose resources are not (or no longer) counted.",
                        MetricType::Counter);
  Add(shed, {{"reason", "process_limit"}}, static_cast<double>(shed_process_limit_));
  Add(shed, {{"reason", "service_limit"}}, static_cast<double>(shed_service_limit_));
  Add(shed, {{"reason", "exited_before_read"}}, static_cast<double>(exited_unread_));
  Add(shed, {{"reason", "note_overflow"}}, static_cast<double>(notes_dropped_));
  auto errors =
      NewFamily("sightline_service_proc_read_errors_total",
                "Reads of /proc/<pid> files that failed or did not parse.", MetricType::Counter);
  Add(errors, {{"file", "stat"}}, static_cast<double>(stat_errors_));
  Add(errors, {{"file", "fd"}}, static_cast<double>(fd_errors_));

  std::vector<MetricFamily> out;
  for (auto* f : {&cpu, &rss, &virt, &fds, &threads, &instances, &uptime}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  out.push_back(std::move(followed));
  out.push_back(std::move(shed));
  out.push_back(std::move(errors));
  return out;
}

}  // namespace sightline::resources
