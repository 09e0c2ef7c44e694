// The labels every per-service series starts from: service_name and, for a
// process in a Kubernetes pod, the k8s_* labels of its pod (ProcessInfo).
#pragma once

#include <prometheus/labels.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "process/process_table.h"

namespace sightline::metrics {

inline prometheus::Labels ServiceLabels(
    const process::ProcessInfo& proc,
    std::initializer_list<std::pair<const std::string, std::string>> more = {}) {
  prometheus::Labels labels = proc.labels;
  labels.insert(more);
  return labels;
}

}  // namespace sightline::metrics
