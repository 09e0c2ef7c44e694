#include "daemon/check.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "bpf/libbpf_setup.h"
#include "bpf/socket_probe.h"
#include "bpf/tcp_probe.h"
#include "bpf/tls_probe.h"
#include "tls/tls_manager.h"

namespace sightline::daemon {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string TracefsRoot() {
  return Exists("/sys/kernel/tracing/events") ? "/sys/kernel/tracing" : "/sys/kernel/debug/tracing";
}

bool HasCapability(int cap) {
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  return data[cap / 32].effective & (1u << (cap % 32));
}

struct Report {
  std::FILE* out;
  bool ok = true;
  void Line(const char* what, bool good, const std::string& detail, bool required) {
    std::fprintf(out, "%-22s %-4s %s\n", what, good ? "yes" : "no", detail.c_str());
    if (required && !good) ok = false;
  }
};

}  // namespace

namespace {

// Loads the TLS probe and attaches it to the system's libssl, as the daemon
// would. Not required: without it, plain traffic is still observed.
void CheckTlsProbe(Report& r, const config::Options& options, const bpf::SocketProbe& sockets,
                   bool uprobes) {
  if (!uprobes) {
    r.Line("tls probe", false, "no uprobes: TLS traffic will not be seen", false);
    return;
  }
  try {
    bpf::TlsProbeConfig cfg;
    cfg.self_tgid = getpid();
    cfg.capture_size = options.tls_capture_size;
    cfg.ring_buffer_size = options.ring_buffer_size;
    bpf::TlsProbe probe(cfg, sockets);
    tls::ManagerOptions mo;
    mo.self_pid = getpid();
    mo.recheck_after_exec_ns.clear();
    tls::Manager manager(
        mo,
        [&probe](const std::string& path, const std::vector<bpf::UprobeSpec>& specs,
                 std::string* err) { return probe.Attach(path, specs, err); },
        [&probe](uint64_t h) { probe.Detach(h); });
    manager.Start(0);
    auto s = manager.Summary();
    std::string detail = std::to_string(probe.attached_files()) + " binaries attached";
    for (const auto& [key, n] : s.processes) {
      detail += ", " + std::to_string(n) + " processes " + key.first + "/" + key.second;
    }
    r.Line("tls probe", s.attach_failures == 0, detail, false);
  } catch (const std::exception& e) {
    r.Line("tls probe", false, e.what(), false);
  }
}

// The TCP health probe's tracepoints, then the probe itself loaded and
// attached. Not required: without it, traffic is still observed.
void CheckTcpProbe(Report& r, const bpf::SocketProbe& sockets) {
  const std::vector<std::string> tracepoints = {
      "sock/inet_sock_set_state", "sock/inet_sk_error_report", "tcp/tcp_retransmit_skb",
      "tcp/tcp_send_reset",       "tcp/tcp_receive_reset",     "tcp/tcp_destroy_sock",
      "syscalls/sys_enter_getsockopt"};
  std::string missing;
  for (const auto& tp : tracepoints) {
    if (!Exists(TracefsRoot() + "/events/" + tp)) missing += " " + tp;
  }
  r.Line("tcp tracepoints", missing.empty(),
         missing.empty() ? std::to_string(tracepoints.size()) + " needed, all present"
                         : "missing:" + missing + ": no TCP health metrics",
         false);
  try {
    bpf::TcpProbeConfig cfg;
    cfg.self_tgid = getpid();
    bpf::TcpProbe probe(cfg, sockets);
    r.Line("tcp probe", true, std::to_string(probe.program_count()) + " programs loaded and attached", false);
  } catch (const std::exception& e) {
    r.Line("tcp probe", false, e.what(), false);
  }
}

}  // namespace

int RunCheck(const config::Options& options, std::FILE* out) {
  Report r{out};
  bpf::RouteLibbpfLogToSpdlog();

  r.Line("btf", Exists("/sys/kernel/btf/vmlinux"), "/sys/kernel/btf/vmlinux (needed for CO-RE)", true);

  bool privileged = HasCapability(CAP_BPF) || HasCapability(CAP_SYS_ADMIN);
  r.Line("cap_bpf", HasCapability(CAP_BPF), "load BPF programs", false);
  r.Line("cap_perfmon", HasCapability(CAP_PERFMON), "attach tracepoints and uprobes", false);
  r.Line("cap_sys_admin", HasCapability(CAP_SYS_ADMIN), "mount tracefs; covers the two above on old kernels", false);
  r.Line("privileges", privileged, privileged ? "enough to load probes" : "run as root or grant CAP_BPF+CAP_PERFMON", true);

  auto tracefs_err = privileged ? bpf::EnsureTracefs() : std::optional<std::string>("not privileged");
  r.Line("tracefs", !tracefs_err, tracefs_err ? *tracefs_err : TracefsRoot(), true);

  const std::vector<std::string> tracepoints = {
      "syscalls/sys_exit_read",     "syscalls/sys_exit_readv",      "syscalls/sys_exit_recvfrom",
      "syscalls/sys_exit_recvmsg",  "syscalls/sys_exit_write",      "syscalls/sys_exit_writev",
      "syscalls/sys_exit_sendto",   "syscalls/sys_exit_sendmsg",    "syscalls/sys_exit_sendfile64",
      "syscalls/sys_exit_accept",   "syscalls/sys_exit_accept4",    "syscalls/sys_exit_connect",
      "syscalls/sys_enter_close",   "sched/sched_process_exit",     "sched/sched_process_exec"};
  std::string missing;
  for (const auto& tp : tracepoints) {
    if (!Exists(TracefsRoot() + "/events/" + tp)) missing += " " + tp;
  }
  r.Line("tracepoints", missing.empty(),
         missing.empty() ? std::to_string(tracepoints.size()) + " needed, all present" : "missing:" + missing,
         true);

  bool uprobes = Exists("/sys/bus/event_source/devices/uprobe");
  r.Line("uprobes", uprobes, "TLS plaintext (OpenSSL, Go crypto/tls)", false);
  bool kprobes = Exists("/sys/bus/event_source/devices/kprobe") && Exists(TracefsRoot() + "/kprobe_events");
  r.Line("kprobes", kprobes, "not required: every probe uses tracepoints or uprobes", false);
  bool ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  r.Line("ring buffer", ringbuf, "BPF_MAP_TYPE_RINGBUF", true);

  if (r.ok) {
    try {
      bpf::SocketProbeConfig cfg;
      cfg.self_tgid = getpid();
      cfg.capture_size = options.capture_size;
      cfg.ring_buffer_size = options.ring_buffer_size;
      cfg.max_tracked_fds = options.max_tracked_fds;
      bpf::SocketProbe probe(cfg, [](std::span<const std::byte>) {});
      r.Line("socket probe", true, std::to_string(probe.program_count()) + " programs loaded and attached", true);
      CheckTlsProbe(r, options, probe, uprobes);
      CheckTcpProbe(r, probe);
    } catch (const std::exception& e) {
      r.Line("socket probe", false, e.what(), true);
    }
  }
  std::fprintf(out, "%s\n", r.ok ? "sightline can run here" : "sightline cannot run here (see the lines marked no above)");
  return r.ok ? 0 : 1;
}

}  // namespace sightline::daemon
