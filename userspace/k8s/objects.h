// The few fields of Kubernetes API objects that name a workload, parsed from
// the JSON the API server sends. Pure functions: no network, so they run in
// unit tests over recorded answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sightline::k8s {

struct OwnerRef {
  std::string kind;  // ReplicaSet, StatefulSet, DaemonSet, Job, ...
  std::string name;
};

struct Pod {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string template_hash;           // the pod-template-hash label, when a ReplicaSet made it
  std::optional<OwnerRef> controller;  // the ownerReference with controller: true
  // Container id (bare hex, the runtime prefix stripped) -> container name, for
  // regular, init and ephemeral containers that have started.
  std::unordered_map<std::string, std::string> containers;
};

// What service_name and the k8s_* labels are made of.
struct Workload {
  std::string namespace_name;
  std::string kind;  // Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, Pod, ...
  std::string name;
  std::string pod_name;
  std::string container_name;  // "" when only the pod is known
};

// The pods of a PodList (GET /api/v1/pods). nullopt with *error when the
// document is not a PodList; pods missing their metadata are skipped.
std::optional<std::vector<Pod>> ParsePodList(std::string_view json, std::string* error);

// The controller ownerReference of any object (a ReplicaSet, a Job), or
// nullopt when it has none; *error set (and nullopt) when the JSON is invalid.
std::optional<OwnerRef> ParseController(std::string_view json, std::string* error);

// "containerd://<id>" -> "<id>"; "" when there is no id yet (not started).
std::string StripRuntimePrefix(std::string_view container_id);

// The workload of a pod whose controller's own controller is `grand` (looked up
// by the caller: the Deployment of a ReplicaSet, the CronJob of a Job; nullopt
// when it has none or was not looked up).
Workload WorkloadOf(const Pod& pod, const std::optional<OwnerRef>& grand);

// The Deployment a ReplicaSet most likely belongs to when the ReplicaSet cannot
// be read: its name minus "-<pod-template-hash>"; nullopt when it does not end so.
std::optional<std::string> DeploymentFromReplicaSetName(std::string_view replica_set,
                                                        std::string_view template_hash);

}  // namespace sightline::k8s
