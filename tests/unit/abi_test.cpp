// Pins the kernel/user ABI: a change in size or offset here must be a
// deliberate change on both sides.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "decode/event.h"
#include "sightline/bpf/sockets.h"
#include "sightline/bpf/tls.h"

namespace {

TEST(Abi, HeaderLayout) {
  EXPECT_EQ(sizeof(sl_event_header), 24u);
  EXPECT_EQ(offsetof(sl_event_header, timestamp_ns), 0u);
  EXPECT_EQ(offsetof(sl_event_header, type), 8u);
  EXPECT_EQ(offsetof(sl_event_header, size), 12u);
  EXPECT_EQ(offsetof(sl_event_header, pid), 16u);
  EXPECT_EQ(offsetof(sl_event_header, tid), 20u);
}

TEST(Abi, ConnEventLayout) {
  EXPECT_EQ(sizeof(sl_conn_event), 112u);
  EXPECT_EQ(offsetof(sl_conn_event, conn_id), 24u);
  EXPECT_EQ(offsetof(sl_conn_event, bytes_ingress), 32u);
  EXPECT_EQ(offsetof(sl_conn_event, bytes_egress), 40u);
  EXPECT_EQ(offsetof(sl_conn_event, local_addr), 48u);
  EXPECT_EQ(offsetof(sl_conn_event, remote_addr), 64u);
  EXPECT_EQ(offsetof(sl_conn_event, local_port), 80u);
  EXPECT_EQ(offsetof(sl_conn_event, remote_port), 82u);
  EXPECT_EQ(offsetof(sl_conn_event, family), 84u);
  EXPECT_EQ(offsetof(sl_conn_event, role), 86u);
  EXPECT_EQ(offsetof(sl_conn_event, protocol), 87u);
  EXPECT_EQ(offsetof(sl_conn_event, fd), 88u);
  EXPECT_EQ(offsetof(sl_conn_event, comm), 96u);
}

TEST(Abi, DataEventLayout) {
  EXPECT_EQ(sizeof(sl_data_event), 56u);
  EXPECT_EQ(offsetof(sl_data_event, conn_id), 24u);
  EXPECT_EQ(offsetof(sl_data_event, seq), 32u);
  EXPECT_EQ(offsetof(sl_data_event, orig_len), 40u);
  EXPECT_EQ(offsetof(sl_data_event, cap_len), 44u);
  EXPECT_EQ(offsetof(sl_data_event, fd), 48u);
  EXPECT_EQ(offsetof(sl_data_event, direction), 52u);
  EXPECT_EQ(offsetof(sl_data_event, syscall), 53u);
  EXPECT_EQ(offsetof(sl_data_event, protocol), 54u);
  EXPECT_EQ(offsetof(sl_data_event, role), 55u);
  EXPECT_EQ(SL_MAX_CAPTURE & (SL_MAX_CAPTURE - 1), 0) << "capture maximum must be a power of two";
}

TEST(Abi, ProcessEventLayout) {
  EXPECT_EQ(sizeof(sl_process_event), 96u);
  EXPECT_EQ(offsetof(sl_process_event, env_len), 24u);
  EXPECT_EQ(offsetof(sl_process_event, env_cap), 28u);
  EXPECT_EQ(offsetof(sl_process_event, exe_name), 32u);
}

std::vector<std::byte> DataEvent(uint32_t orig, uint32_t cap, const char* payload, size_t size) {
  std::vector<std::byte> raw(sizeof(sl_data_event) + size);
  sl_data_event e{};
  e.hdr.type = SL_EVENT_DATA;
  e.hdr.size = raw.size();
  e.hdr.pid = 42;
  e.conn_id = 7;
  e.seq = 100;
  e.orig_len = orig;
  e.cap_len = cap;
  e.direction = SL_DIR_EGRESS;
  std::memcpy(raw.data(), &e, sizeof(e));
  std::memcpy(raw.data() + sizeof(e), payload, size);
  return raw;
}

TEST(Decode, DataEvent) {
  auto raw = DataEvent(10, 5, "hello", 5);
  auto ev = sightline::decode::Decode(raw);
  auto* d = std::get_if<sightline::decode::Data>(&ev);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pid, 42u);
  EXPECT_EQ(d->conn_id, 7u);
  EXPECT_EQ(d->seq, 100u);
  EXPECT_EQ(d->orig_len, 10u);
  EXPECT_EQ(d->payload, "hello");
  EXPECT_EQ(d->direction, sightline::decode::Direction::kEgress);
}

TEST(Decode, RejectsMalformed) {
  using sightline::decode::DecodeError;
  std::vector<std::byte> tiny(8);
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(tiny)), DecodeError::kTooShort);
  auto capped = DataEvent(4, 5, "hello", 5);  // captured more than moved
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(capped)), DecodeError::kBadLength);
  auto overrun = DataEvent(50, 50, "hello", 5);  // claims bytes it does not carry
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(overrun)), DecodeError::kBadLength);
  auto unknown = DataEvent(5, 5, "hello", 5);
  uint32_t bogus = 99;
  std::memcpy(unknown.data() + offsetof(sl_event_header, type), &bogus, 4);
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(unknown)), DecodeError::kUnknownType);
}

TEST(Decode, FormatsAddresses) {
  uint8_t v4[16] = {127, 0, 0, 1};
  EXPECT_EQ(sightline::decode::FormatAddress(2, v4), "127.0.0.1");
  uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(sightline::decode::FormatAddress(10, mapped), "10.1.2.3");
  uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(sightline::decode::FormatAddress(10, v6), "::1");
}

}  // namespace

namespace {

TEST(Decode, ProcessInfo) {
  const char env[] = "A=1\0OTEL_SERVICE_NAME=checkout\0";
  std::vector<std::byte> raw(sizeof(sl_process_event) + sizeof(env));
  sl_process_event e{};
  e.hdr.type = SL_EVENT_PROCESS_INFO;
  e.hdr.size = raw.size();
  e.hdr.pid = 77;
  e.env_len = 4096;
  e.env_cap = sizeof(env);
  std::memcpy(e.exe_name, "curl", 4);
  std::memcpy(raw.data(), &e, sizeof(e));
  std::memcpy(raw.data() + sizeof(e), env, sizeof(env));
  auto ev = sightline::decode::Decode(raw);
  auto* p = std::get_if<sightline::decode::ProcessInfo>(&ev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->pid, 77u);
  EXPECT_EQ(p->exe_name, "curl");
  EXPECT_EQ(p->environ.size(), sizeof(env));
  e.env_cap = e.env_len + 1;  // claims more than the block holds
  std::memcpy(raw.data(), &e, sizeof(e));
  EXPECT_TRUE(std::holds_alternative<sightline::decode::DecodeError>(sightline::decode::Decode(raw)));
}

}  // namespace

namespace {

TEST(Abi, TlsEventLayout) {
  EXPECT_EQ(sizeof(sl_tls_data_event), 64u);
  EXPECT_EQ(offsetof(sl_tls_data_event, conn_id), 24u);
  EXPECT_EQ(offsetof(sl_tls_data_event, tls_id), 32u);
  EXPECT_EQ(offsetof(sl_tls_data_event, seq), 40u);
  EXPECT_EQ(offsetof(sl_tls_data_event, orig_len), 48u);
  EXPECT_EQ(offsetof(sl_tls_data_event, cap_len), 52u);
  EXPECT_EQ(offsetof(sl_tls_data_event, fd), 56u);
  EXPECT_EQ(offsetof(sl_tls_data_event, direction), 60u);
  EXPECT_EQ(offsetof(sl_tls_data_event, library), 61u);
  EXPECT_EQ(sizeof(sl_tls_bind_event), 48u);
  EXPECT_EQ(offsetof(sl_tls_bind_event, conn_id), 24u);
  EXPECT_EQ(offsetof(sl_tls_bind_event, tls_id), 32u);
  EXPECT_EQ(offsetof(sl_tls_bind_event, fd), 40u);
  EXPECT_EQ(SL_MAX_TLS_CAPTURE % SL_MAX_CAPTURE, 0) << "a call's pieces are whole events";
}

std::vector<std::byte> TlsEvent(uint32_t orig, uint32_t cap, std::string_view payload,
                                uint8_t library = SL_TLS_OPENSSL) {
  std::vector<std::byte> raw(sizeof(sl_tls_data_event) + payload.size());
  sl_tls_data_event e{};
  e.hdr.type = SL_EVENT_TLS_DATA;
  e.hdr.size = raw.size();
  e.hdr.pid = 42;
  e.conn_id = 0;
  e.tls_id = 0x7f0012345678;
  e.seq = 30;
  e.orig_len = orig;
  e.cap_len = cap;
  e.fd = 0xffffffff;
  e.direction = SL_DIR_INGRESS;
  e.library = library;
  std::memcpy(raw.data(), &e, sizeof(e));
  std::memcpy(raw.data() + sizeof(e), payload.data(), payload.size());
  return raw;
}

TEST(Decode, TlsData) {
  auto raw = TlsEvent(100, 5, "HTTP/");
  auto ev = sightline::decode::Decode(raw);
  auto* d = std::get_if<sightline::decode::TlsData>(&ev);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pid, 42u);
  EXPECT_EQ(d->conn_id, 0u);
  EXPECT_EQ(d->tls_id, 0x7f0012345678u);
  EXPECT_EQ(d->seq, 30u);
  EXPECT_EQ(d->orig_len, 100u);
  EXPECT_FALSE(d->fd.has_value());
  EXPECT_EQ(d->payload, "HTTP/");
  EXPECT_EQ(d->library, sightline::decode::TlsLibrary::kOpenSsl);
}

TEST(Decode, RejectsMalformedTls) {
  using sightline::decode::DecodeError;
  auto capped = TlsEvent(4, 5, "hello");
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(capped)), DecodeError::kBadLength);
  auto overrun = TlsEvent(50, 50, "hello");
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(overrun)), DecodeError::kBadLength);
  auto library = TlsEvent(5, 5, "hello", 9);
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(library)), DecodeError::kBadLength);
  auto short_bind = TlsEvent(5, 5, "hello");
  uint32_t bind = SL_EVENT_TLS_BIND;
  std::memcpy(short_bind.data() + offsetof(sl_event_header, type), &bind, 4);
  short_bind.resize(40);
  uint32_t size = 40;
  std::memcpy(short_bind.data() + offsetof(sl_event_header, size), &size, 4);
  EXPECT_EQ(std::get<DecodeError>(sightline::decode::Decode(short_bind)), DecodeError::kTooShort);
}

}  // namespace
