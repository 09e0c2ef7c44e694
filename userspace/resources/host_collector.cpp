#include "resources/host_collector.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

#include "resources/families.h"

namespace sightline::resources {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = FamilyLabels;

constexpr const char* kCpuStates[8] = {"user",   "nice", "system",  "idle",
                                       "iowait", "irq",  "softirq", "steal"};

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) return std::nullopt;
  return text;
}

std::vector<std::string> Split(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string token; in >> token;) out.push_back(std::move(token));
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(std::move(line));
  return out;
}

// A whole token as an unsigned integer.
std::optional<uint64_t> ParseU64(const std::string& s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return static_cast<uint64_t>(v);
}

// A whole token as a non-negative decimal number.
std::optional<double> ParseDouble(const std::string& s) {
  if (s.empty() || ((s[0] < '0' || s[0] > '9') && s[0] != '.')) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

void Keep(std::vector<MetricFamily>& out, MetricFamily&& f) {
  if (!f.metric.empty()) out.push_back(std::move(f));
}

// /proc/stat: the aggregate "cpu" line and the number of "cpuN" lines.
struct Stat {
  std::optional<HostCollector::CpuTicks> cpu;
  int logical = 0;
};

std::optional<Stat> ReadStat(const std::string& proc_root) {
  const auto text = ReadFile(proc_root + "/stat");
  if (!text) return std::nullopt;
  Stat s;
  for (const auto& line : Lines(*text)) {
    const auto f = Split(line);
    if (f.empty() || f[0].rfind("cpu", 0) != 0) continue;
    if (f[0] == "cpu") {
      // Older kernels lack steal; guest times are already in user and nice.
      if (f.size() < 5) continue;
      HostCollector::CpuTicks t;
      bool ok = true;
      for (std::size_t i = 0; i < 8 && i + 1 < f.size(); ++i) {
        const auto v = ParseU64(f[i + 1]);
        if (!v) {
          ok = false;
          break;
        }
        t.state[i] = *v;
      }
      if (ok && !s.cpu) s.cpu = t;
    } else if (ParseU64(f[0].substr(3))) {
      ++s.logical;
    }
  }
  return s;
}

void CollectCpu(const std::string& proc_root, std::mutex& mu,
                std::optional<HostCollector::CpuTicks>& previous, std::vector<MetricFamily>& out) {
  const auto stat = ReadStat(proc_root);
  if (!stat) return;
  const long hz = sysconf(_SC_CLK_TCK);
  if (stat->cpu && hz > 0) {
    auto time = NewFamily("system_cpu_time_seconds_total",
                          "Seconds all CPUs spent in each state since boot.", MetricType::Counter);
    for (std::size_t i = 0; i < 8; ++i) {
      Add(time, {{"state", kCpuStates[i]}},
          static_cast<double>(stat->cpu->state[i]) / static_cast<double>(hz));
    }
    Keep(out, std::move(time));
  }
  if (stat->cpu) {
    HostCollector::CpuTicks base;  // zero: since boot
    {
      std::lock_guard<std::mutex> lock(mu);
      if (previous) base = *previous;
      previous = stat->cpu;
    }
    const uint64_t now_total = stat->cpu->Total();
    const uint64_t now_busy = stat->cpu->Busy();
    double ratio = 0;
    if (now_total > base.Total() && now_busy >= base.Busy()) {
      ratio = static_cast<double>(now_busy - base.Busy()) /
              static_cast<double>(now_total - base.Total());
    }
    ratio = std::clamp(ratio, 0.0, 1.0);
    auto util = NewFamily("system_cpu_utilization_ratio",
                          "Fraction of CPU time not idle since the previous scrape, 0 to 1.",
                          MetricType::Gauge);
    Add(util, {}, ratio);
    Keep(out, std::move(util));
  }
  if (stat->logical > 0) {
    // Untyped, not gauge: promtool's lint reserves the _count suffix for
    // histograms and summaries, and the OpenTelemetry name ends in it.
    auto count =
        NewFamily("system_cpu_logical_count", "Number of logical CPUs.", MetricType::Untyped);
    Add(count, {}, stat->logical);
    Keep(out, std::move(count));
  }
}

// What /proc/meminfo says, in bytes.
struct Memory {
  double total = 0, free = 0, buffers = 0, cached = 0, reclaimable = 0;
  std::optional<double> available;
  // 1 - MemAvailable / MemTotal, 0 to 1; nullopt without MemAvailable.
  std::optional<double> Utilization() const {
    if (!available || total <= 0) return std::nullopt;
    return std::clamp(1.0 - *available / total, 0.0, 1.0);
  }
};

std::optional<Memory> ReadMemory(const std::string& proc_root) {
  const auto text = ReadFile(proc_root + "/meminfo");
  if (!text) return std::nullopt;
  std::map<std::string, double> kb;
  for (const auto& line : Lines(*text)) {
    const auto f = Split(line);
    if (f.size() < 2 || f[0].size() < 2 || f[0].back() != ':') continue;
    if (f.size() >= 3 && f[2] != "kB") continue;
    const auto v = ParseU64(f[1]);
    if (!v) continue;
    kb.emplace(f[0].substr(0, f[0].size() - 1), static_cast<double>(*v));
  }
  auto get = [&](const char* key) -> std::optional<double> {
    const auto it = kb.find(key);
    if (it == kb.end()) return std::nullopt;
    return it->second * 1024.0;
  };
  const auto total = get("MemTotal");
  const auto free = get("MemFree");
  if (!total || !free) return std::nullopt;
  return Memory{*total, *free, get("Buffers").value_or(0), get("Cached").value_or(0),
                get("SReclaimable").value_or(0), get("MemAvailable")};
}

void CollectMemory(const std::string& proc_root, std::vector<MetricFamily>& out) {
  const auto mem = ReadMemory(proc_root);
  if (!mem) return;
  auto usage =
      NewFamily("system_memory_usage_bytes", "Memory in each state, in bytes.", MetricType::Gauge);
  Add(usage, {{"state", "used"}},
      std::max(0.0, mem->total - mem->free - mem->buffers - mem->cached - mem->reclaimable));
  Add(usage, {{"state", "free"}}, mem->free);
  Add(usage, {{"state", "buffers"}}, mem->buffers);
  Add(usage, {{"state", "cached"}}, mem->cached);
  if (mem->available) Add(usage, {{"state", "available"}}, *mem->available);
  Keep(out, std::move(usage));

  auto limit = NewFamily("system_memory_limit_bytes", "Total memory (MemTotal), in bytes.",
                         MetricType::Gauge);
  Add(limit, {}, mem->total);
  Keep(out, std::move(limit));

  if (const auto ratio = mem->Utilization()) {
    auto util = NewFamily("system_memory_utilization_ratio", "1 - MemAvailable / MemTotal, 0 to 1.",
                          MetricType::Gauge);
    Add(util, {}, *ratio);
    Keep(out, std::move(util));
  }
}

bool IsPseudoFs(const std::string& type) {
  static const char* const kPseudo[] = {
      "proc",    "sysfs",     "tmpfs",   "devtmpfs",        "devpts",      "cgroup",     "cgroup2",
      "bpf",     "tracefs",   "debugfs", "securityfs",      "mqueue",      "pstore",     "configfs",
      "fusectl", "hugetlbfs", "autofs",  "binfmt_misc",     "efivarfs",    "rpc_pipefs", "nsfs",
      "ramfs",   "selinuxfs", "nfsd",    "fuse.gvfsd-fuse", "fuse.portal", "squashfs"};
  for (const char* p : kPseudo) {
    if (type == p) return true;
  }
  return false;
}

// Undoes mountinfo's octal escapes (\040 for a space and so on).
std::string Unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Mount {
  std::string device;
  std::string mountpoint;
  std::string type;
};

// A filesystem's space, from statvfs.
struct FsUsage {
  Mount mount;
  double unit = 0;  // bytes per block
  double blocks = 0, bfree = 0, bavail = 0;
  double used() const { return (blocks - bfree) * unit; }
  double utilization() const { return used() / (blocks * unit); }
};

// The real filesystems, one per device (the one with the shortest mount point).
std::vector<FsUsage> ReadFilesystems(const std::string& proc_root,
                                     const HostCollector::StatFs& statfs) {
  std::vector<FsUsage> out;
  const auto text = ReadFile(proc_root + "/self/mountinfo");
  if (!text) return out;
  std::map<std::string, Mount> by_dev;
  std::vector<std::string> order;
  for (const auto& line : Lines(*text)) {
    const auto f = Split(line);
    std::size_t dash = 0;
    for (std::size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || dash + 2 >= f.size()) continue;
    const std::string& dev = f[2];
    if (dev.find(':') == std::string::npos || f[4].empty() || f[4][0] != '/') continue;
    Mount m{Unescape(f[dash + 2]), Unescape(f[4]), f[dash + 1]};
    if (IsPseudoFs(m.type)) continue;
    const auto it = by_dev.find(dev);
    if (it == by_dev.end()) {
      order.push_back(dev);
      by_dev.emplace(dev, std::move(m));
    } else if (m.mountpoint.size() < it->second.mountpoint.size()) {
      it->second = std::move(m);
    }
  }
  for (const auto& dev : order) {
    const Mount& m = by_dev.at(dev);
    struct statvfs st {};
    if (!statfs(m.mountpoint, &st) || st.f_blocks == 0) continue;
    FsUsage u;
    u.mount = m;
    u.unit = st.f_frsize != 0 ? static_cast<double>(st.f_frsize) : static_cast<double>(st.f_bsize);
    u.blocks = static_cast<double>(st.f_blocks);
    u.bfree = std::min(static_cast<double>(st.f_bfree), u.blocks);
    u.bavail = std::min(static_cast<double>(st.f_bavail), u.bfree);
    out.push_back(std::move(u));
  }
  return out;
}

void CollectFilesystems(const std::string& proc_root, const HostCollector::StatFs& statfs,
                        std::vector<MetricFamily>& out) {
  auto usage = NewFamily("system_filesystem_usage_bytes",
                         "Filesystem space in each state, in bytes.", MetricType::Gauge);
  auto util = NewFamily("system_filesystem_utilization_ratio",
                        "Fraction of the filesystem's space used, 0 to 1.", MetricType::Gauge);
  for (const FsUsage& u : ReadFilesystems(proc_root, statfs)) {
    const Labels base = {
        {"device", u.mount.device}, {"mountpoint", u.mount.mountpoint}, {"type", u.mount.type}};
    auto with_state = [&](const char* state) {
      Labels l = base;
      l.emplace_back("state", state);
      return l;
    };
    Add(usage, with_state("used"), u.used());
    Add(usage, with_state("free"), u.bavail * u.unit);
    Add(usage, with_state("reserved"), (u.bfree - u.bavail) * u.unit);
    Add(util, base, u.utilization());
  }
  Keep(out, std::move(usage));
  Keep(out, std::move(util));
}

void CollectDisks(const std::string& proc_root, std::vector<MetricFamily>& out) {
  const auto text = ReadFile(proc_root + "/diskstats");
  if (!text) return;
  auto bytes = NewFamily("system_disk_io_bytes_total", "Bytes read from and written to disk.",
                         MetricType::Counter);
  auto ops = NewFamily("system_disk_operations_total", "Completed disk reads and writes.",
                       MetricType::Counter);
  constexpr double kSector = 512;
  for (const auto& line : Lines(*text)) {
    const auto f = Split(line);
    // major minor name reads merged sectors ms writes merged sectors ...
    if (f.size() < 10) continue;
    const std::string& name = f[2];
    if (name.rfind("loop", 0) == 0 || name.rfind("ram", 0) == 0) continue;
    const auto reads = ParseU64(f[3]);
    const auto read_sectors = ParseU64(f[5]);
    const auto writes = ParseU64(f[7]);
    const auto write_sectors = ParseU64(f[9]);
    bool numeric = true;
    for (std::size_t i = 0; i < f.size() && numeric; ++i) {
      numeric = i == 2 || ParseU64(f[i]).has_value();
    }
    if (!numeric || !reads || !read_sectors || !writes || !write_sectors) continue;
    Add(bytes, {{"device", name}, {"direction", "read"}},
        static_cast<double>(*read_sectors) * kSector);
    Add(bytes, {{"device", name}, {"direction", "write"}},
        static_cast<double>(*write_sectors) * kSector);
    Add(ops, {{"device", name}, {"direction", "read"}}, static_cast<double>(*reads));
    Add(ops, {{"device", name}, {"direction", "write"}}, static_cast<double>(*writes));
  }
  Keep(out, std::move(bytes));
  Keep(out, std::move(ops));
}

void CollectNetwork(const std::string& proc_root, std::vector<MetricFamily>& out) {
  const auto text = ReadFile(proc_root + "/net/dev");
  if (!text) return;
  auto bytes = NewFamily("system_network_io_bytes_total", "Bytes received and transmitted.",
                         MetricType::Counter);
  auto packets = NewFamily("system_network_packets_total", "Packets received and transmitted.",
                           MetricType::Counter);
  auto errors =
      NewFamily("system_network_errors_total", "Receive and transmit errors.", MetricType::Counter);
  auto dropped = NewFamily("system_network_dropped_total",
                           "Packets dropped on receive and transmit.", MetricType::Counter);
  for (const auto& line : Lines(*text)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    const auto name_tokens = Split(line.substr(0, colon));
    if (name_tokens.size() != 1) continue;
    const auto f = Split(line.substr(colon + 1));
    if (f.size() < 16) continue;
    uint64_t v[16];
    bool ok = true;
    for (std::size_t i = 0; i < 16 && ok; ++i) {
      const auto n = ParseU64(f[i]);
      ok = n.has_value();
      if (ok) v[i] = *n;
    }
    if (!ok) continue;
    const std::string& dev = name_tokens[0];
    // receive: bytes packets errs drop ...; transmit from field 8, same order.
    for (const auto& [dir, at] : {std::pair<const char*, int>{"receive", 0}, {"transmit", 8}}) {
      const Labels l = {{"device", dev}, {"direction", dir}};
      Add(bytes, l, static_cast<double>(v[at]));
      Add(packets, l, static_cast<double>(v[at + 1]));
      Add(errors, l, static_cast<double>(v[at + 2]));
      Add(dropped, l, static_cast<double>(v[at + 3]));
    }
  }
  Keep(out, std::move(bytes));
  Keep(out, std::move(packets));
  Keep(out, std::move(errors));
  Keep(out, std::move(dropped));
}

void CollectLoad(const std::string& proc_root, std::vector<MetricFamily>& out) {
  const auto text = ReadFile(proc_root + "/loadavg");
  if (!text) return;
  const auto f = Split(*text);
  if (f.size() < 3) return;
  const char* names[3] = {"system_load_average_1m", "system_load_average_5m",
                          "system_load_average_15m"};
  const char* helps[3] = {"Load average over 1 minute.", "Load average over 5 minutes.",
                          "Load average over 15 minutes."};
  for (int i = 0; i < 3; ++i) {
    const auto v = ParseDouble(f[i]);
    if (!v) continue;
    auto family = NewFamily(names[i], helps[i], MetricType::Gauge);
    Add(family, {}, *v);
    Keep(out, std::move(family));
  }
}

}  // namespace

HostCollector::Reading HostCollector::Read() const {
  Reading r;
  if (const auto stat = ReadStat(proc_root_)) r.cpu = stat->cpu;
  if (const auto mem = ReadMemory(proc_root_)) r.memory_utilization = mem->Utilization();
  for (const FsUsage& u : ReadFilesystems(proc_root_, statfs_)) {
    r.max_filesystem_utilization =
        std::max(r.max_filesystem_utilization.value_or(0.0), u.utilization());
  }
  return r;
}

uint64_t HostCollector::CpuTicks::Total() const {
  uint64_t sum = 0;
  for (uint64_t v : state) sum += v;
  return sum;
}

uint64_t HostCollector::CpuTicks::Busy() const {
  const uint64_t total = Total();
  const uint64_t idle = state[3] + state[4];
  return total > idle ? total - idle : 0;
}

HostCollector::HostCollector(std::string proc_root, StatFs statfs)
    : proc_root_(std::move(proc_root)), statfs_(std::move(statfs)) {
  if (!statfs_) {
    statfs_ = [](const std::string& path, struct statvfs* out) {
      return ::statvfs(path.c_str(), out) == 0;
    };
  }
  try {
    if (const auto stat = ReadStat(proc_root_)) previous_cpu_ = stat->cpu;
  } catch (...) {
    // No baseline: the first utilization is then the one since boot.
  }
}

std::vector<prometheus::MetricFamily> HostCollector::Collect() const {
  std::vector<MetricFamily> out;
  // Each source on its own, so one that fails leaves the others.
  const auto guarded = [](auto&& collect) {
    try {
      collect();
    } catch (...) {
    }
  };
  guarded([&] { CollectCpu(proc_root_, mu_, previous_cpu_, out); });
  guarded([&] { CollectMemory(proc_root_, out); });
  guarded([&] { CollectFilesystems(proc_root_, statfs_, out); });
  guarded([&] { CollectDisks(proc_root_, out); });
  guarded([&] { CollectNetwork(proc_root_, out); });
  guarded([&] { CollectLoad(proc_root_, out); });
  return out;
}

}  // namespace sightline::resources
