// The labels that name who a per-service series is about: service_name and,
// for a process in a Kubernetes pod, its pod's k8s_* labels.
#pragma once

#include <string_view>

namespace sightline::process {

inline constexpr const char* kServiceNameLabel = "service_name";
inline constexpr const char* kK8sNamespaceLabel = "k8s_namespace_name";
inline constexpr const char* kK8sPodLabel = "k8s_pod_name";
inline constexpr const char* kK8sContainerLabel = "k8s_container_name";

inline bool IsIdentityLabel(std::string_view name) {
  return name == kServiceNameLabel || name == kK8sNamespaceLabel || name == kK8sPodLabel ||
         name == kK8sContainerLabel;
}

}  // namespace sightline::process
