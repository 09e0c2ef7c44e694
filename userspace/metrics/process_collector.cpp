#include "metrics/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "resources/pid_stat.h"

namespace sightline::metrics {
namespace {

// Fields of /proc/self/stat we use, numbered as in proc(5).
std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<resources::PidStat> ReadProcStat() {
  const auto text = ReadFile("/proc/self/stat");
  if (!text) return std::nullopt;
  return resources::ParsePidStat(*text);
}

// Boot time in unix seconds, the "btime" line of /proc/stat.
std::optional<double> ReadBootTime() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) {
      return std::strtod(line.c_str() + 6, nullptr);
    }
  }
  return std::nullopt;
}

// Entries of /proc/self/fd, not counting the descriptor used to list them.
std::optional<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  const int own = dirfd(dir);
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    const std::string_view name = entry->d_name;
    int fd = -1;
    const auto [end, ec] =
        std::from_chars(name.data(), name.data() + name.size(), fd);
    if (ec != std::errc() || end != name.data() + name.size() || fd == own)
      continue;
    ++count;
  }
  closedir(dir);
  return count;
}

std::optional<double> MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  return static_cast<double>(limit.rlim_cur);
}

prometheus::MetricFamily Family(std::string name, std::string help,
                                prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

ProcessCollector::ProcessCollector() {
  const auto stat = ReadProcStat();
  const auto boot = ReadBootTime();
  const long ticks = sysconf(_SC_CLK_TCK);
  if (stat && boot && ticks > 0) {
    start_time_seconds_ =
        *boot + static_cast<double>(stat->start) / static_cast<double>(ticks);
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  if (const auto stat = ReadProcStat()) {
    if (ticks > 0) {
      out.push_back(Family("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.",
                           MetricType::Counter,
                           static_cast<double>(stat->utime + stat->stime) /
                               static_cast<double>(ticks)));
    }
    if (page > 0) {
      out.push_back(Family("process_resident_memory_bytes",
                           "Resident memory size in bytes.", MetricType::Gauge,
                           static_cast<double>(stat->rss) * static_cast<double>(page)));
    }
    out.push_back(Family("process_virtual_memory_bytes",
                         "Virtual memory size in bytes.", MetricType::Gauge,
                         static_cast<double>(stat->vsize)));
  }
  if (const auto fds = CountOpenFds()) {
    out.push_back(Family("process_open_fds", "Number of open file descriptors.",
                         MetricType::Gauge, *fds));
  }
  if (const auto max = MaxFds()) {
    out.push_back(Family("process_max_fds",
                         "Maximum number of open file descriptors.",
                         MetricType::Gauge, *max));
  }
  if (start_time_seconds_) {
    out.push_back(
        Family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.",
               MetricType::Gauge, *start_time_seconds_));
  }
  return out;
}

}  // namespace sightline::metrics
