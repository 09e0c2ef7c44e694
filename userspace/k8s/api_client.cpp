#include "k8s/api_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sightline::k8s {
namespace {

constexpr size_t kMaxBody = 64u << 20;

struct Sink {
  std::string* body;
  bool overflow = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  if (sink->body->size() + size * n > kMaxBody) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, size * n);
  return size * n;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::optional<ApiConfig> ResolveApiConfig(const std::string& url_flag,
                                          const std::string& token_flag, const std::string& ca_flag,
                                          const std::string& node_flag, std::string* warning) {
  ApiConfig c;
  c.url = url_flag;
  if (c.url.empty()) {
    const std::string host = Env("KUBERNETES_SERVICE_HOST");
    if (host.empty()) return std::nullopt;
    std::string port = Env("KUBERNETES_SERVICE_PORT");
    if (port.empty()) port = "443";
    // An IPv6 service address needs brackets in a URL.
    c.url =
        "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  }
  while (c.url.ends_with('/')) c.url.pop_back();
  const std::string dir = kServiceAccountDir;
  c.token_file = token_flag.empty() ? dir + "/token" : token_flag;
  c.ca_file = ca_flag.empty() ? dir + "/ca.crt" : ca_flag;
  c.node_name = node_flag.empty() ? Env("NODE_NAME") : node_flag;
  if (c.node_name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    c.node_name = host;
    *warning =
        "NODE_NAME is not set (give it from the downward API, spec.nodeName): listing "
        "the pods of node '" +
        c.node_name + "', this host's name";
  }
  return c;
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ApiClient::ApiClient(ApiConfig config) : config_(std::move(config)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  curl_ = curl_easy_init();
}

ApiClient::~ApiClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResult ApiClient::Get(const std::string& path_and_query) {
  HttpResult r;
  auto* curl = static_cast<CURL*>(curl_);
  if (!curl) {
    r.reason = "transport";
    r.error = "libcurl could not be initialised";
    return r;
  }
  std::string token;
  {
    std::ifstream f(config_.token_file);
    std::stringstream ss;
    if (f) ss << f.rdbuf();
    token = Trimmed(ss.str());
  }
  const std::string url = config_.url + path_and_query;
  Sink sink{&r.body};
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  // No token file: sent without one, so the API's 401 says what is missing.
  if (!token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // gzip: pod lists compress well
  // The API server is reached directly, never through a proxy from the environment.
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    r.body.clear();
    r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
        r.reason = "connect";
        break;
      case CURLE_OPERATION_TIMEDOUT:
        r.reason = "timeout";
        break;
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
        r.reason = "tls";
        break;
      default:
        r.reason = "transport";
        if (sink.overflow) r.error = "answer larger than 64 MiB";
    }
    return r;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

}  // namespace sightline::k8s
