// This node's pods and the workloads that own them, kept current by a thread
// of its own that lists them from the Kubernetes API and publishes each
// result as an immutable snapshot, so the main loop never waits on the network.
//
// Why a periodic list and not a watch: a list of one node's pods (field
// selector on spec.nodeName, served from the API server's cache) every 15 s
// is cheap, needs no resourceVersion bookkeeping or 410 Gone handling, and
// recovers from any failure by itself. A container the daemon sees before the
// next list asks for an early one (rate limited), so new pods are named within
// about a second.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "k8s/api_client.h"
#include "k8s/objects.h"

namespace sightline::k8s {

struct Snapshot {
  std::unordered_map<std::string, Workload> containers;  // by container id
  std::unordered_map<std::string, Workload> pods;        // by pod uid, container_name ""
  uint64_t generation = 0;                               // successful lists so far
};

struct MetadataOptions {
  std::string node_name;
  std::string api_url;  // for log lines only
  uint64_t resync_ns = 15'000'000'000ull;
  uint64_t min_relist_gap_ns = 1'000'000'000ull;  // early re-lists at most this often
  uint64_t owner_retry_ns = 60'000'000'000ull;    // a failed owner lookup is tried again after
  uint64_t log_repeat_ns = 300'000'000'000ull;    // the same failure is logged again after
};

class Metadata {
 public:
  using Fetch = std::function<HttpResult(const std::string& path_and_query)>;
  using Clock = std::function<uint64_t()>;

  Metadata(MetadataOptions options, Fetch fetch, Clock clock, prometheus::Registry& registry);
  ~Metadata();  // stops the thread
  Metadata(const Metadata&) = delete;
  Metadata& operator=(const Metadata&) = delete;

  // Lists on a thread of its own from now on.
  void Start();

  // The latest snapshot (empty before the first successful list). Any thread.
  std::shared_ptr<const Snapshot> Current() const;

  // A container unknown to the current snapshot was seen: list again soon.
  void RequestRelist();

  // One list and owner resolution, on the calling thread; true when it
  // published a snapshot. The thread runs this; tests call it directly.
  bool ListOnce();

 private:
  struct OwnerEntry {
    std::optional<OwnerRef> controller;  // of the ReplicaSet or Job
    bool ok = false;
    uint64_t retry_ns = 0;  // failed lookups: when to try again
  };
  // The controller of `owner` (a ReplicaSet's Deployment, a Job's CronJob).
  std::optional<OwnerRef> GrandOwner(const Pod& pod, const OwnerRef& owner, uint64_t now,
                                     std::unordered_map<std::string, OwnerEntry>& used);
  // Counts a failed request and logs it unless the same failure was logged lately.
  void Failed(const std::string& what, const HttpResult& r, const std::string& reason);
  void Run();

  MetadataOptions options_;
  Fetch fetch_;
  Clock clock_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Gauge& pods_gauge_;

  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const Snapshot> snapshot_;

  // Thread state below: owners_ and the log bookkeeping only on the listing thread.
  std::unordered_map<std::string, OwnerEntry> owners_;  // "ns/Kind/name"
  std::string last_logged_reason_;
  uint64_t last_logged_ns_ = 0;
  uint64_t suppressed_ = 0;
  bool failing_ = false;
  uint64_t generation_ = 0;

  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool relist_requested_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sightline::k8s
