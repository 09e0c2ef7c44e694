#include "metrics/self_metrics.h"

#include <variant>

#include "version.h"

namespace sightline::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

}  // namespace

SelfMetrics::SelfMetrics(prometheus::Registry& r)
    : build_info_(BuildGauge().Name("sightline_build_info").Help("Version of the running daemon (always 1)").Register(r)),
      probe_status_(BuildGauge().Name("sightline_probe_status").Help("1 when the probe is loaded and attached, 0 when it failed").Register(r)),
      events_(BuildCounter().Name("sightline_events_total").Help("Events received from the kernel, by type").Register(r)),
      lost_(BuildCounter().Name("sightline_events_lost_total").Help("Events that never reached the daemon or were rejected, by probe and reason").Register(r)),
      truncated_events_(BuildCounter().Name("sightline_payload_truncated_events_total").Help("Data events whose payload was not captured in full").Register(r)),
      truncated_bytes_(BuildCounter().Name("sightline_payload_truncated_bytes_total").Help("Payload bytes moved by observed processes but not captured, by reason").Register(r)),
      connections_(BuildCounter().Name("sightline_connections_total").Help("Connections seen, by event").Register(r)),
      connections_shed_(BuildCounter().Name("sightline_connections_shed_total").Help("Connections dropped before they closed, by reason").Register(r)),
      stream_(BuildCounter().Name("sightline_stream_events_total").Help("Byte-stream ordering events: reordered, stale (duplicates)").Register(r)),
      tracked_(BuildGauge().Name("sightline_tracked_connections").Help("Connections currently followed in userspace").Register(r)),
      buffered_(BuildGauge().Name("sightline_buffered_bytes").Help("Bytes held by the connection tracker (reordering and parser buffers)").Register(r)),
      probe_runs_(BuildCounter().Name("sightline_probe_runs_total").Help("Kernel program runs (needs kernel.bpf_stats_enabled=1)").Register(r)),
      probe_run_seconds_(BuildCounter().Name("sightline_probe_run_seconds_total").Help("Kernel time spent in probe programs (needs kernel.bpf_stats_enabled=1)").Register(r)),
      tls_processes_(BuildGauge().Name("sightline_tls_processes").Help("Live processes using a TLS library, by library and whether their plaintext is visible").Register(r)),
      tls_binaries_(BuildGauge().Name("sightline_tls_binaries_attached").Help("Binary files (libraries, executables) with TLS probes attached").Register(r)),
      tls_connections_(BuildCounter().Name("sightline_tls_connections_total").Help("TLS connections gone, by whether their plaintext was seen").Register(r)),
      tls_attach_failures_(BuildCounter().Name("sightline_tls_attach_failures_total").Help("Binaries whose TLS probes could not be attached").Register(r)),
      tls_filtered_(BuildCounter().Name("sightline_tls_plaintext_filtered_total").Help("TLS plaintext events discarded because their connection is left out by the port filters (wanted so, not lost)").Register(r)),
      genai_exchanges_(BuildCounter().Name("sightline_gen_ai_exchanges_total").Help("HTTP exchanges recognised as AI API calls: followed, or shed (too many in flight)").Register(r)),
      genai_body_errors_(BuildCounter().Name("sightline_gen_ai_body_errors_total").Help("AI API bodies not read in full: content_coding (undecodable), body_gap (bytes not captured)").Register(r)),
      genai_in_flight_(BuildGauge().Name("sightline_gen_ai_exchanges_in_flight").Help("AI API calls being followed now").Register(r)) {
  build_info_.Add({{"version", kVersion}, {"revision", kRevision}}).Set(1);
  event_counters_[0] = &events_.Add({{"type", "conn_open"}});
  event_counters_[1] = &events_.Add({{"type", "conn_close"}});
  event_counters_[2] = &events_.Add({{"type", "data"}});
  event_counters_[3] = &events_.Add({{"type", "process_exit"}});
  event_counters_[4] = &events_.Add({{"type", "process_info"}});
  event_counters_[5] = &events_.Add({{"type", "tls_data"}});
  event_counters_[6] = &events_.Add({{"type", "tls_bind"}});
  event_counters_[7] = &events_.Add({{"type", "process_exec"}});
  event_counters_[8] = &events_.Add({{"type", "conn_protocol"}});
  event_counters_[9] = &events_.Add({{"type", "malformed"}});
  for (auto e : {decode::DecodeError::kTooShort, decode::DecodeError::kUnknownType,
                 decode::DecodeError::kSizeMismatch, decode::DecodeError::kBadLength}) {
    std::string name(decode::DecodeErrorName(e));
    decode_errors_[name] = &lost_.Add({{"probe", "sockets"}, {"reason", "malformed_" + name}});
  }
}

void SelfMetrics::SetProbeStatus(const std::string& probe, bool attached) {
  probe_status_.Add({{"probe", probe}}).Set(attached ? 1 : 0);
}

void SelfMetrics::CountEvent(const decode::Event& e) {
  if (auto* err = std::get_if<decode::DecodeError>(&e)) {
    event_counters_.back()->Increment();
    decode_errors_[std::string(decode::DecodeErrorName(*err))]->Increment();
    return;
  }
  event_counters_[e.index()]->Increment();
}

void SelfMetrics::Mirrored(prometheus::Family<prometheus::Counter>& family,
                           const prometheus::Labels& labels, uint64_t cumulative, double scale) {
  auto key = std::make_pair(static_cast<void*>(&family), labels);
  auto it = mirrors_.find(key);
  if (it == mirrors_.end()) it = mirrors_.emplace(key, Mirror(family.Add(labels), scale)).first;
  it->second.Set(cumulative);
}

void SelfMetrics::UpdateKernel(const std::string& probe, const std::array<uint64_t, SL_CNT_MAX>& c,
                               const std::vector<bpf::ProgramStats>& programs) {
  auto lost = [&](const char* reason, uint64_t v) {
    Mirrored(lost_, {{"probe", probe}, {"reason", reason}}, v);
  };
  lost("ringbuf_full_data", c[SL_CNT_LOST_DATA_RINGBUF_FULL]);
  lost("ringbuf_full_control", c[SL_CNT_LOST_CONTROL_RINGBUF_FULL]);
  lost("user_memory_unreadable", c[SL_CNT_LOST_DATA_READ_FAILED]);
  lost("fd_map_full", c[SL_CNT_LOST_CONN_MAP_FULL]);
  lost("ringbuf_full_process_info", c[SL_CNT_LOST_PROCESS_INFO]);
  uint64_t misses = MirrorPrograms(probe, programs);
  lost("program_not_run", misses);

  Mirrored(truncated_events_, {{"probe", probe}}, c[SL_CNT_TRUNCATED_EVENTS]);
  Mirrored(truncated_bytes_, {{"probe", probe}, {"reason", "capture_size"}}, c[SL_CNT_TRUNCATED_BYTES_CAPTURE]);
  Mirrored(truncated_bytes_, {{"probe", probe}, {"reason", "iovec_limit"}}, c[SL_CNT_TRUNCATED_BYTES_IOV]);
  Mirrored(truncated_bytes_, {{"probe", probe}, {"reason", "sendfile"}}, c[SL_CNT_UNCAPTURED_BYTES_SENDFILE]);
  Mirrored(connections_, {{"event", "unclassified"}}, c[SL_CNT_CONNS_UNCLASSIFIED]);
  Mirrored(connections_, {{"event", "filtered"}}, c[SL_CNT_CONNS_FILTERED]);
  Mirrored(connections_, {{"event", "tls"}}, c[SL_CNT_CONNS_TLS]);
  lost("ringbuf_full_tls_bind", c[SL_CNT_LOST_TLS_BIND]);
  http2_kernel_ = c[SL_CNT_CONNS_HTTP2];
  Mirrored(connections_, {{"event", "http2"}}, http2_kernel_ + http2_tls_);
}

uint64_t SelfMetrics::MirrorPrograms(const std::string& probe,
                                     const std::vector<bpf::ProgramStats>& programs) {
  uint64_t misses = 0;
  for (const auto& p : programs) {
    misses += p.recursion_misses;
    Mirrored(probe_runs_, {{"probe", probe}, {"program", p.name}}, p.run_count);
    Mirrored(probe_run_seconds_, {{"probe", probe}, {"program", p.name}}, p.run_time_ns, 1e-9);
  }
  return misses;
}

void SelfMetrics::UpdateTlsKernel(const std::array<uint64_t, SL_TLS_CNT_MAX>& c,
                                  const std::vector<bpf::ProgramStats>& programs) {
  const std::string probe = "tls";
  auto lost = [&](const char* reason, uint64_t v) {
    Mirrored(lost_, {{"probe", probe}, {"reason", reason}}, v);
  };
  lost("ringbuf_full_data", c[SL_TLS_CNT_LOST_RINGBUF_FULL]);
  lost("user_memory_unreadable", c[SL_TLS_CNT_LOST_READ_FAILED]);
  lost("state_map_full", c[SL_TLS_CNT_LOST_STATE_FULL]);
  lost("ringbuf_full_control", c[SL_TLS_CNT_LOST_CONTROL]);
  lost("program_not_run", MirrorPrograms(probe, programs));
  Mirrored(truncated_events_, {{"probe", probe}}, c[SL_TLS_CNT_TRUNCATED_EVENTS]);
  Mirrored(truncated_bytes_, {{"probe", probe}, {"reason", "capture_size"}},
           c[SL_TLS_CNT_TRUNCATED_BYTES]);
}

void SelfMetrics::UpdateTcpKernel(const std::array<uint64_t, SL_TCP_CNT_MAX>& c,
                                  const std::vector<bpf::ProgramStats>& programs) {
  const std::string probe = "tcp";
  auto lost = [&](const char* reason, uint64_t v) {
    Mirrored(lost_, {{"probe", probe}, {"reason", reason}}, v);
  };
  lost("socket_map_full", c[SL_TCP_CNT_OWNER_MAP_FULL]);
  lost("process_map_full", c[SL_TCP_CNT_STATS_MAP_FULL]);
  lost("program_not_run", MirrorPrograms(probe, programs));
}

void SelfMetrics::SetGauges(prometheus::Family<prometheus::Gauge>& family,
                            const std::map<prometheus::Labels, double>& values) {
  auto& known = gauge_labels_[&family];
  for (const auto& labels : known) {
    if (!values.count(labels)) family.Add(labels).Set(0);
  }
  for (const auto& [labels, v] : values) {
    family.Add(labels).Set(v);
    known.insert(labels);
  }
}

void SelfMetrics::UpdateTlsVisibility(const tls::ManagerSummary& s) {
  std::map<prometheus::Labels, double> processes, binaries;
  for (const auto& [key, n] : s.processes) {
    processes[{{"library", key.first}, {"visibility", key.second}}] = n;
  }
  for (const auto& [library, n] : s.binaries_attached) binaries[{{"library", library}}] = n;
  SetGauges(tls_processes_, processes);
  SetGauges(tls_binaries_, binaries);
  Mirrored(tls_attach_failures_, {}, s.attach_failures);
}

void SelfMetrics::UpdateTracker(const conn::TrackerStats& s, size_t tracked, size_t buffered) {
  Mirrored(connections_, {{"event", "opened"}}, s.opened);
  Mirrored(connections_, {{"event", "closed"}}, s.closed);
  Mirrored(connections_, {{"event", "opened_implicitly"}}, s.implicit_opens);
  Mirrored(connections_, {{"event", "close_unknown"}}, s.unknown_close);
  Mirrored(connections_, {{"event", "closed_by_exit"}}, s.closed_by_exit);
  Mirrored(connections_, {{"event", "postgresql"}}, s.postgres);
  Mirrored(connections_, {{"event", "redis"}}, s.redis);
  Mirrored(connections_shed_, {{"reason", "idle"}}, s.shed_idle);
  Mirrored(connections_shed_, {{"reason", "capacity"}}, s.shed_capacity);
  Mirrored(connections_shed_, {{"reason", "fd_reused"}}, s.shed_fd_reuse);
  Mirrored(stream_, {{"event", "reordered"}}, s.stream.reordered);
  Mirrored(stream_, {{"event", "stale"}}, s.stream.stale);
  Mirrored(truncated_bytes_, {{"probe", "sockets"}, {"reason", "stream_gap"}}, s.stream.lost_bytes);
  Mirrored(tls_connections_, {{"visibility", "plaintext"}}, s.tls_plaintext);
  Mirrored(tls_connections_, {{"visibility", "opaque"}}, s.tls_opaque);
  Mirrored(lost_, {{"probe", "tls"}, {"reason", "no_connection"}}, s.tls_unbound_events);
  Mirrored(tls_filtered_, {}, s.tls_filtered_events);
  Mirrored(truncated_bytes_, {{"probe", "tls"}, {"reason", "no_connection"}}, s.tls_unbound_bytes);
  http2_tls_ = s.http2_tls;
  Mirrored(connections_, {{"event", "http2"}}, http2_kernel_ + http2_tls_);
  tracked_.Add({}).Set(double(tracked));
  buffered_.Add({}).Set(double(buffered));
}

}  // namespace sightline::metrics

namespace sightline::metrics {

void SelfMetrics::UpdateGenAi(const genai::AccountantStats& s, size_t in_flight) {
  Mirrored(genai_exchanges_, {{"event", "followed"}}, s.followed);
  Mirrored(genai_exchanges_, {{"event", "shed"}}, s.shed);
  Mirrored(genai_body_errors_, {{"reason", "content_coding"}}, s.decode_errors);
  Mirrored(genai_body_errors_, {{"reason", "body_gap"}}, s.body_gaps);
  Mirrored(truncated_bytes_, {{"probe", "gen_ai"}, {"reason", "body_limit"}}, s.truncated_bytes);
  genai_in_flight_.Add({}).Set(double(in_flight));
}

}  // namespace sightline::metrics
