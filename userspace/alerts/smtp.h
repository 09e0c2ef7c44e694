// E-mail over SMTP with libcurl (SMTP_HOST, SMTP_PORT, SMTP_USER,
// SMTP_PASSWORD, SMTP_USE_TLS, ALERT_EMAIL_FROM, ALERT_EMAIL_TO). With TLS
// (the default; SMTP_USE_TLS=false turns it off) the session must upgrade
// with STARTTLS, or implicit TLS on port 465: a server that does not offer
// it fails the delivery, never falls back to cleartext.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "alerts/notifier.h"

namespace sightline::alerts {

struct SmtpConfig {
  std::string host;
  uint16_t port = 587;
  std::string user, password;
  bool tls = true;
  std::string from;
  std::vector<std::string> to;
  long timeout_ms = 20000;
};

// The RFC 5322 message (CRLF line ends) for `a`.
std::string EmailMessage(const Alert& a, const SmtpConfig& c, const std::string& message_id);

// "smtp://host:port", or "smtps://" for implicit TLS on port 465.
std::string SmtpUrl(const SmtpConfig& c);

std::unique_ptr<Channel> MakeSmtpChannel(SmtpConfig config);

}  // namespace sightline::alerts
