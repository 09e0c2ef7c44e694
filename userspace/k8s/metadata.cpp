#include "k8s/metadata.h"

#include <spdlog/spdlog.h>

namespace sightline::k8s {
namespace {

// Why a failed answer failed, as the errors counter's reason label.
std::string StatusReason(long status) {
  if (status == 401) return "unauthorized";
  if (status == 403) return "forbidden";
  if (status == 404) return "not_found";
  return "http_status";
}

std::string Hint(const std::string& reason) {
  if (reason == "unauthorized") {
    return ": the service account token was refused (--k8s-token-file)";
  }
  if (reason == "forbidden") {
    return ": the service account needs list on pods and get on replicasets and jobs (see "
           "README, Kubernetes)";
  }
  if (reason == "tls") return ": check the CA file (--k8s-ca-file)";
  return "";
}

}  // namespace

Metadata::Metadata(MetadataOptions options, Fetch fetch, Clock clock,
                   prometheus::Registry& registry)
    : options_(std::move(options)),
      fetch_(std::move(fetch)),
      clock_(std::move(clock)),
      errors_(prometheus::BuildCounter()
                  .Name("sightline_k8s_api_errors_total")
                  .Help("Failed Kubernetes API requests by reason (connect, tls, timeout, "
                        "transport, unauthorized, forbidden, not_found, http_status, "
                        "bad_response); processes keep their fallback names meanwhile")
                  .Register(registry)),
      pods_gauge_(prometheus::BuildGauge()
                      .Name("sightline_k8s_pods")
                      .Help("Pods of this node in the latest list from the Kubernetes API")
                      .Register(registry)
                      .Add({})),
      snapshot_(std::make_shared<const Snapshot>()) {}

Metadata::~Metadata() {
  {
    std::lock_guard lock(wake_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Metadata::Start() {
  thread_ = std::thread([this] { Run(); });
}

std::shared_ptr<const Snapshot> Metadata::Current() const {
  std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

void Metadata::RequestRelist() {
  {
    std::lock_guard lock(wake_mu_);
    if (relist_requested_) return;
    relist_requested_ = true;
  }
  wake_.notify_all();
}

void Metadata::Run() {
  uint64_t last_list = 0;
  bool first = true;
  std::unique_lock lock(wake_mu_);
  while (!stop_) {
    const uint64_t now = clock_();
    const bool due = first || now >= last_list + options_.resync_ns;
    const bool early = relist_requested_ && now >= last_list + options_.min_relist_gap_ns;
    if (due || early) {
      relist_requested_ = false;
      lock.unlock();
      ListOnce();
      lock.lock();
      last_list = clock_();
      first = false;
      continue;
    }
    // Sleep until the next resync, or until an early re-list is allowed.
    uint64_t until = last_list + options_.resync_ns;
    if (relist_requested_) until = std::min(until, last_list + options_.min_relist_gap_ns);
    wake_.wait_for(lock, std::chrono::nanoseconds(until > now ? until - now : 0));
  }
}

void Metadata::Failed(const std::string& what, const HttpResult& r, const std::string& reason) {
  errors_.Add({{"reason", reason}}).Increment();
  const uint64_t now = clock_();
  // One clear line per kind of failure, then a reminder now and then: an API
  // that is down for an hour must not fill the log.
  if (reason == last_logged_reason_ && now < last_logged_ns_ + options_.log_repeat_ns) {
    ++suppressed_;
    return;
  }
  const std::string detail =
      !r.error.empty() ? r.error : "answered HTTP " + std::to_string(r.status);
  spdlog::error(
      "Kubernetes API {} did not give {} ({}: {}){}; processes are named by "
      "OTEL_SERVICE_NAME or their executable until it answers{}",
      options_.api_url, what, reason, detail, Hint(reason),
      suppressed_ ? " (" + std::to_string(suppressed_) +
                        " more failures since the "
                        "last line)"
                  : "");
  last_logged_reason_ = reason;
  last_logged_ns_ = now;
  suppressed_ = 0;
}

std::optional<OwnerRef> Metadata::GrandOwner(const Pod& pod, const OwnerRef& owner, uint64_t now,
                                             std::unordered_map<std::string, OwnerEntry>& used) {
  const std::string key = pod.namespace_name + "/" + owner.kind + "/" + owner.name;
  if (auto it = used.find(key); it != used.end()) return it->second.controller;
  auto cached = owners_.find(key);
  if (cached != owners_.end() && (cached->second.ok || now < cached->second.retry_ns)) {
    used.emplace(key, cached->second);
    return cached->second.controller;
  }
  const std::string path = (owner.kind == "ReplicaSet"
                                ? "/apis/apps/v1/namespaces/" + pod.namespace_name + "/replicasets/"
                                : "/apis/batch/v1/namespaces/" + pod.namespace_name + "/jobs/") +
                           owner.name;
  OwnerEntry entry;
  HttpResult r = fetch_(path);
  std::string error;
  if (r.status == 200) {
    entry.controller = ParseController(r.body, &error);
    if (error.empty()) {
      entry.ok = true;
    } else {
      r.error = error;
      Failed(owner.kind + " " + key, r, "bad_response");
    }
  } else if (r.status == 404) {
    // Deleted (orphaned pod, or a Job cleaned up): the owner itself names it.
    entry.ok = true;
  } else {
    Failed(owner.kind + " " + key, r, r.status ? StatusReason(r.status) : r.reason);
  }
  if (!entry.ok) {
    entry.retry_ns = now + options_.owner_retry_ns;
    // A Deployment's ReplicaSets are named <deployment>-<pod-template-hash>.
    if (owner.kind == "ReplicaSet") {
      if (auto d = DeploymentFromReplicaSetName(owner.name, pod.template_hash)) {
        entry.controller = OwnerRef{"Deployment", *d};
      }
    }
  }
  used.emplace(key, entry);
  return entry.controller;
}

bool Metadata::ListOnce() {
  const std::string what = "the pods of node " + options_.node_name;
  HttpResult r =
      fetch_("/api/v1/pods?fieldSelector=" + UrlEncode("spec.nodeName=" + options_.node_name) +
             "&resourceVersion=0");
  if (r.status != 200) {
    Failed(what, r, r.status ? StatusReason(r.status) : r.reason);
    failing_ = true;
    return false;
  }
  std::string error;
  auto pods = ParsePodList(r.body, &error);
  if (!pods) {
    r.error = error;
    Failed(what, r, "bad_response");
    failing_ = true;
    return false;
  }
  const uint64_t now = clock_();
  auto snap = std::make_shared<Snapshot>();
  std::unordered_map<std::string, OwnerEntry> used;
  for (const Pod& pod : *pods) {
    std::optional<OwnerRef> grand;
    if (pod.controller && (pod.controller->kind == "ReplicaSet" || pod.controller->kind == "Job")) {
      grand = GrandOwner(pod, *pod.controller, now, used);
    }
    Workload w = WorkloadOf(pod, grand);
    for (const auto& [id, name] : pod.containers) {
      Workload c = w;
      c.container_name = name;
      snap->containers.emplace(id, std::move(c));
    }
    snap->pods.emplace(pod.uid, std::move(w));
  }
  // Owners of pods gone from the node are forgotten; the rest stay cached.
  owners_ = std::move(used);
  snap->generation = ++generation_;
  pods_gauge_.Set(double(pods->size()));
  if (failing_ || generation_ == 1) {
    spdlog::info("Kubernetes API {}: {} pods on node {}", options_.api_url, pods->size(),
                 options_.node_name);
  }
  failing_ = false;
  last_logged_reason_.clear();
  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_ = std::move(snap);
  }
  return true;
}

}  // namespace sightline::k8s
