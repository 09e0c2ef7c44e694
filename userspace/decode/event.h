// The one decoding boundary between ring-buffer bytes and userspace: every
// event is size-checked and copied into an aligned struct here; raw kernel
// structs go no further.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "sightline/bpf/sockets.h"
#include "sightline/bpf/tls.h"

namespace sightline::decode {

enum class Role : uint8_t {
  kUnknown = SL_ROLE_UNKNOWN,
  kServer = SL_ROLE_SERVER,
  kClient = SL_ROLE_CLIENT
};
enum class Direction : uint8_t { kIngress = SL_DIR_INGRESS, kEgress = SL_DIR_EGRESS };

struct Endpoint {
  std::string address;  // printable: dotted quad, or IPv6 text
  uint16_t port = 0;
};

struct ConnOpen {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  uint32_t fd = 0;
  uint64_t conn_id = 0;
  Role role = Role::kUnknown;
  Endpoint local;
  Endpoint remote;
  std::string comm;
};

struct ConnClose {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  uint32_t fd = 0;
  uint64_t conn_id = 0;
  uint64_t bytes_ingress = 0;
  uint64_t bytes_egress = 0;
  uint8_t protocol = SL_PROTO_UNKNOWN;  // as the kernel classified it
};

// The kernel classified the connection's first bytes as TLS or HTTP/2.
struct ConnProtocol {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  uint32_t fd = 0;
  uint64_t conn_id = 0;
  Role role = Role::kUnknown;
  uint8_t protocol = SL_PROTO_UNKNOWN;
};

struct ProcessExit {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
};

// Borrowed view: `environ` points into the ring buffer (NUL-separated).
struct ProcessInfo {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  std::string exe_name;
  std::string_view environ;
};

// Borrowed view: `payload` points into the ring buffer and is valid only
// during the callback that delivered it.
struct Data {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t fd = 0;
  uint64_t conn_id = 0;
  uint64_t seq = 0;
  uint32_t orig_len = 0;
  Direction direction = Direction::kIngress;
  Role role = Role::kUnknown;
  uint8_t syscall = 0;
  uint8_t protocol = 0;
  std::string_view payload;
};

enum class TlsLibrary : uint8_t { kOpenSsl = SL_TLS_OPENSSL, kGo = SL_TLS_GO };

// Plaintext of one TLS call (or one piece of it). Borrowed view like Data.
struct TlsData {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint64_t conn_id = 0;  // 0: not yet tied to a connection (a TlsBind follows)
  uint64_t tls_id = 0;   // the session object's address in the process
  uint64_t seq = 0;
  uint32_t orig_len = 0;
  std::optional<uint32_t> fd;
  Direction direction = Direction::kIngress;
  TlsLibrary library = TlsLibrary::kOpenSsl;
  std::string_view payload;
};

// Plaintext sent for (pid, tls_id) before its connection was known belongs to conn_id.
struct TlsBind {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
  uint64_t conn_id = 0;
  uint64_t tls_id = 0;
  uint32_t fd = 0;
};

// The process called execve: its executable and libraries changed.
struct ProcessExec {
  uint64_t timestamp_ns = 0;
  uint32_t pid = 0;
};

// Why an event was rejected; each is counted by the caller.
enum class DecodeError { kTooShort, kUnknownType, kSizeMismatch, kBadLength };

// The order of the alternatives is the order of the event-type counters.
using Event = std::variant<ConnOpen, ConnClose, Data, ProcessExit, ProcessInfo, TlsData, TlsBind,
                           ProcessExec, ConnProtocol, DecodeError>;

Event Decode(std::span<const std::byte> raw);

std::string_view DecodeErrorName(DecodeError e);

// Formats a 4- or 16-byte network-order address; IPv4-mapped IPv6 prints as IPv4.
std::string FormatAddress(uint16_t family, const uint8_t addr[16]);

}  // namespace sightline::decode
