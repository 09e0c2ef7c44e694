#include "alerts/smtp.h"

#include <curl/curl.h>

#include <atomic>
#include <cstring>
#include <ctime>

#include "alerts/http.h"

namespace sightline::alerts {
namespace {

std::string RfcDate(int64_t unix_ms) {
  const time_t s = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// Header values come from rule and service names: no line breaks may pass.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

struct Upload {
  const std::string* text;
  size_t at = 0;
};

size_t Read(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  const size_t len = std::min(size * n, u->text->size() - u->at);
  std::memcpy(buf, u->text->data() + u->at, len);
  u->at += len;
  return len;
}

class SmtpChannel : public Channel {
 public:
  explicit SmtpChannel(SmtpConfig c) : c_(std::move(c)) {}
  std::string_view name() const override { return "email"; }

  DeliveryResult Send(const Alert& a) override {
    DeliveryResult r;
    CURL* curl = curl_easy_init();
    if (!curl) {
      r.error = "cannot create a curl handle";
      r.retryable = true;
      return r;
    }
    const std::string id = "<" + std::to_string(a.at_ms) + "." + std::to_string(++sequence_) + "." +
                           std::to_string(std::hash<std::string>{}(a.DedupKey())) + "@sightline>";
    const std::string message = EmailMessage(a, c_, id);
    const std::string url = SmtpUrl(c_);
    const std::string from = "<" + c_.from + ">";
    curl_slist* rcpt = nullptr;
    for (const auto& to : c_.to) rcpt = curl_slist_append(rcpt, ("<" + to + ">").c_str());
    Upload upload{&message};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c_.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    // CURLUSESSL_ALL: STARTTLS or fail. Without TLS, nothing is attempted.
    curl_easy_setopt(curl, CURLOPT_USE_SSL, c_.tls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
    if (!c_.user.empty()) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, c_.user.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, c_.password.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, Read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    const CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    r.status = static_cast<int>(code);
    if (rc == CURLE_OK) {
      r.ok = true;
      return r;
    }
    r.error = std::string(curl_easy_strerror(rc));
    if (code) r.error += " (SMTP " + std::to_string(code) + ")";
    // 4xx replies are transient by definition, 5xx permanent; a server
    // without STARTTLS or refusing our login will not change by retrying.
    const bool refused = rc == CURLE_USE_SSL_FAILED || rc == CURLE_LOGIN_DENIED ||
                         rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
                         (code >= 500 && code <= 599);
    r.retryable = !refused;
    return r;
  }

 private:
  SmtpConfig c_;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace

std::string SmtpUrl(const SmtpConfig& c) {
  const bool implicit_tls = c.tls && c.port == 465;
  return std::string(implicit_tls ? "smtps://" : "smtp://") + c.host + ":" + std::to_string(c.port);
}

std::string EmailMessage(const Alert& a, const SmtpConfig& c, const std::string& message_id) {
  std::string subject = "[sightline] " + std::string(a.StatusWord()) + " " +
                        (a.kind == AlertKind::kFiring || a.kind == AlertKind::kRepeat
                             ? std::string(SeverityName(a.severity)) + " "
                             : "") +
                        a.alertname + (a.service.empty() ? "" : " (" + a.service + ")");
  std::string to;
  for (const auto& t : c.to) to += (to.empty() ? "" : ", ") + t;
  std::string m;
  m += "Date: " + RfcDate(a.at_ms) + "\r\n";
  m += "From: " + OneLine(c.from) + "\r\n";
  m += "To: " + OneLine(to) + "\r\n";
  m += "Message-ID: " + message_id + "\r\n";
  m += "Subject: " + OneLine(subject) + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "X-Sightline-Dedup-Key: " + OneLine(a.DedupKey()) + "\r\n";
  m += "\r\n";
  m += a.Summary() + "\r\n\r\n";
  m += "Alert:     " + a.alertname + "\r\n";
  m += "Status:    " + std::string(AlertKindName(a.kind)) + "\r\n";
  m += "Severity:  " + std::string(SeverityName(a.severity)) + "\r\n";
  m += "Service:   " + (a.service.empty() ? std::string("(node)") : a.service) + "\r\n";
  for (const auto& [title, value] : a.PodFields()) {
    m += title + ":" + std::string(title.size() < 10 ? 10 - title.size() : 1, ' ') + value + "\r\n";
  }
  m += "Metric:    " + a.metric + "\r\n";
  m += "Value:     " + FormatValue(a.value) + "\r\n";
  if (a.kind != AlertKind::kResolved && a.kind != AlertKind::kTest) {
    m += "Threshold: " + std::string(ComparisonSymbol(a.comparison)) + " " + FormatValue(a.threshold) +
         " over " + std::to_string(a.window_seconds) + "s\r\n";
  }
  m += "Since:     " + Rfc3339(a.since_ms()) + "\r\n";
  m += "Host:      " + a.host + "\r\n";
  return m;
}

std::unique_ptr<Channel> MakeSmtpChannel(SmtpConfig config) {
  return std::make_unique<SmtpChannel>(std::move(config));
}

}  // namespace sightline::alerts
