#include "k8s/objects.h"

#include <nlohmann/json.hpp>

namespace sightline::k8s {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<OwnerRef> ControllerOf(const json& metadata) {
  auto refs = metadata.find("ownerReferences");
  if (refs == metadata.end() || !refs->is_array()) return std::nullopt;
  for (const json& ref : *refs) {
    if (!ref.is_object()) continue;
    auto controller = ref.find("controller");
    if (controller == ref.end() || !controller->is_boolean() || !controller->get<bool>()) continue;
    OwnerRef out{Str(ref, "kind"), Str(ref, "name")};
    if (!out.kind.empty() && !out.name.empty()) return out;
  }
  return std::nullopt;
}

void AddStatuses(const json& status, const char* key,
                 std::unordered_map<std::string, std::string>& out) {
  auto list = status.find(key);
  if (list == status.end() || !list->is_array()) return;
  for (const json& c : *list) {
    if (!c.is_object()) continue;
    std::string id = StripRuntimePrefix(Str(c, "containerID"));
    std::string name = Str(c, "name");
    if (!id.empty() && !name.empty()) out.emplace(std::move(id), std::move(name));
  }
}

}  // namespace

std::string StripRuntimePrefix(std::string_view id) {
  const size_t sep = id.find("://");
  if (sep != std::string_view::npos) id.remove_prefix(sep + 3);
  return std::string(id);
}

std::optional<std::vector<Pod>> ParsePodList(std::string_view text, std::string* error) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "not JSON";
    return std::nullopt;
  }
  if (Str(doc, "kind") != "PodList") {
    *error = "not a PodList (kind '" + Str(doc, "kind") + "')";
    return std::nullopt;
  }
  std::vector<Pod> pods;
  auto items = doc.find("items");
  // An empty list may come as "items": null.
  if (items == doc.end() || !items->is_array()) return pods;
  for (const json& item : *items) {
    if (!item.is_object()) continue;
    auto md = item.find("metadata");
    if (md == item.end() || !md->is_object()) continue;
    Pod pod;
    pod.namespace_name = Str(*md, "namespace");
    pod.name = Str(*md, "name");
    pod.uid = Str(*md, "uid");
    if (pod.name.empty() || pod.uid.empty()) continue;
    if (auto labels = md->find("labels"); labels != md->end() && labels->is_object()) {
      pod.template_hash = Str(*labels, "pod-template-hash");
    }
    pod.controller = ControllerOf(*md);
    if (auto st = item.find("status"); st != item.end() && st->is_object()) {
      AddStatuses(*st, "containerStatuses", pod.containers);
      AddStatuses(*st, "initContainerStatuses", pod.containers);
      AddStatuses(*st, "ephemeralContainerStatuses", pod.containers);
    }
    pods.push_back(std::move(pod));
  }
  return pods;
}

std::optional<OwnerRef> ParseController(std::string_view text, std::string* error) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "not JSON";
    return std::nullopt;
  }
  error->clear();
  auto md = doc.find("metadata");
  if (md == doc.end() || !md->is_object()) return std::nullopt;
  return ControllerOf(*md);
}

std::optional<std::string> DeploymentFromReplicaSetName(std::string_view rs,
                                                        std::string_view hash) {
  if (hash.empty() || rs.size() <= hash.size() + 1) return std::nullopt;
  if (!rs.ends_with(hash) || rs[rs.size() - hash.size() - 1] != '-') return std::nullopt;
  return std::string(rs.substr(0, rs.size() - hash.size() - 1));
}

Workload WorkloadOf(const Pod& pod, const std::optional<OwnerRef>& grand) {
  Workload w;
  w.namespace_name = pod.namespace_name;
  w.pod_name = pod.name;
  if (!pod.controller) {
    w.kind = "Pod";  // a bare pod is its own workload
    w.name = pod.name;
    return w;
  }
  const OwnerRef& owner = pod.controller->kind == "ReplicaSet" || pod.controller->kind == "Job"
                              ? (grand ? *grand : *pod.controller)
                              : *pod.controller;
  w.kind = owner.kind;
  w.name = owner.name;
  return w;
}

}  // namespace sightline::k8s
