// service_name order with Kubernetes metadata: OTEL_SERVICE_NAME, then the
// workload, then the executable; and the info series that join them.
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "k8s/metadata.h"
#include "k8s/workloads.h"
#include "metrics/http_metrics.h"
#include "metrics/route.h"
#include "process/process_table.h"

namespace {

namespace fs = std::filesystem;
using namespace sightline::k8s;
using sightline::process::ProcessTable;

const std::string kApp = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
const std::string kNew = "9999999999999999999999999999999999999999999999999999999999999999";
const std::string kUid = "5f8c2e6a-1b3d-4c7e-9a0f-2d4b6e8a0c1e";

std::string PodList(bool with_new) {
  std::string statuses = R"({"name":"app","containerID":"containerd://)" + kApp + R"("})";
  if (with_new) statuses += R"(,{"name":"sidecar","containerID":"containerd://)" + kNew + R"("})";
  return R"({"kind":"PodList","items":[{"metadata":{"name":"checkout-7d9f8b6c5-x2x9k",
    "namespace":"shop","uid":")" +
         kUid + R"(","labels":{"pod-template-hash":"7d9f8b6c5"},
    "ownerReferences":[{"kind":"ReplicaSet","name":"checkout-7d9f8b6c5","controller":true}]},
    "status":{"containerStatuses":[)" +
         statuses + "]}}]}";
}

class K8sNaming : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sightline-k8s-proc-" + std::to_string(getpid()));
    fs::remove_all(root_);
    MetadataOptions o;
    o.node_name = "node-a";
    metadata_ = std::make_unique<Metadata>(
        o,
        [this](const std::string& path) -> HttpResult {
          ++requests_;
          if (path.starts_with("/api/v1/pods")) return {200, PodList(with_new_), "", ""};
          if (path.ends_with("/replicasets/checkout-7d9f8b6c5")) {
            return {200, R"({"metadata":{"ownerReferences":[{"kind":"Deployment",
                "name":"checkout","controller":true}]}})",
                    "", ""};
          }
          return {404, "", "", ""};
        },
        [] { return uint64_t(1); }, registry_);
    workloads_ = std::make_unique<Workloads>(root_.string(), *metadata_, registry_, 2);
    table_ = std::make_unique<ProcessTable>(root_.string(), "");
    table_->set_workload_resolver(PodResolver(*workloads_, [this] { return now_; }));
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddProcess(uint32_t pid, const std::string& exe, const std::string& environ,
                  const std::string& container) {
    fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir);
    fs::create_symlink(exe, dir / "exe");
    std::ofstream(dir / "environ", std::ios::binary) << environ;
    std::ofstream(dir / "cgroup") << "0::/kubepods/besteffort/pod" << kUid << "/" << container
                                  << "\n";
  }

  // label set -> value of sightline_k8s_workload_info
  std::map<std::map<std::string, std::string>, double> Info() {
    std::map<std::map<std::string, std::string>, double> out;
    for (const auto& f : registry_.Collect()) {
      if (f.name != "sightline_k8s_workload_info") continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label) labels[l.name] = l.value;
        out[labels] = m.gauge.value;
      }
    }
    return out;
  }

  fs::path root_;
  prometheus::Registry registry_;
  std::unique_ptr<Metadata> metadata_;
  std::unique_ptr<Workloads> workloads_;
  std::unique_ptr<ProcessTable> table_;
  bool with_new_ = false;
  int requests_ = 0;
  uint64_t now_ = 1;
};

TEST_F(K8sNaming, OtelThenWorkloadThenExecutable) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(10, "/usr/bin/python3.11", "OTEL_SERVICE_NAME=billing\0"s, kApp);
  AddProcess(11, "/usr/bin/python3.11", "PATH=/bin\0"s, kApp);
  // A host process: no pod in its cgroup path.
  fs::create_directories(root_ / "12");
  fs::create_symlink("/usr/sbin/nginx", root_ / "12" / "exe");
  std::ofstream(root_ / "12" / "cgroup") << "0::/system.slice/nginx.service\n";
  EXPECT_EQ(table_->Lookup(10, "python3", now_).service_name, "billing");
  EXPECT_EQ(table_->Lookup(11, "python3", now_).service_name, "checkout");
  EXPECT_EQ(table_->Lookup(12, "nginx", now_).service_name, "nginx");
}

TEST_F(K8sNaming, NoSnapshotYetFallsBackToExecutable) {
  using namespace std::string_literals;
  AddProcess(11, "/usr/bin/python3.11", "PATH=/bin\0"s, kApp);
  EXPECT_EQ(table_->Lookup(11, "python3", now_).service_name, "python3.11");
}

TEST_F(K8sNaming, UnknownContainerNamedOnceTheNextListKnowsIt) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(20, "/usr/bin/envoy", "PATH=/bin\0"s, kNew);
  EXPECT_EQ(table_->Lookup(20, "envoy", now_).service_name, "checkout");  // via its pod uid
  // The pod is known, the container not yet: no info series until it is.
  workloads_->Seen(20, "checkout", now_);
  EXPECT_EQ(Info().size(), 1u);
  EXPECT_EQ(Info().begin()->first.at("k8s_container_name"), "");
  EXPECT_FALSE(workloads_->Sweep(now_));  // nothing new yet
  with_new_ = true;
  ASSERT_TRUE(metadata_->ListOnce());
  EXPECT_TRUE(workloads_->Sweep(now_));  // names are worth reading again
  table_->MarkStale();
  workloads_->Seen(20, "checkout", now_);
  auto info = Info();
  ASSERT_EQ(info.size(), 1u);  // the pod-level series left with the new snapshot
  EXPECT_EQ(info.begin()->first.at("k8s_container_name"), "sidecar");
}

TEST_F(K8sNaming, ContainerNeverListedDoesNotKeepNamesChurning) {
  using namespace std::string_literals;
  // A pod's sandbox (pause) runs in a container no status ever lists.
  const std::string sandbox(64, 'e');
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(30, "/pause", "PATH=/bin\0"s, sandbox);
  EXPECT_EQ(table_->Lookup(30, "pause", now_).service_name, "checkout");  // via its pod
  EXPECT_FALSE(workloads_->Sweep(now_));
  ASSERT_TRUE(metadata_->ListOnce());
  EXPECT_FALSE(workloads_->Sweep(now_));  // still unknown: nothing to read again
  ASSERT_TRUE(metadata_->ListOnce());
  EXPECT_FALSE(workloads_->Sweep(now_));
}

TEST_F(K8sNaming, InfoSeriesPerLiveContainerBounded) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(11, "/usr/bin/python3.11", "PATH=/bin\0"s, kApp);
  AddProcess(12, "/usr/bin/python3.11", "OTEL_SERVICE_NAME=billing\0"s, kApp);
  AddProcess(13, "/usr/bin/python3.11", "OTEL_SERVICE_NAME=third\0"s, kApp);
  workloads_->Seen(11, table_->Lookup(11, "python3", now_).service_name, now_);
  workloads_->Seen(11, "checkout", now_);  // seen again: the same series
  workloads_->Seen(12, table_->Lookup(12, "python3", now_).service_name, now_);
  workloads_->Seen(13, "third", now_);  // past the cap of 2
  auto info = Info();
  ASSERT_EQ(info.size(), 2u);
  std::map<std::string, std::string> want = {{"service_name", "checkout"},
                                             {"k8s_namespace_name", "shop"},
                                             {"k8s_workload_kind", "Deployment"},
                                             {"k8s_workload_name", "checkout"},
                                             {"k8s_pod_name", "checkout-7d9f8b6c5-x2x9k"},
                                             {"k8s_container_name", "app"}};
  EXPECT_EQ(info.at(want), 1);
  want["service_name"] = "billing";
  EXPECT_EQ(info.at(want), 1);
  double dropped = -1;
  for (const auto& f : registry_.Collect()) {
    if (f.name == "sightline_k8s_workload_info_dropped_total") dropped = f.metric[0].counter.value;
  }
  EXPECT_EQ(dropped, 1);
  // A host process gets none.
  fs::create_directories(root_ / "14");
  std::ofstream(root_ / "14" / "cgroup") << "0::/user.slice\n";
  workloads_->Seen(14, "bash", now_);
  EXPECT_EQ(Info().size(), 2u);
}

using Labels = std::map<std::string, std::string>;

TEST_F(K8sNaming, SeriesLabelsNameTheNamespaceAndContainerWhateverNamedTheService) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(10, "/usr/bin/python3.11", "OTEL_SERVICE_NAME=billing\0"s, kApp);
  AddProcess(11, "/usr/bin/python3.11", "PATH=/bin\0"s, kApp);
  fs::create_directories(root_ / "12");
  fs::create_symlink("/usr/sbin/nginx", root_ / "12" / "exe");
  std::ofstream(root_ / "12" / "cgroup") << "0::/system.slice/nginx.service\n";
  const auto& billing = table_->Lookup(10, "python3", now_);
  EXPECT_EQ(billing.labels, (Labels{{"service_name", "billing"},
                                    {"k8s_namespace_name", "shop"},
                                    {"k8s_container_name", "app"}}));
  const auto& checkout = table_->Lookup(11, "python3", now_);
  EXPECT_EQ(checkout.labels, (Labels{{"service_name", "checkout"},
                                     {"k8s_namespace_name", "shop"},
                                     {"k8s_container_name", "app"}}));
  ASSERT_TRUE(checkout.pod.has_value());
  EXPECT_EQ(checkout.pod->pod_name, "checkout-7d9f8b6c5-x2x9k");  // for logs, not a label
  const auto& nginx = table_->Lookup(12, "nginx", now_);
  EXPECT_EQ(nginx.labels, (Labels{{"service_name", "nginx"}}));
  EXPECT_EQ(nginx.key, "nginx");
  EXPECT_FALSE(nginx.pod.has_value());
  // The same name in another namespace is another service.
  EXPECT_NE(checkout.key, "checkout");
  EXPECT_NE(checkout.key, billing.key);
}

TEST_F(K8sNaming, PodLabelWhenAskedFor) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  ProcessTable table(root_.string(), "");
  table.set_workload_resolver(PodResolver(*workloads_, [this] { return now_; }), true);
  AddProcess(11, "/usr/bin/python3.11", "PATH=/bin\0"s, kApp);
  EXPECT_EQ(table.Lookup(11, "python3", now_).labels,
            (Labels{{"service_name", "checkout"},
                    {"k8s_namespace_name", "shop"},
                    {"k8s_pod_name", "checkout-7d9f8b6c5-x2x9k"},
                    {"k8s_container_name", "app"}}));
}

TEST_F(K8sNaming, OnlyThePodKnownLeavesTheContainerLabelOut) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(20, "/usr/bin/envoy", "PATH=/bin\0"s, kNew);
  EXPECT_EQ(table_->Lookup(20, "envoy", now_).labels,
            (Labels{{"service_name", "checkout"}, {"k8s_namespace_name", "shop"}}));
}

TEST_F(K8sNaming, HttpSeriesCarryThePodLabels) {
  using namespace std::string_literals;
  ASSERT_TRUE(metadata_->ListOnce());
  AddProcess(11, "/usr/bin/python3.11", "PATH=/bin\0"s, kApp);
  prometheus::Registry registry;
  sightline::metrics::RouteNormalizer routes;
  sightline::metrics::HttpMetrics http(registry, *table_, routes, 100, [this] { return now_; });
  sightline::conn::ConnectionInfo conn;
  conn.pid = 11;
  conn.comm = "python3";
  sightline::http1::Transaction t;
  t.side = sightline::http1::Side::kServer;
  t.method = "GET";
  t.target = "/api/orders/42";
  t.status = 200;
  t.answered = true;
  t.request_start_ns = 1'000'000;
  t.response_end_ns = 3'000'000;
  http.OnHttp(conn, t);
  http.OnHttp(conn, t);
  std::map<Labels, uint64_t> counts;
  for (const auto& f : registry.Collect()) {
    if (f.name != "http_server_request_duration_seconds") continue;
    for (const auto& m : f.metric) {
      Labels l;
      for (const auto& x : m.label) l[x.name] = x.value;
      counts[l] = m.histogram.sample_count;
    }
  }
  const Labels want = {{"service_name", "checkout"},
                       {"k8s_namespace_name", "shop"},
                       {"k8s_container_name", "app"},
                       {"http_request_method", "GET"},
                       {"http_response_status_code", "200"},
                       {"http_route", "/api/orders/{id}"}};
  EXPECT_EQ(counts, (std::map<Labels, uint64_t>{{want, 2}}));
}

}  // namespace
