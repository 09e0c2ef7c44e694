#include "conn/tracker.h"

#include <optional>
#include <vector>

namespace sightline::conn {
namespace {

http1::Side ToSide(decode::Role r) {
  switch (r) {
    case decode::Role::kServer:
      return http1::Side::kServer;
    case decode::Role::kClient:
      return http1::Side::kClient;
    case decode::Role::kUnknown:
      break;
  }
  return http1::Side::kUnknown;
}

// The first bytes of a direction of an HTTP/2 connection: the client's
// preface, or the SETTINGS frame a server may send before reading it.
bool LooksLikeHttp2(std::string_view first) {
  if (first.starts_with("PRI * HTTP/2.0\r\n")) return true;
  // Frame header: 24-bit length, type 4 (SETTINGS), flags 0, stream 0.
  static constexpr std::string_view kSettingsTail("\x04\x00\x00\x00\x00\x00", 6);
  return first.size() >= 9 && first.substr(3, 6) == kSettingsTail;
}

// The database protocol that plaintext opens with (TLS connections are
// classified in userspace): a PostgreSQL startup packet or a RESP array.
std::optional<db::System> LooksLikeDb(std::string_view first) {
  if (first.size() >= 8 && first[0] == 0 && first[1] == 0 &&
      first.substr(4, 4) == std::string_view("\x00\x03\x00\x00", 4)) {
    return db::System::kPostgres;
  }
  if (first.size() >= 2 && first[0] == '*' && first[1] >= '1' && first[1] <= '9') {
    return db::System::kRedis;
  }
  return std::nullopt;
}

// The database protocol the socket probe recognised, if any.
std::optional<db::System> DbSystemOf(uint8_t protocol) {
  if (protocol == SL_PROTO_POSTGRES) return db::System::kPostgres;
  if (protocol == SL_PROTO_REDIS) return db::System::kRedis;
  return std::nullopt;
}

}  // namespace

// Forwards a database parser's output with the connection it came from, and
// counts the connection as a client one once the side is known.
struct DbForwarder : db::Sink {
  DbForwarder(const ConnectionInfo& i, DbSink& s, db::System sys) : info(i), sink(s), system(sys) {}
  void OnOperation(const db::Operation& op) override {
    if (op.side != db::Side::kClient) return;  // measured where the call is made
    Open();
    sink.OnDbOperation(info, op);
  }
  // Counts the connection open (once).
  void Open() {
    if (counted) return;
    counted = true;
    sink.OnDbConnection(info, system, true);
  }
  void OnError(std::string_view reason) override { sink.OnDbError(info, system, reason); }
  void Close() {
    if (counted) sink.OnDbConnection(info, system, false);
    counted = false;
  }

  const ConnectionInfo& info;
  DbSink& sink;
  db::System system;
  bool counted = false;  // OnDbConnection(open) was sent
};

struct ConnectionTracker::Connection : http1::Sink {
  Connection(ConnectionInfo i, const TrackerLimits& limits, TransactionSink& s)
      : info(std::move(i)),
        session(ToSide(info.role), limits.http),
        streams{StreamOrderer(limits.stream), StreamOrderer(limits.stream)},
        sink(s) {
    for (int d = 0; d < 2; d++) {
      auto stream = static_cast<http1::Stream>(d);
      out[d].data = [this, stream](std::string_view bytes, uint64_t ts) {
        if (db) {
          db->OnData(stream, bytes, ts, *db_out);
        } else {
          session.OnData(stream, bytes, ts, *this);
        }
      };
      out[d].gap = [this, stream](uint64_t n, uint64_t ts) {
        if (db) {
          db->OnGap(stream, n, ts, *db_out);
        } else {
          session.OnGap(stream, n, ts, *this);
        }
      };
    }
    // Connections seen from their first byte start both streams at offset 0;
    // those found mid-life start wherever their first captured event lands.
    if (info.role != decode::Role::kUnknown && !info.implicit) {
      streams[0].Start(0);
      streams[1].Start(0);
    }
  }

  void OnTransaction(const http1::Transaction& t) override { sink.OnHttp(info, t); }
  void OnError(http1::ErrorKind kind) override { sink.OnHttpError(info, kind); }
  bool FollowBody(uint64_t id, http1::Side side, const http1::RequestHead& head) override {
    return sink.FollowBody(info, id, side, head);
  }
  void OnResponseHead(uint64_t id, const http1::ResponseHead& head, uint64_t ts) override {
    sink.OnResponseHead(info, id, head, ts);
  }
  void OnBody(uint64_t id, bool request, std::string_view bytes, uint64_t ts) override {
    sink.OnBody(info, id, request, bytes, ts);
  }
  void OnBodyGap(uint64_t id, bool request, uint64_t n) override {
    sink.OnBodyGap(info, id, request, n);
  }

  bool opaque() const { return unparsed || (db ? db->opaque() : session.opaque()); }

  ConnectionInfo info;
  http1::Session session;
  // Set when the connection speaks a database protocol: it gets the bytes
  // instead of the HTTP session.
  std::unique_ptr<db::Session> db;
  std::unique_ptr<DbForwarder> db_out;
  bool classified = false;  // the parser was chosen
  bool unparsed = false;    // a database protocol with no parser configured
  StreamOrderer streams[2];
  StreamOrderer::Output out[2];
  TransactionSink& sink;
  bool tls = false;        // its ciphertext is TLS
  bool plaintext = false;  // plaintext came from the TLS probe
  bool http2 = false;      // speaks HTTP/2: not parsed
  uint64_t last_ns = 0;
  std::list<uint64_t>::iterator lru_pos;
};

ConnectionTracker::ConnectionTracker(TrackerLimits limits, TransactionSink& sink,
                                     DbSink* db_sink, DbSessionFactory db_factory)
    : limits_(limits), sink_(sink), db_sink_(db_sink), db_factory_(std::move(db_factory)) {}

ConnectionTracker::~ConnectionTracker() = default;

ConnectionTracker::Connection& ConnectionTracker::Create(ConnectionInfo info, uint64_t ts_ns) {
  // The fd was reused without a close we saw: the old connection is over.
  if (auto it = by_fd_.find(FdKey(info.pid, info.fd)); it != by_fd_.end()) {
    stats_.shed_fd_reuse++;
    Finish(it->second, ts_ns);
  }
  while (conns_.size() >= limits_.max_connections && !lru_.empty()) {
    stats_.shed_capacity++;
    Finish(lru_.front(), ts_ns);
  }
  uint64_t id = info.conn_id;
  uint64_t key = FdKey(info.pid, info.fd);
  auto conn = std::make_unique<Connection>(std::move(info), limits_, sink_);
  Connection& c = *conn;
  c.last_ns = ts_ns;
  c.lru_pos = lru_.insert(lru_.end(), id);
  conns_[id] = std::move(conn);
  by_fd_[key] = id;
  stats_.opened++;
  return c;
}

void ConnectionTracker::Touch(Connection& c, uint64_t ts_ns) {
  if (ts_ns > c.last_ns) c.last_ns = ts_ns;
  lru_.splice(lru_.end(), lru_, c.lru_pos);
}

void ConnectionTracker::OnOpen(const decode::ConnOpen& e) {
  if (conns_.count(e.conn_id)) return;  // duplicate
  ConnectionInfo info;
  info.conn_id = e.conn_id;
  info.pid = e.pid;
  info.fd = e.fd;
  info.role = e.role;
  info.local = e.local;
  info.remote = e.remote;
  info.comm = e.comm;
  Create(std::move(info), e.timestamp_ns);
}

ConnectionTracker::Connection& ConnectionTracker::Find(uint64_t conn_id, uint32_t pid, uint32_t fd,
                                                       decode::Role role, uint64_t ts_ns) {
  if (auto it = conns_.find(conn_id); it != conns_.end()) return *it->second;
  ConnectionInfo info;
  info.conn_id = conn_id;
  info.pid = pid;
  info.fd = fd;
  info.role = role;
  info.implicit = true;
  stats_.implicit_opens++;
  return Create(std::move(info), ts_ns);
}

void ConnectionTracker::Classify(Connection& c, std::optional<db::System> system) {
  c.classified = true;
  if (!system) return;
  (*system == db::System::kPostgres ? stats_.postgres : stats_.redis)++;
  if (!db_sink_ || !db_factory_) {
    c.unparsed = true;
    return;
  }
  c.unparsed = false;
  if (!c.db_out || c.db_out->system != *system) {
    if (c.db_out) c.db_out->Close();
    c.db_out = std::make_unique<DbForwarder>(c.info, *db_sink_, *system);
  }
  c.db = db_factory_(*system, ToSide(c.info.role));
  if (!c.db) {
    c.unparsed = true;
    return;
  }
  // A client connection counts from its first classified byte; one found
  // mid-life once its side is known (at its first operation).
  if (c.info.role == decode::Role::kClient) c.db_out->Open();
}

void ConnectionTracker::OnData(const decode::Data& e) {
  Connection* c = &Find(e.conn_id, e.pid, e.fd, e.role, e.timestamp_ns);
  Touch(*c, e.timestamp_ns);
  if (!c->classified) Classify(*c, DbSystemOf(e.protocol));
  if (c->opaque()) return;
  int d = static_cast<int>(e.direction);
  c->streams[d].Push(e.seq, e.orig_len, e.payload, e.timestamp_ns, c->out[d], stats_.stream);
}

void ConnectionTracker::OnProtocol(const decode::ConnProtocol& e) {
  Connection& c = Find(e.conn_id, e.pid, e.fd, e.role, e.timestamp_ns);
  Touch(c, e.timestamp_ns);
  if (e.protocol == SL_PROTO_HTTP2) c.http2 = true;
  if (e.protocol != SL_PROTO_TLS || c.tls) return;
  c.tls = true;
  if (c.db || c.unparsed) {
    // A PostgreSQL server accepted the SSLRequest: what follows on the socket
    // is ciphertext, and the plaintext (startup packet first) comes from the
    // TLS probe with offsets from zero.
    c.db.reset();
    c.unparsed = false;
    c.classified = false;
    for (auto& s : c.streams) s = StreamOrderer(limits_.stream);
  }
}

void ConnectionTracker::FeedPlaintext(Connection& c, decode::Direction dir, uint64_t seq,
                                      uint32_t orig_len, std::string_view bytes, uint64_t ts_ns) {
  Touch(c, ts_ns);
  if (!c.plaintext) {
    // Plaintext offsets count from the session's first observed call.
    c.tls = c.plaintext = true;
    for (auto& s : c.streams) {
      if (!s.started()) s.Start(0);
    }
  }
  if (seq == 0 && !c.http2 && LooksLikeHttp2(bytes)) {
    c.http2 = true;
    stats_.http2_tls++;
  }
  if (seq == 0 && !c.classified && !bytes.empty()) {
    Classify(c, LooksLikeDb(bytes));
  }
  if (c.http2 || c.opaque()) return;
  int d = static_cast<int>(dir);
  c.streams[d].Push(seq, orig_len, bytes, ts_ns, c.out[d], stats_.stream);
}

void ConnectionTracker::OnTlsData(const decode::TlsData& e) {
  TlsKey key{e.pid, e.tls_id};
  if (e.conn_id == 0) {
    auto [it, fresh] = unbound_.try_emplace(key);
    Unbound& u = it->second;
    if (fresh) u.first_ns = e.timestamp_ns;
    if (unbound_bytes_ + e.payload.size() > limits_.max_unbound_bytes) {
      stats_.tls_unbound_events++;
      stats_.tls_unbound_bytes += e.orig_len;
      if (u.pieces.empty()) unbound_.erase(it);
      return;
    }
    u.pieces.push_back({e.direction, e.seq, e.orig_len, std::string(e.payload), e.timestamp_ns});
    u.bytes += e.payload.size();
    unbound_bytes_ += e.payload.size();
    return;
  }
  Connection& c = Find(e.conn_id, e.pid, e.fd.value_or(0), decode::Role::kUnknown, e.timestamp_ns);
  ReleaseUnbound(key, c);
  FeedPlaintext(c, e.direction, e.seq, e.orig_len, e.payload, e.timestamp_ns);
}

void ConnectionTracker::OnTlsBind(const decode::TlsBind& e) {
  if (e.conn_id == 0) {
    // A port-filtered connection: unwanted, not lost.
    if (auto it = unbound_.find({e.pid, e.tls_id}); it != unbound_.end()) {
      stats_.tls_filtered_events += it->second.pieces.size();
      unbound_bytes_ -= it->second.bytes;
      unbound_.erase(it);
    }
    return;
  }
  Connection& c = Find(e.conn_id, e.pid, e.fd, decode::Role::kUnknown, e.timestamp_ns);
  ReleaseUnbound({e.pid, e.tls_id}, c);
}

void ConnectionTracker::ReleaseUnbound(const TlsKey& key, Connection& c) {
  auto it = unbound_.find(key);
  if (it == unbound_.end()) return;
  Unbound u = std::move(it->second);
  unbound_.erase(it);
  unbound_bytes_ -= u.bytes;
  for (const auto& p : u.pieces) FeedPlaintext(c, p.direction, p.seq, p.orig_len, p.bytes, p.ts_ns);
}

void ConnectionTracker::DropUnbound(std::map<TlsKey, Unbound>::iterator it) {
  for (const auto& p : it->second.pieces) {
    stats_.tls_unbound_events++;
    stats_.tls_unbound_bytes += p.orig_len;
  }
  unbound_bytes_ -= it->second.bytes;
  unbound_.erase(it);
}

void ConnectionTracker::OnClose(const decode::ConnClose& e) {
  if (!conns_.count(e.conn_id)) {
    stats_.unknown_close++;
    return;
  }
  stats_.closed++;
  Finish(e.conn_id, e.timestamp_ns);
}

void ConnectionTracker::OnProcessExit(const decode::ProcessExit& e) {
  auto first = by_fd_.lower_bound(FdKey(e.pid, 0));
  auto last = by_fd_.lower_bound(FdKey(e.pid + 1, 0));
  std::vector<uint64_t> ids;
  for (auto it = first; it != last; ++it) ids.push_back(it->second);
  for (uint64_t id : ids) {
    stats_.closed_by_exit++;
    Finish(id, e.timestamp_ns);
  }
  for (auto it = unbound_.lower_bound({e.pid, 0});
       it != unbound_.end() && it->first.first == e.pid;) {
    DropUnbound(it++);
  }
}

void ConnectionTracker::Finish(uint64_t conn_id, uint64_t ts_ns) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  ConnPtr c = std::move(it->second);
  conns_.erase(it);
  lru_.erase(c->lru_pos);
  if (auto fd = by_fd_.find(FdKey(c->info.pid, c->info.fd));
      fd != by_fd_.end() && fd->second == conn_id) {
    by_fd_.erase(fd);
  }
  for (int d = 0; d < 2; d++) c->streams[d].Flush(ts_ns, true, c->out[d], stats_.stream);
  if (c->db) c->db->OnClose(ts_ns, *c->db_out);
  if (c->db_out) c->db_out->Close();
  c->session.OnClose(ts_ns, *c);
  if (c->tls) (c->plaintext ? stats_.tls_plaintext : stats_.tls_opaque)++;
}

void ConnectionTracker::Sweep(uint64_t now_ns) {
  // Least recently active first: stop at the first one still fresh.
  while (!lru_.empty()) {
    Connection& c = *conns_.at(lru_.front());
    if (c.last_ns + limits_.idle_timeout_ns > now_ns) break;
    stats_.shed_idle++;
    Finish(lru_.front(), now_ns);
  }
  for (auto& [id, c] : conns_) {
    for (int d = 0; d < 2; d++) c->streams[d].Flush(now_ns, false, c->out[d], stats_.stream);
  }
  for (auto it = unbound_.begin(); it != unbound_.end();) {
    if (it->second.first_ns + limits_.unbound_timeout_ns <= now_ns) {
      DropUnbound(it++);
    } else {
      ++it;
    }
  }
}

void ConnectionTracker::CloseAll(uint64_t now_ns) {
  while (!lru_.empty()) Finish(lru_.front(), now_ns);
}

size_t ConnectionTracker::buffered_bytes() const {
  size_t n = unbound_bytes_;
  for (const auto& [id, c] : conns_) {
    n += c->session.buffered_bytes() + c->streams[0].held_bytes() + c->streams[1].held_bytes();
    if (c->db) n += c->db->buffered_bytes();
  }
  return n;
}

}  // namespace sightline::conn
