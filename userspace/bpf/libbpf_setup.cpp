#include "bpf/libbpf_setup.h"

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
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", msg); break;
    case LIBBPF_INFO: spdlog::debug("libbpf: {}", msg); break;
    case LIBBPF_DEBUG: spdlog::trace("libbpf: {}", msg); break;
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
