#include "alerts/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "util/text.h"
#include "util/time.h"

namespace sightline::alerts {
namespace {

struct Answer {
  std::string retry_after;
  std::string body;  // the start of it, for error messages
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  const size_t len = size * n;
  std::string_view line(data, len);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && text::EqualsIgnoreCase(line.substr(0, kName.size()), kName)) {
    std::string_view v = line.substr(kName.size());
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.remove_suffix(1);
    static_cast<Answer*>(user)->retry_after = std::string(v);
  }
  return len;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* a = static_cast<Answer*>(user);
  const size_t len = size * n;
  if (a->body.size() < 512) a->body.append(data, std::min(len, 512 - a->body.size()));
  return len;
}

}  // namespace

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339(int64_t unix_ms) {
  return util::Rfc3339Millis(static_cast<uint64_t>(unix_ms) * 1'000'000ull);
}

DeliveryResult PostJson(const std::string& url, std::string body) {
  HttpPost p;
  p.url = url;
  p.body = std::move(body);
  return Post(p);
}

DeliveryResult Post(const HttpPost& request) {
  DeliveryResult r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    r.error = "cannot create a curl handle";
    r.retryable = true;
    return r;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers,
                                                                          curl_slist_free_all);
  Answer answer;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(request.timeout_ms, 5000L));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sightline-alerts");
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    r.error = curl_easy_strerror(rc);
    // A refused protocol or a malformed URL will not get better by waiting.
    r.retryable = rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT;
    return r;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  r.status = static_cast<int>(status);
  if (status >= 200 && status <= 299) {
    r.ok = true;
    return r;
  }
  r.retryable = status == 429 || status >= 500;
  if (!answer.retry_after.empty())
    r.retry_after_seconds = ParseRetryAfter(answer.retry_after, UnixNow());
  r.error = "HTTP " + std::to_string(status);
  if (!answer.body.empty()) r.error += ": " + answer.body;
  return r;
}

}  // namespace sightline::alerts
