// Pod lists and owner resolution from recorded API answers: the workload
// each container is named after, the owner cache, and every failure counted.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "k8s/metadata.h"
#include "k8s/objects.h"

namespace {

using namespace sightline::k8s;

std::string Data(const std::string& name) {
  const auto path = std::filesystem::path(__FILE__).parent_path() / "data" / "k8s" / name;
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << path;
  return ss.str();
}

const char* kCheckout = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
const char* kEnvoy = "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";
const char* kMigrate = "0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff";
const char* kRedis = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const char* kExporter = "4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";
const char* kReport = "5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const char* kDebug = "6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";

const std::string kList = "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a&resourceVersion=0";
const std::string kReplicaSet = "/apis/apps/v1/namespaces/shop/replicasets/checkout-7d9f8b6c5";
const std::string kWebReplicaSet = "/apis/apps/v1/namespaces/shop/replicasets/web-5c8d7f9b6";
const std::string kJob = "/apis/batch/v1/namespaces/batch/jobs/nightly-report-29410560";

// A recorded API server: path -> answer; every request is logged.
struct FakeApi {
  std::map<std::string, HttpResult> answers;
  std::vector<std::string> requests;
  HttpResult Get(const std::string& path) {
    requests.push_back(path);
    auto it = answers.find(path);
    if (it != answers.end()) return it->second;
    return HttpResult{404, R"({"kind":"Status","code":404})", "", ""};
  }
  int Count(const std::string& path) const {
    return int(std::count(requests.begin(), requests.end(), path));
  }
};

double Errors(prometheus::Registry& r, const std::string& reason) {
  for (const auto& f : r.Collect()) {
    if (f.name != "sightline_k8s_api_errors_total") continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "reason" && l.value == reason) return m.counter.value;
      }
    }
  }
  return 0;
}

double Pods(prometheus::Registry& r) {
  for (const auto& f : r.Collect()) {
    if (f.name == "sightline_k8s_pods") return f.metric.at(0).gauge.value;
  }
  return -1;
}

class K8sMetadata : public ::testing::Test {
 protected:
  K8sMetadata() {
    api_.answers[kList] = {200, Data("podlist.json"), "", ""};
    api_.answers[kReplicaSet] = {200, Data("replicaset_checkout.json"), "", ""};
    api_.answers[kJob] = {200, Data("job_nightly_report.json"), "", ""};
    // The pending web pod's ReplicaSet: the service account may not read it.
    api_.answers[kWebReplicaSet] = {403, R"({"kind":"Status","code":403})", "", ""};
  }
  std::unique_ptr<Metadata> Make() {
    MetadataOptions o;
    o.node_name = "node-a";
    o.api_url = "https://kubernetes.test";
    return std::make_unique<Metadata>(
        o, [this](const std::string& p) { return api_.Get(p); }, [this] { return now_; },
        registry_);
  }
  FakeApi api_;
  uint64_t now_ = 1'000'000'000ull;
  prometheus::Registry registry_;
};

TEST(K8sObjects, PodListFields) {
  std::string error;
  auto pods = ParsePodList(Data("podlist.json"), &error);
  ASSERT_TRUE(pods) << error;
  ASSERT_EQ(pods->size(), 6u);
  const Pod& checkout = (*pods)[0];
  EXPECT_EQ(checkout.namespace_name, "shop");
  EXPECT_EQ(checkout.name, "checkout-7d9f8b6c5-x2x9k");
  EXPECT_EQ(checkout.uid, "5f8c2e6a-1b3d-4c7e-9a0f-2d4b6e8a0c1e");
  EXPECT_EQ(checkout.template_hash, "7d9f8b6c5");
  ASSERT_TRUE(checkout.controller);
  EXPECT_EQ(checkout.controller->kind, "ReplicaSet");
  EXPECT_EQ(checkout.controller->name, "checkout-7d9f8b6c5");
  // Regular and init containers, runtime prefix stripped.
  EXPECT_EQ(checkout.containers.size(), 3u);
  EXPECT_EQ(checkout.containers.at(kCheckout), "app");
  EXPECT_EQ(checkout.containers.at(kEnvoy), "envoy");
  EXPECT_EQ(checkout.containers.at(kMigrate), "migrate");
  EXPECT_FALSE((*pods)[4].controller);         // the bare pod
  EXPECT_TRUE((*pods)[5].containers.empty());  // not started yet: no id
}

TEST(K8sObjects, BadDocuments) {
  std::string error;
  EXPECT_FALSE(ParsePodList("{not json", &error));
  EXPECT_EQ(error, "not JSON");
  EXPECT_FALSE(ParsePodList(R"({"kind":"Status","code":403})", &error));
  EXPECT_NE(error.find("not a PodList"), std::string::npos);
  EXPECT_FALSE(ParsePodList("[]", &error));
  // Odd shapes inside a list are skipped, not fatal.
  auto pods = ParsePodList(
      R"({"kind":"PodList","items":[1,"x",{"metadata":{"name":"a"}},
          {"metadata":{"name":"b","uid":"u","namespace":"n","ownerReferences":[{"kind":"Job"}]},
           "status":{"containerStatuses":[{"name":5},{"name":"c","containerID":7}]}}]})",
      &error);
  ASSERT_TRUE(pods);
  ASSERT_EQ(pods->size(), 1u);
  EXPECT_FALSE((*pods)[0].controller);  // not a controller reference
  EXPECT_TRUE((*pods)[0].containers.empty());
  pods = ParsePodList(R"({"kind":"PodList","items":null})", &error);
  ASSERT_TRUE(pods);
  EXPECT_TRUE(pods->empty());
  EXPECT_FALSE(ParseController("", &error));
  EXPECT_EQ(error, "not JSON");
  EXPECT_FALSE(ParseController(R"({"metadata":{}})", &error));
  EXPECT_TRUE(error.empty());
}

TEST(K8sObjects, DeploymentFromReplicaSetName) {
  EXPECT_EQ(DeploymentFromReplicaSetName("web-5c8d7f9b6", "5c8d7f9b6"), "web");
  EXPECT_EQ(DeploymentFromReplicaSetName("a-b-5c8d7f9b6", "5c8d7f9b6"), "a-b");
  EXPECT_EQ(DeploymentFromReplicaSetName("web5c8d7f9b6", "5c8d7f9b6"), std::nullopt);
  EXPECT_EQ(DeploymentFromReplicaSetName("-5c8d7f9b6", "5c8d7f9b6"), std::nullopt);
  EXPECT_EQ(DeploymentFromReplicaSetName("web-5c8d7f9b6", ""), std::nullopt);
}

TEST_F(K8sMetadata, OwnersResolved) {
  auto m = Make();
  EXPECT_EQ(m->Current()->generation, 0u);
  EXPECT_TRUE(m->Current()->containers.empty());
  ASSERT_TRUE(m->ListOnce());
  auto snap = m->Current();
  EXPECT_EQ(snap->generation, 1u);
  struct Want {
    const char* id;
    const char* ns;
    const char* kind;
    const char* name;
    const char* pod;
    const char* container;
  };
  const Want wants[] = {
      {kCheckout, "shop", "Deployment", "checkout", "checkout-7d9f8b6c5-x2x9k", "app"},
      {kEnvoy, "shop", "Deployment", "checkout", "checkout-7d9f8b6c5-x2x9k", "envoy"},
      {kMigrate, "shop", "Deployment", "checkout", "checkout-7d9f8b6c5-x2x9k", "migrate"},
      {kRedis, "shop", "StatefulSet", "redis", "redis-0", "redis"},
      {kExporter, "monitoring", "DaemonSet", "node-exporter", "node-exporter-8kq2p",
       "node-exporter"},
      {kReport, "batch", "CronJob", "nightly-report", "nightly-report-29410560-7tq4m", "report"},
      {kDebug, "default", "Pod", "debug-shell", "debug-shell", "debug-shell"},
  };
  EXPECT_EQ(snap->containers.size(), std::size(wants));
  for (const Want& w : wants) {
    auto it = snap->containers.find(w.id);
    ASSERT_NE(it, snap->containers.end()) << w.id;
    EXPECT_EQ(it->second.namespace_name, w.ns) << w.id;
    EXPECT_EQ(it->second.kind, w.kind) << w.id;
    EXPECT_EQ(it->second.name, w.name) << w.id;
    EXPECT_EQ(it->second.pod_name, w.pod) << w.id;
    EXPECT_EQ(it->second.container_name, w.container) << w.id;
  }
  // Every pod by uid, the pending one too: its ReplicaSet was forbidden, so
  // the Deployment comes from the pod-template-hash.
  EXPECT_EQ(snap->pods.size(), 6u);
  const Workload& web = snap->pods.at("9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b");
  EXPECT_EQ(web.kind, "Deployment");
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.container_name, "");
  EXPECT_EQ(Errors(registry_, "forbidden"), 1);
  EXPECT_EQ(Pods(registry_), 6);
  EXPECT_EQ(api_.Count(kList), 1);
  EXPECT_EQ(api_.Count(kReplicaSet), 1);
  EXPECT_EQ(api_.Count(kJob), 1);
}

TEST_F(K8sMetadata, OwnersCachedAndFailuresRetriedLater) {
  auto m = Make();
  ASSERT_TRUE(m->ListOnce());
  now_ += 15'000'000'000ull;
  ASSERT_TRUE(m->ListOnce());
  // Found owners are not asked for again; the forbidden one waits a minute.
  EXPECT_EQ(api_.Count(kList), 2);
  EXPECT_EQ(api_.Count(kReplicaSet), 1);
  EXPECT_EQ(api_.Count(kJob), 1);
  EXPECT_EQ(api_.Count(kWebReplicaSet), 1);
  now_ += 60'000'000'000ull;
  ASSERT_TRUE(m->ListOnce());
  EXPECT_EQ(api_.Count(kWebReplicaSet), 2);
  EXPECT_EQ(Errors(registry_, "forbidden"), 2);
  EXPECT_EQ(m->Current()->generation, 3u);
}

TEST_F(K8sMetadata, DeletedOwnerNamesItself) {
  // A Job cleaned up while its pod lingers: 404, the Job's own name.
  api_.answers.erase(kJob);
  auto m = Make();
  ASSERT_TRUE(m->ListOnce());
  const Workload& w = m->Current()->containers.at(kReport);
  EXPECT_EQ(w.kind, "Job");
  EXPECT_EQ(w.name, "nightly-report-29410560");
  EXPECT_EQ(Errors(registry_, "not_found"), 0);  // not an error: it is gone
}

TEST_F(K8sMetadata, FailuresKeepTheLastSnapshot) {
  auto m = Make();
  ASSERT_TRUE(m->ListOnce());
  const struct {
    HttpResult answer;
    const char* reason;
  } failures[] = {
      {{0, "", "connect", "Couldn't connect to server"}, "connect"},
      {{0, "", "tls", "SSL certificate problem"}, "tls"},
      {{401, R"({"kind":"Status","code":401})", "", ""}, "unauthorized"},
      {{403, R"({"kind":"Status","code":403})", "", ""}, "forbidden"},
      {{500, "oops", "", ""}, "http_status"},
      {{200, "{\"kind\":\"Pod", "", ""}, "bad_response"},
      {{200, R"({"kind":"Status"})", "", ""}, "bad_response"},
  };
  double forbidden_before = Errors(registry_, "forbidden");
  for (const auto& f : failures) {
    api_.answers[kList] = f.answer;
    EXPECT_FALSE(m->ListOnce()) << f.reason;
  }
  EXPECT_EQ(Errors(registry_, "connect"), 1);
  EXPECT_EQ(Errors(registry_, "tls"), 1);
  EXPECT_EQ(Errors(registry_, "unauthorized"), 1);
  EXPECT_EQ(Errors(registry_, "forbidden"), forbidden_before + 1);
  EXPECT_EQ(Errors(registry_, "http_status"), 1);
  EXPECT_EQ(Errors(registry_, "bad_response"), 2);
  // The names in use stay until the API answers again.
  EXPECT_EQ(m->Current()->generation, 1u);
  EXPECT_EQ(m->Current()->containers.at(kCheckout).name, "checkout");
  EXPECT_EQ(Pods(registry_), 6);
}

TEST_F(K8sMetadata, ThreadListsAtStartAndOnRequest) {
  api_.answers[kList] = {200, R"({"kind":"PodList","items":[]})", "", ""};
  MetadataOptions o;
  o.node_name = "node-a";
  o.min_relist_gap_ns = 0;
  std::atomic<int> lists{0};
  std::mutex mu;
  Metadata m(
      o,
      [&](const std::string& p) {
        std::lock_guard lock(mu);
        ++lists;
        return api_.Get(p);
      },
      [] { return uint64_t(1); }, registry_);  // a clock that never reaches the resync
  m.Start();
  for (int i = 0; i < 200 && m.Current()->generation < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(m.Current()->generation, 1u);
  m.RequestRelist();
  for (int i = 0; i < 200 && m.Current()->generation < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(m.Current()->generation, 2u);
  EXPECT_EQ(lists.load(), 2);
}

}  // namespace
