// Follows every observed connection: orders its byte streams, feeds the
// protocol parser, and sheds connections (idle, over capacity, fd reused)
// with a count for each, so memory stays bounded and nothing vanishes unseen.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conn/stream.h"
#include "decode/event.h"
#include "protocols/db/operation.h"
#include "protocols/http1/session.h"

namespace sightline::conn {

struct ConnectionInfo {
  uint64_t conn_id = 0;
  uint32_t pid = 0;
  uint32_t fd = 0;
  decode::Role role = decode::Role::kUnknown;
  decode::Endpoint local;
  decode::Endpoint remote;
  std::string comm;
  bool implicit = false;  // its open event was never seen
};

class TransactionSink {
 public:
  virtual ~TransactionSink() = default;
  virtual void OnHttp(const ConnectionInfo& conn, const http1::Transaction& t) = 0;
  virtual void OnHttpError(const ConnectionInfo& conn, http1::ErrorKind kind) = 0;
  // Bodies of the exchanges the sink follows (see http1::Sink).
  virtual bool FollowBody(const ConnectionInfo&, uint64_t /*exchange*/, http1::Side,
                          const http1::RequestHead&) {
    return false;
  }
  virtual void OnResponseHead(const ConnectionInfo&, uint64_t /*exchange*/,
                              const http1::ResponseHead&, uint64_t /*ts_ns*/) {}
  virtual void OnBody(const ConnectionInfo&, uint64_t /*exchange*/, bool /*request*/,
                      std::string_view /*bytes*/, uint64_t /*ts_ns*/) {}
  virtual void OnBodyGap(const ConnectionInfo&, uint64_t /*exchange*/, bool /*request*/,
                         uint64_t /*n*/) {}
};

// Database and cache calls (PostgreSQL, Redis) of client connections.
class DbSink {
 public:
  virtual ~DbSink() = default;
  virtual void OnDbOperation(const ConnectionInfo& conn, const db::Operation& op) = 0;
  virtual void OnDbError(const ConnectionInfo& conn, db::System system,
                         std::string_view reason) = 0;
  // A connection on which the observed process is a database client opened
  // (first seen speaking the protocol) or ended. Each open has one close.
  virtual void OnDbConnection(const ConnectionInfo& conn, db::System system, bool open) = 0;
};

// Makes the parser for a database protocol; the side is kUnknown for
// connections found mid-life.
using DbSessionFactory =
    std::function<std::unique_ptr<db::Session>(db::System system, db::Side side)>;

struct TrackerLimits {
  size_t max_connections = 65536;
  uint64_t idle_timeout_ns = 300'000'000'000ull;
  StreamLimits stream;
  http1::Limits http;
  // Plaintext held while its connection is not yet known.
  size_t max_unbound_bytes = 4u << 20;
  uint64_t unbound_timeout_ns = 2'000'000'000ull;
};

struct TrackerStats {
  uint64_t opened = 0;
  uint64_t closed = 0;
  uint64_t implicit_opens = 0;  // data for a connection whose open event was lost
  uint64_t shed_idle = 0;
  uint64_t shed_capacity = 0;
  uint64_t shed_fd_reuse = 0;   // a new connection took the fd of one never closed
  uint64_t unknown_close = 0;   // close for a connection never seen
  uint64_t closed_by_exit = 0;  // closed because their process exited
  uint64_t tls_plaintext = 0;   // TLS connections gone whose plaintext was seen
  uint64_t tls_opaque = 0;      // TLS connections gone without any plaintext seen
  uint64_t http2_tls = 0;       // TLS connections whose plaintext opened with the HTTP/2 preface
  uint64_t postgres = 0;        // connections parsed as PostgreSQL
  uint64_t redis = 0;           // connections parsed as Redis
  uint64_t tls_unbound_events = 0;  // plaintext never tied to a connection: dropped
  uint64_t tls_unbound_bytes = 0;
  uint64_t tls_filtered_events = 0;  // plaintext of port-filtered connections, discarded
  StreamStats stream;
};

class ConnectionTracker {
 public:
  // Without a DbSink and factory, database connections are followed but not parsed.
  ConnectionTracker(TrackerLimits limits, TransactionSink& sink, DbSink* db_sink = nullptr,
                    DbSessionFactory db_factory = {});
  ~ConnectionTracker();

  void OnOpen(const decode::ConnOpen& e);
  void OnData(const decode::Data& e);
  // TLS plaintext, parsed on the connection that carries its ciphertext.
  void OnTlsData(const decode::TlsData& e);
  void OnTlsBind(const decode::TlsBind& e);
  void OnProtocol(const decode::ConnProtocol& e);
  void OnClose(const decode::ConnClose& e);
  // The process exited: its connections closed without close(2).
  void OnProcessExit(const decode::ProcessExit& e);
  // Declares stale holes as gaps and sheds idle connections; now_ns is CLOCK_MONOTONIC.
  void Sweep(uint64_t now_ns);
  // Closes every connection (daemon shutdown): pending requests come out unanswered.
  void CloseAll(uint64_t now_ns);

  size_t size() const { return conns_.size(); }
  size_t buffered_bytes() const;
  const TrackerStats& stats() const { return stats_; }

 private:
  struct Connection;
  using ConnPtr = std::unique_ptr<Connection>;

  struct UnboundPiece {
    decode::Direction direction;
    uint64_t seq;
    uint32_t orig_len;
    std::string bytes;
    uint64_t ts_ns;
  };
  struct Unbound {
    std::vector<UnboundPiece> pieces;
    size_t bytes = 0;
    uint64_t first_ns = 0;
  };
  using TlsKey = std::pair<uint32_t, uint64_t>;  // (pid, tls_id)

  Connection& Create(ConnectionInfo info, uint64_t ts_ns);
  // The connection with this id, created (as found mid-life) when unknown.
  Connection& Find(uint64_t conn_id, uint32_t pid, uint32_t fd, decode::Role role, uint64_t ts_ns);
  // Picks the parser for a connection from the database protocol its first
  // bytes showed (none: HTTP).
  void Classify(Connection& c, std::optional<db::System> system);
  void FeedPlaintext(Connection& c, decode::Direction d, uint64_t seq, uint32_t orig_len,
                     std::string_view bytes, uint64_t ts_ns);
  void ReleaseUnbound(const TlsKey& key, Connection& c);
  void DropUnbound(std::map<TlsKey, Unbound>::iterator it);
  void Touch(Connection& c, uint64_t ts_ns);
  void Finish(uint64_t conn_id, uint64_t ts_ns);
  static uint64_t FdKey(uint32_t pid, uint32_t fd) { return (uint64_t(pid) << 32) | fd; }

  TrackerLimits limits_;
  TransactionSink& sink_;
  DbSink* db_sink_;
  DbSessionFactory db_factory_;
  TrackerStats stats_;
  std::unordered_map<uint64_t, ConnPtr> conns_;  // by conn_id
  std::map<uint64_t, uint64_t> by_fd_;           // (pid, fd) -> conn_id, ordered by pid
  std::list<uint64_t> lru_;                      // least recently active first
  std::map<TlsKey, Unbound> unbound_;
  size_t unbound_bytes_ = 0;
};

}  // namespace sightline::conn
