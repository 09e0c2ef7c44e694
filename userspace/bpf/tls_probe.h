// The TLS probe (bpf/tls.bpf.c): loaded with the socket probe's maps, its
// uprobes attached per binary file (a library or an executable), once for
// every process that maps that file.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bpf/libbpf_setup.h"
#include "bpf/socket_probe.h"
#include "sightline/bpf/tls.h"

struct tls_bpf;
struct bpf_link;

namespace sightline::bpf {

struct TlsProbeConfig {
  uint32_t self_tgid = 0;
  uint32_t capture_size = 65536;
  uint32_t ring_buffer_size = 16u << 20;
  bool filter_pids = false;  // --pids given: the socket probe's pid_allow map applies
};

// Which program goes on an attach point.
enum class TlsHook : uint8_t {
  kSslWrite,
  kSslRead,
  kSslWriteEx,
  kSslReadEx,
  kSslReturn,  // return of any of the four (a uretprobe)
  kSslFree,
  kGoWrite,
  kGoRead,
  kGoReturn,  // a RET instruction of Go's Read or Write
};

struct UprobeSpec {
  TlsHook hook;
  uint64_t offset;  // file offset of the function, or of the RET instruction
};

class TlsProbe {
 public:
  // Opens, loads (sharing the socket probe's maps) and attaches the exec
  // tracepoint. Throws std::runtime_error naming the step that failed.
  TlsProbe(const TlsProbeConfig& config, const SocketProbe& sockets);
  ~TlsProbe();
  TlsProbe(const TlsProbe&) = delete;
  TlsProbe& operator=(const TlsProbe&) = delete;

  using Handle = uint64_t;
  // Attaches every spec to the file at `path` for all processes. On failure
  // nothing stays attached and `error` says why; returns 0 then.
  Handle Attach(const std::string& path, const std::vector<UprobeSpec>& specs, std::string* error);
  void Detach(Handle h);
  size_t attached_files() const { return attached_.size(); }

  std::array<uint64_t, SL_TLS_CNT_MAX> ReadCounters() const;
  std::vector<ProgramStats> ReadProgramStats() const;

 private:
  void Release();

  tls_bpf* skel_ = nullptr;
  bpf_link* exec_link_ = nullptr;
  std::map<Handle, std::vector<bpf_link*>> attached_;
  Handle next_ = 1;
};

}  // namespace sightline::bpf
