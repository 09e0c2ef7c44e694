#include "bpf/libbpf_setup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace sightline::bpf {
namespace {

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  std::string_view msg(buf, n < 0 ? 0 : std::min<size_t>(n, sizeof(buf) - 1));
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  switch (level) {
    case LIBBPF_WARN:
      spdlog::warn("libbpf: {}", msg);
      break;
    case LIBBPF_INFO:
      spdlog::debug("libbpf: {}", msg);
      break;
    case LIBBPF_DEBUG:
      spdlog::trace("libbpf: {}", msg);
      break;
  }
  return n;
}

bool HasSyscallEvents(const char* root) {
  std::string p = std::string(root) + "/events/syscalls";
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

void RouteLibbpfLogToSpdlog() { libbpf_set_print(LibbpfPrint); }

std::optional<std::string> EnsureTracefs() {
  if (HasSyscallEvents("/sys/kernel/tracing") || HasSyscallEvents("/sys/kernel/debug/tracing")) {
    return std::nullopt;
  }
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    return std::string("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: ") +
           std::strerror(errno);
  }
  spdlog::info("mounted tracefs at /sys/kernel/tracing");
  if (!HasSyscallEvents("/sys/kernel/tracing")) {
    return "tracefs has no syscalls events: the kernel lacks CONFIG_FTRACE_SYSCALLS";
  }
  return std::nullopt;
}

}  // namespace sightline::bpf

namespace sightline::bpf {

std::vector<ProgramStats> ReadProgramStats(const bpf_object* obj) {
  std::vector<ProgramStats> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    bpf_prog_info info = {};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0) continue;
    out.push_back({bpf_program__name(prog), info.run_cnt, info.run_time_ns, info.recursion_misses});
  }
  return out;
}

std::vector<uint64_t> SumPerCpuCounters(const bpf_map* map, uint32_t n) {
  std::vector<uint64_t> out(n);
  int cpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> values(cpus > 0 ? cpus : 1);
  for (uint32_t i = 0; i < n; i++) {
    if (bpf_map__lookup_elem(map, &i, sizeof(i), values.data(), values.size() * sizeof(uint64_t),
                             0) == 0) {
      for (uint64_t v : values) out[i] += v;
    }
  }
  return out;
}

}  // namespace sightline::bpf
