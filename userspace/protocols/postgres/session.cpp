#include "protocols/postgres/session.h"

#include <algorithm>
#include <utility>

#include "protocols/postgres/messages.h"
#include "protocols/postgres/sql.h"

namespace sightline::postgres {
namespace {

using db::Operation;
using db::Side;
using db::Stream;

// Names (statements, portals) are at most 63 bytes; these messages are
// read only as far as their names go.
constexpr size_t kNameMessageKeep = 160;
constexpr size_t kTagKeep = 128;
// Statements of one Query remembered by name; later ones are named after
// the server's command tag.
constexpr size_t kMaxStatementsPerQuery = 256;
constexpr size_t kKeptBufferCapacity = 4096;

size_t Index(Stream s) { return static_cast<size_t>(s); }

Stream Other(Stream s) { return s == Stream::kIngress ? Stream::kEgress : Stream::kIngress; }

void ReleaseBuffer(std::string* buf) {
  if (buf->capacity() > kKeptBufferCapacity) {
    std::string().swap(*buf);
  } else {
    buf->clear();
  }
}

size_t MapFootprint(const std::string& key, const std::string& name, const std::string& summary) {
  return key.size() + name.size() + summary.size() + 64;
}

}  // namespace

Session::Session(Side side, Limits limits) : side_(side), limits_(limits) {
  limits_.max_pending = std::max<size_t>(limits_.max_pending, 1);
  limits_.max_statements = std::max<size_t>(limits_.max_statements, 1);
  limits_.max_message_bytes = std::max<size_t>(limits_.max_message_bytes, 64);
  if (side_ == Side::kUnknown) {
    for (StreamState& st : streams_) st.phase = Phase::kSeek;
    backend_settled_ = false;
  } else {
    for (const Stream s : {Stream::kIngress, Stream::kEgress}) {
      if (IsFrontend(s)) streams_[Index(s)].phase = Phase::kStartup;
    }
  }
}

size_t Session::buffered_bytes() const {
  return streams_[0].body.size() + streams_[1].body.size() + pending_bytes_ + map_bytes_;
}

bool Session::IsFrontend(Stream s) const {
  return side_ == Side::kClient ? s == Stream::kEgress : s == Stream::kIngress;
}

void Session::OnData(Stream s, std::string_view bytes, uint64_t ts_ns, db::Sink& sink) {
  if (closed_ || opaque_ || bytes.empty()) return;
  if (side_ == Side::kUnknown && !Infer(s, bytes)) return;
  Feed(s, bytes, ts_ns, sink);
}

bool Session::Infer(Stream s, std::string_view data) {
  bool frontend = false;
  Phase phase = Phase::kHeader;
  if (IsStartupPacket(data)) {
    frontend = true;
    phase = Phase::kStartup;
  } else if (IsOneOf(kFrontendOnly, data[0]) && LooksLikeMessages(true, data)) {
    frontend = true;
  } else if (!(IsOneOf(kBackendOnly, data[0]) && LooksLikeMessages(false, data))) {
    return false;
  }
  const Stream front = frontend ? s : Other(s);
  side_ = front == Stream::kEgress ? Side::kClient : Side::kServer;
  streams_[Index(s)] = StreamState{};
  streams_[Index(s)].phase = phase;
  streams_[Index(Other(s))] = StreamState{};
  streams_[Index(Other(s))].phase = Phase::kSeek;
  backend_settled_ = false;
  return true;
}

void Session::Feed(Stream s, std::string_view data, uint64_t ts, db::Sink& sink) {
  StreamState& st = streams_[Index(s)];
  const bool frontend = IsFrontend(s);
  while (!data.empty() && !opaque_) {
    switch (st.phase) {
      case Phase::kSeek:
        if (!LooksLikeMessages(frontend, data)) return;  // not a boundary
        st = StreamState{};
        break;
      case Phase::kSslReply:
        if (data[0] == 'S' || data[0] == 'G') {
          // Encrypted from here on: nothing more can be read.
          opaque_ = true;
          EmitUnanswered(sink);
          return;
        }
        // 'N': plaintext goes on; anything else is an old server's error
        // message, read as a typed message.
        if (data[0] == 'N') data.remove_prefix(1);
        st.phase = Phase::kHeader;
        break;
      case Phase::kStartup:
        // A client followed from mid-life is past its startup packet:
        // startup lengths (at most 10000) always start with a zero byte.
        if (st.header_len == 0 && data[0] != '\0') {
          st.phase = Phase::kHeader;
          break;
        }
        [[fallthrough]];
      case Phase::kHeader: {
        const size_t need = st.phase == Phase::kStartup ? 4 : 5;
        if (st.header_len == 0) st.start_ns = ts;
        const size_t take = std::min(need - st.header_len, data.size());
        std::copy_n(data.data(), take, st.header.data() + st.header_len);
        st.header_len += take;
        data.remove_prefix(take);
        if (st.header_len < need) return;
        if (!StartHeader(st, frontend, sink)) return;
        if (st.body_left == 0) FinishMessage(s, ts, sink);
        break;
      }
      case Phase::kBody: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(st.body_left, data.size()));
        if (st.body.size() < st.keep) {
          st.body.append(data.data(), std::min(take, st.keep - st.body.size()));
        }
        st.body_left -= take;
        data.remove_prefix(take);
        if (st.body_left == 0) FinishMessage(s, ts, sink);
        break;
      }
    }
  }
}

bool Session::StartHeader(StreamState& st, bool frontend, db::Sink& sink) {
  const bool startup = st.phase == Phase::kStartup;
  st.header_len = 0;
  ReleaseBuffer(&st.body);
  if (startup) {
    const uint32_t len = ReadBe32(st.header.data());
    if (len < 8 || len > kMaxStartupBytes) {
      Invalid(sink);
      return false;
    }
    st.type = '\0';
    st.body_left = len - 4;
    st.keep = len - 4;
    st.phase = Phase::kBody;
    return true;
  }
  const char type = st.header[0];
  const uint32_t len = ReadBe32(st.header.data() + 1);
  if (!IsOneOf(frontend ? kFrontendTypes : kBackendTypes, type) || len < 4 ||
      len > kMaxMessageLength) {
    Invalid(sink);
    return false;
  }
  st.type = type;
  st.body_left = len - 4;
  size_t keep = 0;
  bool whole = false;  // a message whose every byte is wanted
  if (frontend) {
    if (type == 'Q' || type == 'P') {
      keep = limits_.max_message_bytes;
      whole = true;
    } else if (type == 'B' || type == 'E' || type == 'C') {
      keep = kNameMessageKeep;
    }
  } else if (type == 'E') {
    keep = limits_.max_message_bytes;
    whole = true;
  } else if (type == 'C') {
    keep = kTagKeep;
  }
  if (whole && st.body_left > keep) {
    sink.OnError("message_too_large");
  }
  st.keep = static_cast<size_t>(std::min<uint64_t>(keep, st.body_left));
  st.phase = Phase::kBody;
  return true;
}

void Session::FinishMessage(Stream s, uint64_t ts, db::Sink& sink) {
  StreamState& st = streams_[Index(s)];
  const char type = st.type;
  st.phase = type == '\0' ? Phase::kStartup : Phase::kHeader;
  if (IsFrontend(s)) {
    if (type == '\0') {
      OnStartup(st, sink);
    } else {
      if (IsOneOf("QPBEDCHF", type) && request_start_ns_ == 0) {
        request_start_ns_ = st.start_ns;
      }
      OnFrontend(st, ts, sink);
    }
  } else {
    if (!IsOneOf("NSA", type) && response_start_ns_ == 0) {
      response_start_ns_ = st.start_ns;
    }
    OnBackend(st, ts, sink);
  }
  ReleaseBuffer(&st.body);
}

void Session::OnStartup(StreamState& st, db::Sink& sink) {
  const std::string_view body = st.body;
  if (body.size() < 4) return;  // a gap took the code
  const uint32_t code = ReadBe32(body.data());
  if (!IsStartupCode(code)) {
    Invalid(sink);
    return;
  }
  if (code == kSslRequest || code == kGssEncRequest) {
    StreamState& back =
        streams_[Index(side_ == Side::kClient ? Stream::kIngress : Stream::kEgress)];
    if (back.phase == Phase::kHeader && back.header_len == 0) {
      back.phase = Phase::kSslReply;
    }
    return;
  }
  if (code == kCancelRequest) return;
  st.phase = Phase::kHeader;
  std::string_view user;
  std::string_view database;
  size_t pos = 4;
  while (pos < body.size() && body[pos] != '\0') {
    const std::string_view key = CString(body, &pos);
    const std::string_view value = CString(body, &pos);
    if (key == "user") user = value;
    if (key == "database") database = value;
  }
  db_namespace_ = std::string(database.empty() ? user : database);
}

void Session::OnFrontend(StreamState& st, uint64_t ts, db::Sink& sink) {
  const std::string_view body = st.body;
  size_t pos = 0;
  switch (st.type) {
    case 'Q': {
      Pending p;
      p.kind = Kind::kQuery;
      const std::string_view text = CString(body, &pos);
      for (const std::string_view stmt : SplitStatements(text)) {
        if (p.statements.size() >= kMaxStatementsPerQuery) break;
        p.statements.push_back({StatementName(stmt), SummarizeStatement(stmt)});
      }
      p.op.request_start_ns = request_start_ns_;
      p.op.request_end_ns = ts;
      request_start_ns_ = 0;
      Push(std::move(p), sink);
      return;
    }
    case 'P': {
      std::string name(CString(body, &pos));
      const std::string_view text = CString(body, &pos);
      Statement stmt{StatementName(text), SummarizeStatement(text)};
      last_parsed_ = stmt;
      has_last_parsed_ = true;
      Remember(&statements_, std::move(name), std::move(stmt), sink);
      return;
    }
    case 'B': {
      std::string portal(CString(body, &pos));
      const std::string statement(CString(body, &pos));
      const auto it = statements_.find(statement);
      Statement stmt = it == statements_.end() ? Statement{} : it->second;
      last_parsed_ = stmt;
      has_last_parsed_ = true;
      Remember(&portals_, std::move(portal), std::move(stmt), sink);
      return;
    }
    case 'E': {
      Pending p;
      p.kind = Kind::kExecute;
      const auto it = portals_.find(std::string(CString(body, &pos)));
      if (it != portals_.end()) {
        p.op.name = it->second.name;
        p.op.query_summary = it->second.summary;
      }
      p.op.request_start_ns = request_start_ns_;
      p.op.request_end_ns = ts;
      request_start_ns_ = 0;
      Push(std::move(p), sink);
      return;
    }
    case 'S': {
      Pending p;
      p.kind = Kind::kSync;
      p.has_last = has_last_parsed_;
      p.last = std::move(last_parsed_);
      p.op.request_start_ns = request_start_ns_ != 0 ? request_start_ns_ : st.start_ns;
      p.op.request_end_ns = ts;
      last_parsed_ = {};
      has_last_parsed_ = false;
      request_start_ns_ = 0;
      Push(std::move(p), sink);
      return;
    }
    case 'C': {
      const char what = body.empty() ? '\0' : body[0];
      pos = 1;
      const std::string name(CString(body, &pos));
      auto* map = what == 'S' ? &statements_ : what == 'P' ? &portals_ : nullptr;
      if (map == nullptr) return;
      if (const auto it = map->find(name); it != map->end()) Forget(map, it);
      return;
    }
    case 'd':
    case 'c':
    case 'f':
      // COPY FROM STDIN data is part of the COPY command's request.
      if (!pending_.empty() && pending_.back().kind != Kind::kSync) {
        pending_.back().op.request_end_ns = ts;
      }
      return;
    default:
      return;
  }
}

void Session::Forget(std::unordered_map<std::string, Statement>* map,
                     std::unordered_map<std::string, Statement>::iterator it) {
  map_bytes_ -= MapFootprint(it->first, it->second.name, it->second.summary);
  map->erase(it);
}

void Session::Remember(std::unordered_map<std::string, Statement>* map, std::string name,
                       Statement stmt, db::Sink& sink) {
  if (const auto it = map->find(name); it != map->end()) Forget(map, it);
  if (statements_.size() + portals_.size() >= limits_.max_statements) {
    // Forgetting one only costs the name of a later Execute (it falls back
    // to the server's command tag).
    sink.OnError("too_many_statements");
    auto* victim = map->empty() ? (map == &statements_ ? &portals_ : &statements_) : map;
    Forget(victim, victim->begin());
  }
  map_bytes_ += MapFootprint(name, stmt.name, stmt.summary);
  map->emplace(std::move(name), std::move(stmt));
}

void Session::OnBackend(StreamState& st, uint64_t ts, db::Sink& sink) {
  switch (st.type) {
    case 'C':
    case 'E':
    case 'I':
    case 's': {
      const uint64_t start = response_start_ns_;
      response_start_ns_ = 0;
      OnCompletion(st.type, st.body, start, ts, sink);
      return;
    }
    case 'Z':
      response_start_ns_ = 0;
      OnReady(sink);
      return;
    default:
      return;  // row data, descriptions, notices, parameter status, COPY
  }
}

void Session::OnCompletion(char type, std::string_view body, uint64_t start, uint64_t ts,
                           db::Sink& sink) {
  if (pending_.empty()) {
    // An error with nothing waiting is a startup or shutdown failure, not
    // a command's answer.
    if (type != 'E' && backend_settled_) sink.OnError("unmatched_reply");
    return;
  }
  Pending& front = pending_.front();
  Operation op = front.op;
  op.answered = true;
  op.response_start_ns = start;
  op.response_end_ns = ts;
  if (type == 'E') op.error_type = SqlState(body);
  switch (front.kind) {
    case Kind::kQuery: {
      if (type == 'I' || type == 's') return;
      const size_t idx = front.next++;
      if (idx < front.statements.size()) {
        op.name = front.statements[idx].name;
        op.query_summary = front.statements[idx].summary;
      } else if (type == 'C') {
        op.name = TagName(body);
      }
      Emit(op, sink);
      return;
    }
    case Kind::kExecute: {
      TakeFront();
      if (type == 'E') {
        // The server skips every message up to Sync: the Executes queued
        // before it never run and are not operations.
        while (!pending_.empty() && pending_.front().kind == Kind::kExecute) {
          TakeFront();
        }
      }
      if (type == 'I') return;
      if (op.name.empty() && type == 'C') op.name = TagName(body);
      Emit(op, sink);
      return;
    }
    case Kind::kSync:
      if (type == 'E') {
        // A Parse or Bind failed before any Execute of this batch.
        if (!front.has_last) return;
        op.name = front.last.name;
        op.query_summary = front.last.summary;
        Emit(op, sink);
      } else if (backend_settled_) {
        sink.OnError("unmatched_reply");
      }
      return;
  }
}

void Session::OnReady(db::Sink& sink) {
  backend_settled_ = true;
  const bool any = std::any_of(pending_.begin(), pending_.end(),
                               [](const Pending& p) { return p.kind != Kind::kExecute; });
  if (!any) return;  // after startup, or a batch whose start was not seen
  while (!pending_.empty()) {
    Pending p = TakeFront();
    if (p.kind != Kind::kExecute) return;
    // An Execute the server never answered before ReadyForQuery.
    sink.OnError("unmatched_reply");
    Emit(p.op, sink);
  }
}

void Session::Push(Pending p, db::Sink& sink) {
  pending_bytes_ += Footprint(p);
  pending_.push_back(std::move(p));
  if (pending_.size() <= limits_.max_pending) return;
  sink.OnError("too_many_pending");
  Pending front = TakeFront();
  EmitUnanswered(front, sink);
}

size_t Session::Footprint(const Pending& p) {
  size_t n = sizeof(Pending) + p.op.name.size() + p.op.query_summary.size() + p.last.name.size() +
             p.last.summary.size();
  for (const Statement& s : p.statements) n += sizeof(Statement) + s.name.size() + s.summary.size();
  return n;
}

Session::Pending Session::TakeFront() {
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  pending_bytes_ -= Footprint(p);
  return p;
}

void Session::Emit(Operation& op, db::Sink& sink) {
  op.system = db::System::kPostgres;
  op.side = side_;
  op.db_namespace = db_namespace_;
  sink.OnOperation(op);
}

void Session::EmitUnanswered(Pending& p, db::Sink& sink) {
  if (p.kind == Kind::kExecute) {
    Emit(p.op, sink);
  } else if (p.kind == Kind::kQuery && p.next < p.statements.size()) {
    // The statement the server was working on when its answer was lost.
    p.op.name = p.statements[p.next].name;
    p.op.query_summary = p.statements[p.next].summary;
    Emit(p.op, sink);
  }
}

void Session::EmitUnanswered(db::Sink& sink) {
  for (Pending& p : pending_) EmitUnanswered(p, sink);
  pending_.clear();
  pending_bytes_ = 0;
}

void Session::Invalid(db::Sink& sink) {
  sink.OnError("invalid_message");
  opaque_ = true;
  EmitUnanswered(sink);
  for (StreamState& st : streams_) st = StreamState{};
}

void Session::Resync(Stream s, db::Sink& sink) {
  StreamState& st = streams_[Index(s)];
  st = StreamState{};
  st.phase = Phase::kSeek;
  if (IsFrontend(s)) {
    request_start_ns_ = 0;
    return;
  }
  // Replies can no longer be paired: nothing waits forever.
  EmitUnanswered(sink);
  response_start_ns_ = 0;
  backend_settled_ = false;
}

void Session::OnGap(Stream s, uint64_t n, uint64_t ts_ns, db::Sink& sink) {
  if (closed_ || opaque_ || n == 0 || side_ == Side::kUnknown) return;
  StreamState& st = streams_[Index(s)];
  if (st.phase == Phase::kSeek) return;
  if (st.phase == Phase::kBody && n <= st.body_left) {
    // Inside one body: the framing survives; what is kept ends here.
    st.body_left -= n;
    st.keep = std::min(st.keep, st.body.size());
    if (st.body_left == 0) FinishMessage(s, ts_ns, sink);
    return;
  }
  sink.OnError("gap");
  Resync(s, sink);
}

void Session::OnClose(uint64_t /*ts_ns*/, db::Sink& sink) {
  if (closed_) return;
  closed_ = true;
  EmitUnanswered(sink);
  for (StreamState& st : streams_) st = StreamState{};
  statements_.clear();
  portals_.clear();
  map_bytes_ = 0;
}

}  // namespace sightline::postgres
