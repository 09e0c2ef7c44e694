// GET requests to the Kubernetes API server with the pod's service account:
// bearer token and cluster CA, as the in-cluster configuration lays them out.
#pragma once

#include <optional>
#include <string>

namespace sightline::k8s {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ApiConfig {
  std::string url;         // https://host:port, no trailing slash
  std::string token_file;  // re-read before every request: the kubelet rotates it
  std::string ca_file;
  std::string node_name;
};

// The configuration from flags (empty: not given) and the environment
// (KUBERNETES_SERVICE_HOST/PORT, NODE_NAME). nullopt when not in a cluster: no
// URL given and no KUBERNETES_SERVICE_HOST. `host_name` stands in for a missing
// NODE_NAME (*warning says so).
std::optional<ApiConfig> ResolveApiConfig(const std::string& url_flag,
                                          const std::string& token_flag, const std::string& ca_flag,
                                          const std::string& node_flag, std::string* warning);

struct HttpResult {
  long status = 0;  // 0: no HTTP answer (see reason)
  std::string body;
  std::string reason;  // transport failure: connect, tls, timeout, transport
  std::string error;   // its text, for the log
};

class ApiClient {
 public:
  explicit ApiClient(ApiConfig config);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // GET <url><path_and_query>. Bodies past 64 MiB are cut off and fail as
  // "transport" (a node's pod list is a few MB at most).
  HttpResult Get(const std::string& path_and_query);


 private:
  ApiConfig config_;
  void* curl_ = nullptr;  // CURL*, reused so connections are kept alive
};

// Percent-encodes a query value.
std::string UrlEncode(std::string_view s);

}  // namespace sightline::k8s
