// A link in the chain of transaction sinks that passes everything on to the
// next one: a sink that only looks at some calls derives from it and
// overrides just those, calling ForwardingSink's version to pass them on.
#pragma once

#include "conn/tracker.h"

namespace sightline::conn {

class ForwardingSink : public TransactionSink {
 public:
  explicit ForwardingSink(TransactionSink& next) : next_(next) {}

  void OnHttp(const ConnectionInfo& conn, const http1::Transaction& t) override {
    next_.OnHttp(conn, t);
  }
  void OnHttpError(const ConnectionInfo& conn, http1::ErrorKind kind) override {
    next_.OnHttpError(conn, kind);
  }
  bool FollowBody(const ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                  const http1::RequestHead& head) override {
    return next_.FollowBody(conn, exchange, side, head);
  }
  void OnResponseHead(const ConnectionInfo& conn, uint64_t exchange,
                      const http1::ResponseHead& head, uint64_t ts_ns) override {
    next_.OnResponseHead(conn, exchange, head, ts_ns);
  }
  void OnBody(const ConnectionInfo& conn, uint64_t exchange, bool request,
              std::string_view bytes, uint64_t ts_ns) override {
    next_.OnBody(conn, exchange, request, bytes, ts_ns);
  }
  void OnBodyGap(const ConnectionInfo& conn, uint64_t exchange, bool request,
                 uint64_t n) override {
    next_.OnBodyGap(conn, exchange, request, n);
  }

 protected:
  TransactionSink& next() { return next_; }

 private:
  TransactionSink& next_;
};

}  // namespace sightline::conn
