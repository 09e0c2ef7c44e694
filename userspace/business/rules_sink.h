// Business KPIs from traffic: a TransactionSink in front of the next one in
// the chain that turns the HTTP exchanges matching a business rule into the
// rule's counter or gauge.
//
// The next sink sees exactly the calls it would see without this one: every
// OnHttp, OnHttpError and FollowBody, and the response heads, body bytes and
// gaps only of the exchanges it asked to follow itself. This sink follows an
// exchange only when a rule's side, method and route match its request head
// (and its service, when the rule names one); for any other exchange it
// holds nothing and allocates nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "business/engine.h"
#include "business/extract.h"
#include "business/rules.h"
#include "conn/tracker.h"
#include "process/process_table.h"

namespace sightline::business {

class RulesSink : public conn::TransactionSink {
 public:
  // The process on a connection: its service_name and k8s labels start every
  // series (as on every other metric).
  using ServiceOf = std::function<const process::ProcessInfo&(const conn::ConnectionInfo&)>;

  // Applies the rules installed in `engine`.
  RulesSink(Engine& engine, conn::TransactionSink& next, ServiceOf service_of);
  ~RulesSink() override;

  // Makes `rules` the rules in force. Exchanges in flight are then not
  // evaluated (counted as reloaded), but still forwarded as before.
  void Reload(RuleSet rules);

  void OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) override;
  void OnHttpError(const conn::ConnectionInfo& conn, http1::ErrorKind kind) override;
  bool FollowBody(const conn::ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                  const http1::RequestHead& head) override;
  void OnResponseHead(const conn::ConnectionInfo& conn, uint64_t exchange,
                      const http1::ResponseHead& head, uint64_t ts_ns) override;
  void OnBody(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
              std::string_view bytes, uint64_t ts_ns) override;
  void OnBodyGap(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
                 uint64_t n) override;

  size_t in_flight() const { return exchanges_.size(); }

 private:
  struct Exchange;
  using Key = std::pair<uint64_t, uint64_t>;  // (conn_id, exchange)

  void Compile();
  // Rules whose side, method and route match this request head, as bits.
  uint64_t Candidates(http1::Side side, const http1::RequestHead& head) const;
  uint64_t UsingSource(uint64_t mask, Source s) const;
  void Evaluate(const conn::ConnectionInfo& conn, Exchange& x, const http1::Transaction& t);
  std::optional<Reason> ReadText(size_t rule, const Extractor& e, Exchange& x,
                                 const http1::Transaction& t, std::string* out);
  std::optional<Reason> ReadNumber(size_t rule, const Extractor& e, Exchange& x,
                                   const http1::Transaction& t, double* out);

  Engine& engine_;
  conn::TransactionSink& next_;
  ServiceOf service_of_;
  std::vector<RouteMatcher> routes_;  // by rule index
  std::map<Key, std::unique_ptr<Exchange>> exchanges_;
};

}  // namespace sightline::business
