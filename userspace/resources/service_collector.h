// Per-service process resources, named after the OpenTelemetry process
// metrics (process_cpu_time_seconds_total, process_memory_usage_bytes, ...)
// and labelled with service_name. A process is followed once the daemon has
// seen it open a TCP connection (Note), until it exits.
//
// The daemon's own process metrics (process_* without labels) come from
// metrics::ProcessCollector; none of the names here is one of those, since a
// family exported twice breaks the exposition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/labels.h"
#include "prometheus/metric_family.h"
#include "resources/pid_stat.h"

namespace sightline::resources {

struct ServiceCollectorOptions {
  std::string proc_root = "/proc";
  // One series per process (process_pid label) instead of one per service.
  bool pid_label = false;
  // Processes followed at once; past it, new ones are shed and counted.
  std::size_t max_processes = 4096;
  // 0: sysconf(_SC_CLK_TCK) and sysconf(_SC_PAGESIZE); fixed in tests.
  long ticks_per_second = 0;
  long page_size = 0;
};

class ServiceCollector : public prometheus::Collectable {
 public:
  explicit ServiceCollector(ServiceCollectorOptions o = {});

  // The process `pid` belongs to the service `key` names, whose series carry
  // `labels` (service_name and, in a pod, its k8s_* labels): from now on it
  // is followed. Cheap and never reads /proc (it is called for every
  // connection opened); the note is applied at the next Sweep or scrape.
  // Thread safe.
  void Note(uint32_t pid, const std::string& key, const prometheus::Labels& labels);
  // A service known by its name alone.
  void Note(uint32_t pid, std::string_view service_name);

  // Reads /proc/<pid>/stat of every followed process: keeps the last CPU
  // reading of each, so a process that exits before the next scrape still
  // counts, and folds and forgets the ones that exited. Called once a second.
  void Sweep();

  // Reads every followed process (stat and the fd directory) and renders the
  // families. A file that cannot be parsed is counted, never thrown over.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Processes followed now (for tests and the daemon's own accounting).
  std::size_t size() const;

 private:
  // What one read of /proc/<pid>/stat gives.
  using Stat = PidStat;
  struct Process {
    std::string service;  // the key of its service
    // CPU this process had when it started counting for `service` (0 for a
    // process followed from its first connection: its whole life counts).
    uint64_t base_user = 0, base_system = 0;
    Stat last;  // its start time tells it from a process that reused the pid
    std::optional<uint64_t> fds;  // from the last scrape
  };
  struct Service {
    prometheus::Labels labels;
    // Ticks of processes that exited (or moved to another service).
    uint64_t folded_user = 0, folded_system = 0;
    std::size_t live = 0;
    bool folded_any = false;
    uint64_t dead_since = 0;  // refresh generation at which `live` reached 0
  };
  enum class ReadResult { kOk, kGone, kMalformed };

  ReadResult ReadStat(uint32_t pid, Stat* out) const;
  std::optional<uint64_t> CountFds(uint32_t pid) const;
  // Applies pending notes and reads every process; with `fds`, counts open
  // descriptors too. Caller holds state_mu_.
  void Refresh(bool fds) const;
  void Fold(const Process& p) const;
  // nullptr: table full
  Service* ServiceFor(const std::string& key, const prometheus::Labels& labels) const;
  // The labels of the service `key` names.
  std::vector<std::pair<std::string, std::string>> LabelsOf(const std::string& key) const;
  std::vector<prometheus::MetricFamily> Render() const;

  ServiceCollectorOptions o_;
  double ticks_per_second_;
  double page_size_;

  // Notes not yet applied: pid -> service, bounded by twice max_processes.
  mutable std::mutex notes_mu_;
  struct Pending {
    std::string service;  // key
    prometheus::Labels labels;
    uint64_t at = 0;  // clock ticks after boot, as a process's start time
  };
  mutable std::unordered_map<uint32_t, Pending> pending_;
  mutable uint64_t notes_shed_ = 0;

  // Everything below: under state_mu_, held while /proc is read (Note never
  // waits for it).
  mutable std::mutex state_mu_;
  mutable std::unordered_map<uint32_t, Process> processes_;
  mutable std::map<std::string, Service> services_;
  // Processes refused for lack of room, pid -> start, so each is counted once.
  mutable std::unordered_map<uint32_t, uint64_t> refused_;
  mutable uint64_t generation_ = 0;
  mutable uint64_t shed_process_limit_ = 0;
  mutable uint64_t shed_service_limit_ = 0;
  mutable uint64_t exited_unread_ = 0;
  mutable uint64_t notes_dropped_ = 0;
  mutable uint64_t stat_errors_ = 0;
  mutable uint64_t fd_errors_ = 0;
};

}  // namespace sightline::resources
