#include "daemon/daemon.h"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <memory>
#include <unordered_set>

#include "alerts/alerting.h"
#include "alerts/channels.h"
#include "bpf/libbpf_setup.h"
#include "bpf/socket_probe.h"
#include "bpf/tcp_probe.h"
#include "bpf/tls_probe.h"
#include "business/engine.h"
#include "business/rules_sink.h"
#include "conn/tracker.h"
#include "decode/event.h"
#include "genai/accountant.h"
#include "genai/call_fanout.h"
#include "genai/pricing.h"
#include "k8s/setup.h"
#include "logs/access_log_setup.h"
#include "metrics/db_metrics.h"
#include "metrics/endpoint.h"
#include "metrics/genai_metrics.h"
#include "metrics/http_metrics.h"
#include "metrics/process_collector.h"
#include "metrics/route.h"
#include "metrics/self_metrics.h"
#include "metrics/tcp_metrics.h"
#include "process/process_table.h"
#include "protocols/db/factory.h"
#include "resources/host_collector.h"
#include "resources/service_collector.h"
#include "tls/tls_manager.h"
#include "version.h"

namespace sightline::daemon {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }

// The embedded price table, with --pricing-file laid over it.
std::shared_ptr<const genai::PricingTable> LoadPricing(const config::Options& o,
                                                       std::string* error) {
  if (o.pricing_file.empty()) {
    return std::make_shared<const genai::PricingTable>(genai::PricingTable::Embedded());
  }
  auto table = genai::PricingTable::WithOverrides(o.pricing_file, error);
  if (!table) return nullptr;
  return std::make_shared<const genai::PricingTable>(std::move(*table));
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
}

int64_t WallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// SIGHUP: a bad rules file keeps the rules in force.
void ReloadBusinessRules(const config::Options& o, business::RulesSink& sink,
                         business::Engine& engine) {
  std::string error;
  if (auto rules = business::LoadRules(o.business_rules, &error)) {
    const size_t n = rules->rules.size();
    sink.Reload(std::move(*rules));
    engine.CountReload(true);
    spdlog::info("business rules reloaded: {} metrics from {}", n, o.business_rules);
  } else {
    engine.CountReload(false);
    spdlog::error("business rules not reloaded, the previous ones stay: {}", error);
  }
}

conn::TrackerLimits TrackerLimitsFrom(const config::Options& o) {
  conn::TrackerLimits l;
  l.max_connections = o.max_connections;
  l.idle_timeout_ns = uint64_t(o.idle_timeout_seconds) * 1'000'000'000ull;
  l.http.max_head_bytes = o.max_head_bytes;
  return l;
}

// Routes decoded events to the tracker, applying the executable filter that
// the kernel cannot evaluate itself.
class Pipeline {
 public:
  Pipeline(const config::Options& o, metrics::SelfMetrics& self, conn::TransactionSink& sink,
           conn::DbSink& db, process::ProcessTable& processes)
      : self_(self),
        processes_(processes),
        filter_exe_(!o.exe_regex.empty()),
        proc_root_(o.proc_root),
        tracker_(TrackerLimitsFrom(o), sink, &db, db::MakeSession) {}

  void set_probe(bpf::SocketProbe* probe) { probe_ = probe; }
  void set_tls(tls::Manager* tls) { tls_ = tls; }
  void set_services(resources::ServiceCollector* services) { services_ = services; }
  void set_workloads(k8s::Workloads* workloads) { workloads_ = workloads; }

  void Handle(std::span<const std::byte> raw) {
    decode::Event ev = decode::Decode(raw);
    self_.CountEvent(ev);
    if (auto* open = std::get_if<decode::ConnOpen>(&ev)) {
      if (filter_exe_ && !processes_.Observed(open->pid, open->comm, MonotonicNs())) {
        Ignore(open->pid);
        return;
      }
      tracker_.OnOpen(*open);
      NoteService(open->pid, open->comm);
    } else if (auto* data = std::get_if<decode::Data>(&ev)) {
      if (!ignored_.empty() && ignored_.count(data->pid)) return;
      tracker_.OnData(*data);
    } else if (auto* close = std::get_if<decode::ConnClose>(&ev)) {
      if (!ignored_.empty() && ignored_.count(close->pid)) return;
      tracker_.OnClose(*close);
    } else if (auto* tls = std::get_if<decode::TlsData>(&ev)) {
      if (!ignored_.empty() && ignored_.count(tls->pid)) return;
      tracker_.OnTlsData(*tls);
    } else if (auto* bind = std::get_if<decode::TlsBind>(&ev)) {
      tracker_.OnTlsBind(*bind);
    } else if (auto* proto = std::get_if<decode::ConnProtocol>(&ev)) {
      if (!ignored_.empty() && ignored_.count(proto->pid)) return;
      tracker_.OnProtocol(*proto);
    } else if (auto* exit = std::get_if<decode::ProcessExit>(&ev)) {
      tracker_.OnProcessExit(*exit);
      if (tls_) tls_->OnExit(exit->pid);
    } else if (auto* exec = std::get_if<decode::ProcessExec>(&ev)) {
      if (tls_) tls_->OnExec(exec->pid, MonotonicNs());
    } else if (auto* info = std::get_if<decode::ProcessInfo>(&ev)) {
      processes_.Remember(info->pid, info->exe_name, info->environ, MonotonicNs());
      if (!filter_exe_ || processes_.Observed(info->pid, info->exe_name, MonotonicNs())) {
        NoteService(info->pid, info->exe_name);
      }
    }
  }

  void Sweep(uint64_t now_ns) {
    tracker_.Sweep(now_ns);
    processes_.Expire(now_ns);
    if (services_) services_->Sweep();
    // A pid we ignore may have exited and been reused by a process we want.
    std::erase_if(ignored_, [&](uint32_t pid) {
      if (k8s::PidAlive(proc_root_, pid)) return false;
      if (probe_) probe_->UnignoreTgid(pid);
      return true;
    });
    self_.UpdateTracker(tracker_.stats(), tracker_.size(), tracker_.buffered_bytes());
  }

  void Shutdown(uint64_t now_ns) {
    tracker_.CloseAll(now_ns);
    self_.UpdateTracker(tracker_.stats(), tracker_.size(), tracker_.buffered_bytes());
  }

 private:
  // Its resources are followed under its service name from now on.
  void NoteService(uint32_t pid, std::string_view comm) {
    const process::ProcessInfo& info = processes_.Lookup(pid, comm, MonotonicNs());
    if (services_) services_->Note(pid, info.key, info.labels);
    if (workloads_) workloads_->Seen(pid, info.service_name, MonotonicNs());
  }

  void Ignore(uint32_t pid) {
    if (ignored_.insert(pid).second && probe_) probe_->IgnoreTgid(pid);
  }

  metrics::SelfMetrics& self_;
  process::ProcessTable& processes_;
  bool filter_exe_;
  std::string proc_root_;
  conn::ConnectionTracker tracker_;
  bpf::SocketProbe* probe_ = nullptr;
  tls::Manager* tls_ = nullptr;
  resources::ServiceCollector* services_ = nullptr;
  k8s::Workloads* workloads_ = nullptr;
  std::unordered_set<uint32_t> ignored_;
};

}  // namespace

int RunDaemon(const config::Options& o) {
  spdlog::info("sightline {} ({}) starting", kVersion, kRevision);
  auto registry = std::make_shared<prometheus::Registry>();
  auto process_collector = std::make_shared<metrics::ProcessCollector>();
  auto host_collector = std::make_shared<resources::HostCollector>(o.proc_root);
  resources::ServiceCollectorOptions service_options;
  service_options.proc_root = o.proc_root;
  service_options.pid_label = o.process_metrics_pid;
  auto service_collector = std::make_shared<resources::ServiceCollector>(service_options);
  metrics::SelfMetrics self(*registry);
  process::ProcessTable processes(o.proc_root, o.exe_regex);
  // Kernel probes report host pids: with the host's /proc elsewhere, ours is read there.
  const uint32_t self_pid = k8s::SelfPid(o.proc_root);
  // Workload names from the Kubernetes API, when in a cluster.
  auto k8s_stack = k8s::K8sStack::Create(o, *registry, processes, MonotonicNs);
  metrics::RouteNormalizer routes(o.route_patterns);
  metrics::HttpMetrics http(*registry, processes, routes, o.series_budget, MonotonicNs);
  std::string pricing_error;
  auto pricing = LoadPricing(o, &pricing_error);
  if (!pricing) {
    spdlog::error("--pricing-file: {}", pricing_error);
    return 2;
  }
  metrics::GenAiMetrics genai_metrics(*registry, http.dropped_family(), processes,
                                      o.series_budget, pricing, MonotonicNs);
  genai::AccountantOptions ao;
  ao.detect.openai_compatible_hosts = o.openai_compatible_hosts;
  // Finished AI calls go to the metrics and to whoever else adds itself here.
  genai::CallFanout calls;
  calls.Add(&genai_metrics);
  genai::Accountant accountant(ao, http, calls);
  // The process on a connection, for the sinks that label by service.
  auto service_of = [&processes](const conn::ConnectionInfo& c) -> const process::ProcessInfo& {
    return processes.Lookup(c.pid, c.comm, MonotonicNs());
  };
  // Business rules, when given, see every exchange first and pass it on to the accountant.
  std::unique_ptr<business::Engine> business_engine;
  std::unique_ptr<business::RulesSink> business_rules;
  conn::TransactionSink* chain = &accountant;
  if (!o.business_rules.empty()) {
    std::string error;
    auto rules = business::LoadRules(o.business_rules, &error);
    if (!rules) {
      spdlog::error("--business-rules: {}", error);
      return 2;
    }
    business_engine =
        std::make_unique<business::Engine>(*registry, http.dropped_family(), o.series_budget);
    business_engine->Install(std::move(*rules));
    business_rules = std::make_unique<business::RulesSink>(*business_engine, accountant, service_of);
    chain = business_rules.get();
    spdlog::info("business rules: {} metrics from {}", business_engine->rules().rules.size(),
                 o.business_rules);
  }
  // JSON access lines: first in the chain, so they see every request's
  // correlation headers; AI calls reach them through the fanout.
  std::string log_error;
  auto access_log = logs::AccessLogStack::Create(o, *registry, *chain, routes, processes, pricing,
                                                 &log_error);
  if (!access_log && !log_error.empty()) {
    spdlog::error("{}", log_error);
    return 2;
  }
  if (access_log) {
    calls.Add(&access_log->sink());
    chain = &access_log->sink();
  }
  metrics::DbMetrics db_metrics(*registry, http.dropped_family(), http.parse_errors_family(),
                               processes, o.series_budget, MonotonicNs);
  // Threshold alerts see every exchange first; their channels come from the environment.
  std::unique_ptr<alerts::Alerting> alerting;
  std::unique_ptr<alerts::SignalSink> alert_sink;
  std::unique_ptr<alerts::CallSignalSink> alert_calls;
  {
    std::string error;
    auto alert_rules = alerts::LoadRules(o.alert_rules, &error);
    if (!alert_rules) {
      spdlog::error("--alert-rules: {}", error);
      return 2;
    }
    auto channels = alerts::ChannelsFromEnv(alerts::ProcessEnv(), &error);
    if (!channels) {
      spdlog::error("alert channels: {}", error);
      return 2;
    }
    const size_t n_rules = alert_rules->rules.size();
    alerting = std::make_unique<alerts::Alerting>(*registry, std::move(*alert_rules),
                                                  std::move(*channels), alerts::NotifierOptions{},
                                                  alerts::HostName());
    alert_sink = std::make_unique<alerts::SignalSink>(alerting->signals(), *chain, service_of,
                                                      MonotonicNs);
    alert_calls = std::make_unique<alerts::CallSignalSink>(alerting->signals(), service_of,
                                                           MonotonicNs, pricing);
    calls.Add(alert_calls.get());
    chain = alert_sink.get();
    spdlog::info("alerts: {} rules, {} channels", n_rules, alerting->channels());
  }
  Pipeline pipeline(o, self, *chain, db_metrics, processes);
  pipeline.set_services(service_collector.get());
  if (k8s_stack) pipeline.set_workloads(&k8s_stack->workloads());

  std::atomic<bool> healthy{false};
  std::unique_ptr<metrics::HttpEndpoint> endpoint;
  try {
    endpoint =
        std::make_unique<metrics::HttpEndpoint>(o.listen,
                                                std::vector<std::weak_ptr<prometheus::Collectable>>{
                                                    registry, process_collector, host_collector,
                                                    service_collector},
                                                [&healthy] { return healthy.load(); });
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  spdlog::info("serving /metrics and /healthz on {}", o.listen);

  bpf::RouteLibbpfLogToSpdlog();
  if (auto err = bpf::EnsureTracefs()) {
    spdlog::error("cannot attach tracepoints: {}", *err);
    self.SetProbeStatus("sockets", false);
    return 1;
  }

  std::unique_ptr<bpf::SocketProbe> probe;
  try {
    bpf::SocketProbeConfig cfg;
    cfg.self_tgid = self_pid;
    cfg.capture_size = o.capture_size;
    cfg.ring_buffer_size = o.ring_buffer_size;
    cfg.max_tracked_fds = o.max_tracked_fds;
    cfg.pids = o.pids;
    cfg.ports = o.ports;
    cfg.exclude_ports = o.exclude_ports;
    probe = std::make_unique<bpf::SocketProbe>(
        cfg, [&pipeline](std::span<const std::byte> raw) { pipeline.Handle(raw); });
  } catch (const std::exception& e) {
    spdlog::error("{} (run `sightline check` for what this kernel offers)", e.what());
    self.SetProbeStatus("sockets", false);
    return 1;
  }
  pipeline.set_probe(probe.get());
  self.SetProbeStatus("sockets", true);
  spdlog::info("socket probe attached: {} programs", probe->program_count());

  // TLS rides on the socket probe's connections; without it, plain traffic
  // is still observed.
  std::unique_ptr<bpf::TlsProbe> tls_probe;
  std::unique_ptr<tls::Manager> tls_manager;
  if (std::find(o.probes.begin(), o.probes.end(), "tls") != o.probes.end()) {
    try {
      bpf::TlsProbeConfig cfg;
      cfg.self_tgid = self_pid;
      cfg.capture_size = o.tls_capture_size;
      cfg.ring_buffer_size = o.ring_buffer_size;
      cfg.filter_pids = !o.pids.empty();
      tls_probe = std::make_unique<bpf::TlsProbe>(cfg, *probe);
      tls::ManagerOptions mo;
      mo.self_pid = self_pid;
      mo.proc_root = o.proc_root;
      auto* p = tls_probe.get();
      tls_manager = std::make_unique<tls::Manager>(
          mo,
          [p](const std::string& path, const std::vector<bpf::UprobeSpec>& specs,
              std::string* err) { return p->Attach(path, specs, err); },
          [p](uint64_t h) { p->Detach(h); });
      tls_manager->Start(MonotonicNs());
      pipeline.set_tls(tls_manager.get());
      self.SetProbeStatus("tls", true);
      self.UpdateTlsVisibility(tls_manager->Summary());
      spdlog::info("TLS probe loaded: {} binaries attached", tls_probe->attached_files());
    } catch (const std::exception& e) {
      spdlog::error("{}: TLS traffic will not be seen", e.what());
      tls_manager.reset();
      tls_probe.reset();
      self.SetProbeStatus("tls", false);
    }
  }

  // TCP health counters ride on their own skeleton: without them, traffic is
  // still observed.
  std::unique_ptr<bpf::TcpProbe> tcp_probe;
  std::unique_ptr<metrics::TcpMetrics> tcp_metrics;
  if (std::find(o.probes.begin(), o.probes.end(), "tcp") != o.probes.end()) {
    try {
      bpf::TcpProbeConfig cfg;
      cfg.self_tgid = self_pid;
      cfg.filter_pids = !o.pids.empty();
      tcp_probe = std::make_unique<bpf::TcpProbe>(cfg, *probe);
      tcp_metrics = std::make_unique<metrics::TcpMetrics>(
          *registry, http.dropped_family(), processes, o.series_budget,
          [&o](uint32_t pid) { return k8s::PidAlive(o.proc_root, pid); });
      self.SetProbeStatus("tcp", true);
      spdlog::info("TCP probe attached: {} programs", tcp_probe->program_count());
    } catch (const std::exception& e) {
      spdlog::error("{}: TCP health metrics will not be reported", e.what());
      tcp_metrics.reset();
      tcp_probe.reset();
      self.SetProbeStatus("tcp", false);
    }
  }
  healthy.store(true);

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup = {};
  hup.sa_handler = OnHangup;
  sigaction(SIGHUP, &hup, nullptr);

  uint64_t last_sweep = MonotonicNs();
  while (!g_stop.load()) {
    int n = probe->Poll(100);
    if (n < 0) {
      spdlog::error("reading the ring buffer failed: {}", std::strerror(-n));
      break;
    }
    uint64_t now = MonotonicNs();
    if (tls_manager) tls_manager->Tick(now);
    if (g_reload.exchange(false)) {
      // A bad file keeps the table in use: the daemon goes on pricing.
      std::string error;
      if (auto table = LoadPricing(o, &error)) {
        alert_calls->SetPricing(table);
        if (access_log) access_log->sink().SetPricing(table);
        genai_metrics.SetPricing(std::move(table));
        spdlog::info("price table reloaded{}",
                     o.pricing_file.empty() ? "" : " with " + o.pricing_file);
      } else {
        spdlog::error("price table not reloaded, the previous one stays: {}", error);
      }
      if (business_rules) ReloadBusinessRules(o, *business_rules, *business_engine);
    }
    if (now - last_sweep >= 1'000'000'000ull) {
      pipeline.Sweep(now);
      if (k8s_stack) k8s_stack->Sweep(now);
      if (access_log) access_log->Sweep(now);
      const auto socket_counters = probe->ReadCounters();
      self.UpdateKernel("sockets", socket_counters, probe->ReadProgramStats());
      self.UpdateGenAi(accountant.stats(), accountant.in_flight());
      alerting->Tick(alerts::ReadNode(*host_collector, alerts::LostEvents(socket_counters)), now,
                     WallMs());
      if (tls_probe) {
        self.UpdateTlsKernel(tls_probe->ReadCounters(), tls_probe->ReadProgramStats());
        self.UpdateTlsVisibility(tls_manager->Summary());
      }
      if (tcp_probe) {
        self.UpdateTcpKernel(tcp_metrics->Sweep(*tcp_probe, now), tcp_probe->ReadProgramStats());
      }
      last_sweep = now;
    }
  }

  spdlog::info("stopping: detaching probes");
  // Notifications already queued (a resolve, say) get a few seconds to go out.
  alerting->Stop(5.0);
  healthy.store(false);
  probe->Poll(0);
  pipeline.Shutdown(MonotonicNs());
  if (access_log) access_log->Drain();
  tls_manager.reset();
  tls_probe.reset();
  if (tcp_probe) tcp_metrics->Sweep(*tcp_probe, MonotonicNs());
  tcp_probe.reset();
  probe.reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sightline::daemon
