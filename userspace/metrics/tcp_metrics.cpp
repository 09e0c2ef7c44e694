#include "metrics/tcp_metrics.h"

#include <string_view>
#include <unordered_set>

#include "metrics/service_labels.h"

namespace sightline::metrics {
namespace {

using prometheus::BuildCounter;

// Label values of tcp_connection_failures_total{reason}, by enum sl_tcp_failure.
constexpr std::array<const char*, SL_TCP_FAIL_MAX> kFailureReasons = {
    "refused", "timeout", "unreachable", "aborted", "other"};

// sightline_tcp_unattributed_total{event}, by enum sl_tcp_counter (empty:
// a lost event, exported by SelfMetrics::UpdateTcpKernel).
constexpr std::array<const char*, SL_TCP_CNT_MAX> kUnattributedEvents = {"",
                                                                         "",
                                                                         "opened",
                                                                         "closed",
                                                                         "failed",
                                                                         "retransmits",
                                                                         "resets_sent",
                                                                         "resets_received",
                                                                         "resets_sent_no_socket"};

uint64_t Minus(uint64_t a, uint64_t b) { return a >= b ? a - b : a; }

bool IsZero(const sl_tcp_stats& s) {
  uint64_t any = s.opened_active | s.opened_passive | s.closed | s.retransmits | s.resets_sent |
                 s.resets_received;
  for (uint64_t f : s.failed) any |= f;
  return any == 0;
}

std::string_view Comm(const sl_tcp_stats& s) {
  size_t n = 0;
  while (n < sizeof(s.comm) && s.comm[n]) n++;
  return {s.comm, n};
}

}  // namespace

sl_tcp_stats TcpStatsDelta(const sl_tcp_stats& a, const sl_tcp_stats& b) {
  sl_tcp_stats d = a;
  d.opened_active = Minus(a.opened_active, b.opened_active);
  d.opened_passive = Minus(a.opened_passive, b.opened_passive);
  d.closed = Minus(a.closed, b.closed);
  for (int i = 0; i < SL_TCP_FAIL_MAX; i++) d.failed[i] = Minus(a.failed[i], b.failed[i]);
  d.retransmits = Minus(a.retransmits, b.retransmits);
  d.resets_sent = Minus(a.resets_sent, b.resets_sent);
  d.resets_received = Minus(a.resets_received, b.resets_received);
  return d;
}

TcpMetrics::TcpMetrics(prometheus::Registry& r, prometheus::Family<prometheus::Counter>& dropped,
                       process::ProcessTable& processes, size_t budget,
                       std::function<bool(uint32_t)> alive)
    : processes_(processes),
      alive_(std::move(alive)),
      opened_(BuildCounter()
                  .Name("tcp_connections_opened_total")
                  .Help("TCP connections opened: active (connect() handshake completed), "
                        "passive (returned by accept())")
                  .Register(r),
              budget, dropped),
      closed_(BuildCounter()
                  .Name("tcp_connections_closed_total")
                  .Help("Opened TCP connections that reached CLOSE")
                  .Register(r),
              budget, dropped),
      failures_(BuildCounter()
                    .Name("tcp_connection_failures_total")
                    .Help("connect() attempts that ended before the handshake completed, by "
                          "the error the kernel recorded")
                    .Register(r),
                budget, dropped),
      retransmits_(BuildCounter()
                       .Name("tcp_retransmits_total")
                       .Help("TCP segments retransmitted")
                       .Register(r),
                   budget, dropped),
      resets_(BuildCounter()
                  .Name("tcp_resets_total")
                  .Help("TCP resets sent and received on the service's sockets")
                  .Register(r),
              budget, dropped),
      unattributed_(BuildCounter()
                        .Name("sightline_tcp_unattributed_total")
                        .Help("TCP events on sockets whose owning process is unknown (opened "
                              "before the daemon, or not remembered), and resets sent for no "
                              "socket at all")
                        .Register(r)) {
  for (int i = 0; i < SL_TCP_CNT_MAX; i++) {
    if (*kUnattributedEvents[i]) {
      unattributed_counters_[i].counter = &unattributed_.Add({{"event", kUnattributedEvents[i]}});
    }
  }
}

void TcpMetrics::Add(uint32_t tgid, const sl_tcp_stats& d, uint64_t now_ns) {
  if (IsZero(d)) return;
  // --exe: the kernel cannot judge an executable path; counts of processes
  // left out are not wanted, so not lost either.
  if (!processes_.Observed(tgid, Comm(d), now_ns)) return;
  const process::ProcessInfo& proc = processes_.Lookup(tgid, Comm(d), now_ns);
  using More = std::initializer_list<std::pair<const std::string, std::string>>;
  auto inc = [&](BudgetedCounter& family, More more, uint64_t n) {
    if (n) family.Get(ServiceLabels(proc, more)).Increment(double(n));
  };
  inc(opened_, {{"direction", "active"}}, d.opened_active);
  inc(opened_, {{"direction", "passive"}}, d.opened_passive);
  inc(closed_, {}, d.closed);
  for (int i = 0; i < SL_TCP_FAIL_MAX; i++)
    inc(failures_, {{"reason", kFailureReasons[i]}}, d.failed[i]);
  inc(retransmits_, {}, d.retransmits);
  inc(resets_, {{"direction", "sent"}}, d.resets_sent);
  inc(resets_, {{"direction", "received"}}, d.resets_received);
}

std::array<uint64_t, SL_TCP_CNT_MAX> TcpMetrics::Sweep(bpf::TcpStatsReader& reader,
                                                      uint64_t now_ns) {
  static const sl_tcp_stats kZero{};
  std::unordered_set<uint32_t> present;
  for (const auto& [tgid, now] : reader.ReadStats()) {
    present.insert(tgid);
    auto it = last_.find(tgid);
    const sl_tcp_stats& before = it == last_.end() ? kZero : it->second;
    Add(tgid, TcpStatsDelta(now, before), now_ns);
    if (alive_(tgid)) {
      last_[tgid] = now;
      continue;
    }
    // Gone: what arrived since the read above is in the final value. Late
    // events (a socket closing after its process) make a new entry, folded
    // the same way at the next sweep.
    if (auto final = reader.TakeStats(tgid)) Add(tgid, TcpStatsDelta(*final, now), now_ns);
    last_.erase(tgid);
  }
  std::erase_if(last_, [&](const auto& kv) { return !present.count(kv.first); });

  const auto c = reader.ReadCounters();
  for (int i = 0; i < SL_TCP_CNT_MAX; i++) {
    Unattributed& u = unattributed_counters_[i];
    if (!u.counter) continue;
    if (c[i] > u.last) u.counter->Increment(double(c[i] - u.last));
    u.last = c[i];
  }
  return c;
}

}  // namespace sightline::metrics
