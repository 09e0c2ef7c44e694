#include "k8s/setup.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace sightline::k8s {

std::unique_ptr<K8sStack> K8sStack::Create(const config::Options& o, prometheus::Registry& registry,
                                           process::ProcessTable& processes, Clock clock) {
  if (o.k8s_metadata == "off") return nullptr;
  std::string warning;
  auto config =
      ResolveApiConfig(o.k8s_api_url, o.k8s_token_file, o.k8s_ca_file, o.k8s_node_name, &warning);
  if (!config) {
    spdlog::debug("not in a Kubernetes cluster: processes are named without workload metadata");
    return nullptr;
  }
  if (!warning.empty()) spdlog::warn("{}", warning);
  std::unique_ptr<K8sStack> s(new K8sStack());
  s->processes_ = &processes;
  s->client_ = std::make_unique<ApiClient>(*config);
  MetadataOptions mo;
  mo.node_name = config->node_name;
  mo.api_url = config->url;
  mo.resync_ns = uint64_t(o.k8s_resync_seconds) * 1'000'000'000ull;
  ApiClient* client = s->client_.get();
  s->metadata_ = std::make_unique<Metadata>(
      mo, [client](const std::string& path) { return client->Get(path); }, clock, registry);
  s->workloads_ = std::make_unique<Workloads>(o.proc_root, *s->metadata_, registry);
  processes.set_workload_resolver(PodResolver(*s->workloads_, clock), o.k8s_pod_label);
  s->metadata_->Start();
  spdlog::info("Kubernetes metadata: listing the pods of node {} from {} every {} s",
               config->node_name, config->url, o.k8s_resync_seconds);
  return s;
}

void K8sStack::Sweep(uint64_t now_ns) {
  if (workloads_->Sweep(now_ns)) processes_->MarkStale();
}

uint32_t SelfPid(const std::string& proc_root) {
  if (proc_root != "/proc") {
    char buf[32];
    const ssize_t n = readlink((proc_root + "/self").c_str(), buf, sizeof(buf));
    uint32_t pid = 0;
    if (n > 0 && std::from_chars(buf, buf + n, pid).ec == std::errc() && pid > 0) return pid;
    spdlog::warn("cannot read {}/self: the daemon may observe its own traffic", proc_root);
  }
  return uint32_t(getpid());
}

bool PidAlive(const std::string& proc_root, uint32_t pid) {
  if (proc_root == "/proc") return kill(pid_t(pid), 0) == 0 || errno != ESRCH;
  struct stat st;
  return stat((proc_root + "/" + std::to_string(pid)).c_str(), &st) == 0;
}

}  // namespace sightline::k8s
