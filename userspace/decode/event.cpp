#include "decode/event.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace sightline::decode {
namespace {

template <typename T>
T CopyOut(std::span<const std::byte> raw) {
  T out;
  std::memcpy(&out, raw.data(), sizeof(T));
  return out;
}

std::string CommString(const char (&comm)[16]) {
  return std::string(comm, strnlen(comm, sizeof(comm)));
}

}  // namespace

std::string FormatAddress(uint16_t family, const uint8_t addr[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr, buf, sizeof(buf));
    return buf;
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr, kMapped, sizeof(kMapped)) == 0) {
    inet_ntop(AF_INET, addr + 12, buf, sizeof(buf));
    return buf;
  }
  inet_ntop(AF_INET6, addr, buf, sizeof(buf));
  return buf;
}

Event Decode(std::span<const std::byte> raw) {
  if (raw.size() < sizeof(sl_event_header)) return DecodeError::kTooShort;
  const auto hdr = CopyOut<sl_event_header>(raw);
  if (hdr.size > raw.size()) return DecodeError::kSizeMismatch;
  switch (hdr.type) {
    case SL_EVENT_CONN_OPEN:
    case SL_EVENT_CONN_CLOSE:
    case SL_EVENT_CONN_PROTOCOL: {
      if (raw.size() < sizeof(sl_conn_event)) return DecodeError::kTooShort;
      const auto e = CopyOut<sl_conn_event>(raw);
      if (hdr.type == SL_EVENT_CONN_PROTOCOL) {
        Role role = e.role <= SL_ROLE_CLIENT ? static_cast<Role>(e.role) : Role::kUnknown;
        return ConnProtocol{hdr.timestamp_ns, hdr.pid, e.fd, e.conn_id, role, e.protocol};
      }
      if (hdr.type == SL_EVENT_CONN_CLOSE) {
        return ConnClose{hdr.timestamp_ns, hdr.pid,        e.fd,      e.conn_id,
                         e.bytes_ingress,  e.bytes_egress, e.protocol};
      }
      ConnOpen open;
      open.timestamp_ns = hdr.timestamp_ns;
      open.pid = hdr.pid;
      open.fd = e.fd;
      open.conn_id = e.conn_id;
      open.role = e.role <= SL_ROLE_CLIENT ? static_cast<Role>(e.role) : Role::kUnknown;
      open.local = {FormatAddress(e.family, e.local_addr), e.local_port};
      open.remote = {FormatAddress(e.family, e.remote_addr), e.remote_port};
      open.comm = CommString(e.comm);
      return open;
    }
    case SL_EVENT_DATA: {
      if (raw.size() < sizeof(sl_data_event)) return DecodeError::kTooShort;
      const auto e = CopyOut<sl_data_event>(raw);
      if (e.cap_len > e.orig_len || e.cap_len > SL_MAX_CAPTURE ||
          sizeof(sl_data_event) + e.cap_len > raw.size()) {
        return DecodeError::kBadLength;
      }
      Data d;
      d.timestamp_ns = hdr.timestamp_ns;
      d.pid = hdr.pid;
      d.tid = hdr.tid;
      d.fd = e.fd;
      d.conn_id = e.conn_id;
      d.seq = e.seq;
      d.orig_len = e.orig_len;
      d.direction = e.direction == SL_DIR_EGRESS ? Direction::kEgress : Direction::kIngress;
      d.role = e.role <= SL_ROLE_CLIENT ? static_cast<Role>(e.role) : Role::kUnknown;
      d.syscall = e.syscall;
      d.protocol = e.protocol;
      d.payload = std::string_view(
          reinterpret_cast<const char*>(raw.data()) + sizeof(sl_data_event), e.cap_len);
      return d;
    }
    case SL_EVENT_PROCESS_INFO: {
      if (raw.size() < sizeof(sl_process_event)) return DecodeError::kTooShort;
      const auto e = CopyOut<sl_process_event>(raw);
      if (e.env_cap > e.env_len || e.env_cap > SL_MAX_CAPTURE ||
          sizeof(sl_process_event) + e.env_cap > raw.size()) {
        return DecodeError::kBadLength;
      }
      ProcessInfo info;
      info.timestamp_ns = hdr.timestamp_ns;
      info.pid = hdr.pid;
      info.exe_name = std::string(e.exe_name, strnlen(e.exe_name, sizeof(e.exe_name)));
      info.environ = std::string_view(
          reinterpret_cast<const char*>(raw.data()) + sizeof(sl_process_event), e.env_cap);
      return info;
    }
    case SL_EVENT_PROCESS_EXIT:
      return ProcessExit{hdr.timestamp_ns, hdr.pid};
    case SL_EVENT_TLS_DATA: {
      if (raw.size() < sizeof(sl_tls_data_event)) return DecodeError::kTooShort;
      const auto e = CopyOut<sl_tls_data_event>(raw);
      if (e.cap_len > e.orig_len || e.cap_len > SL_MAX_CAPTURE ||
          sizeof(sl_tls_data_event) + e.cap_len > raw.size() ||
          (e.library != SL_TLS_OPENSSL && e.library != SL_TLS_GO)) {
        return DecodeError::kBadLength;
      }
      TlsData d;
      d.timestamp_ns = hdr.timestamp_ns;
      d.pid = hdr.pid;
      d.tid = hdr.tid;
      d.conn_id = e.conn_id;
      d.tls_id = e.tls_id;
      d.seq = e.seq;
      d.orig_len = e.orig_len;
      if (e.fd != 0xffffffffu) d.fd = e.fd;
      d.direction = e.direction == SL_DIR_EGRESS ? Direction::kEgress : Direction::kIngress;
      d.library = static_cast<TlsLibrary>(e.library);
      d.payload = std::string_view(
          reinterpret_cast<const char*>(raw.data()) + sizeof(sl_tls_data_event), e.cap_len);
      return d;
    }
    case SL_EVENT_TLS_BIND: {
      if (raw.size() < sizeof(sl_tls_bind_event)) return DecodeError::kTooShort;
      const auto e = CopyOut<sl_tls_bind_event>(raw);
      return TlsBind{hdr.timestamp_ns, hdr.pid, e.conn_id, e.tls_id, e.fd};
    }
    case SL_EVENT_PROCESS_EXEC:
      return ProcessExec{hdr.timestamp_ns, hdr.pid};
    default:
      return DecodeError::kUnknownType;
  }
}

std::string_view DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kTooShort:
      return "too_short";
    case DecodeError::kUnknownType:
      return "unknown_type";
    case DecodeError::kSizeMismatch:
      return "size_mismatch";
    case DecodeError::kBadLength:
      return "bad_length";
  }
  return "unknown";
}

}  // namespace sightline::decode
