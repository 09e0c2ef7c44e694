#include "protocols/redis/session.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "util/text.h"

namespace sightline::redis {
namespace {

using db::Operation;
using db::QueueAction;
using db::Side;
using db::Stream;

// Kept of a command: its name, key and one more argument (destination or
// count); of a reply: the first two elements ([key, value] of BRPOP, the
// kind and channel of a pub/sub message).
constexpr size_t kRequestElements = 3;
constexpr size_t kReplyElements = 3;
constexpr size_t kKeepBytes = 512;
constexpr size_t kMaxNameBytes = 32;

constexpr std::string_view kReplyTypes = "+-:$*_,#(!=%~>|";

// Commands common enough to tell a request stream picked up mid-life from
// a reply that happens to be an array of strings.
constexpr std::string_view kKnownCommands[] = {
    "APPEND",  "AUTH",        "BLMOVE",        "BLPOP",   "BRPOP",     "BRPOPLPUSH", "CLIENT",
    "CONFIG",  "DECR",        "DECRBY",        "DEL",     "DISCARD",   "ECHO",       "EVAL",
    "EVALSHA", "EXEC",        "EXISTS",        "EXPIRE",  "EXPIREAT",  "GET",        "GETDEL",
    "GETEX",   "GETSET",      "HDEL",          "HELLO",   "HEXISTS",   "HGET",       "HGETALL",
    "HINCRBY", "HKEYS",       "HLEN",          "HMGET",   "HMSET",     "HSET",       "INCR",
    "INCRBY",  "INFO",        "KEYS",          "LLEN",    "LMOVE",     "LPOP",       "LPUSH",
    "LPUSHX",  "LRANGE",      "LREM",          "MGET",    "MSET",      "MULTI",      "PEXPIRE",
    "PING",    "PSUBSCRIBE",  "PTTL",          "PUBLISH", "QUIT",      "RPOP",       "RPOPLPUSH",
    "RPUSH",   "RPUSHX",      "SADD",          "SCAN",    "SELECT",    "SET",        "SETEX",
    "SETNX",   "SISMEMBER",   "SMEMBERS",      "SREM",    "SUBSCRIBE", "TTL",        "TYPE",
    "UNLINK",  "UNSUBSCRIBE", "WATCH",         "XACK",    "XADD",      "XREAD",      "XREADGROUP",
    "ZADD",    "ZRANGE",      "ZRANGEBYSCORE", "ZREM",    "ZSCORE",
};

size_t Index(Stream s) { return static_cast<size_t>(s); }

Stream Other(Stream s) { return s == Stream::kIngress ? Stream::kEgress : Stream::kIngress; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool IsKnownCommand(std::string_view word) {
  const std::string up = Upper(word);
  return std::find(std::begin(kKnownCommands), std::end(kKnownCommands), up) !=
         std::end(kKnownCommands);
}

// The command upper-cased; a name no command has (too long, odd bytes)
// becomes UNKNOWN so that garbage cannot mint metric labels.
std::string CommandName(std::string_view word) {
  if (word.empty() || word.size() > kMaxNameBytes) return "UNKNOWN";
  for (const char c : word) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) == 0 && c != '_' && c != '.' && c != '-' && c != '|') return "UNKNOWN";
  }
  return Upper(word);
}

// "WRONGTYPE Operation against..." -> "WRONGTYPE".
std::string ErrorWord(std::string_view text) {
  const std::string_view word = text.substr(0, text.find(' '));
  if (word.empty() || word.size() > kMaxNameBytes) return "ERR";
  for (const char c : word) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) == 0 && c != '_') return "ERR";
  }
  return std::string(word);
}

// A SUBSCRIBE-family command, or the kind of its confirmation reply (any case).
bool IsConfirmation(std::string_view word) {
  for (std::string_view kind :
       {"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"}) {
    if (text::EqualsIgnoreCase(word, kind)) return true;
  }
  return false;
}

// The command word and first arguments of a command value.
struct Args {
  uint64_t count = 0;
  std::string_view words[kRequestElements];
  uint64_t key_length = 0;
};

Args ArgsOf(const Value& v) {
  Args a;
  if (v.type == 'i') {
    std::string_view line = v.text;
    while (!line.empty()) {
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      const size_t end = std::min(line.find_first_of(" \t"), line.size());
      if (a.count < kRequestElements) a.words[a.count] = line.substr(0, end);
      if (a.count == 1) a.key_length = end;
      ++a.count;
      line.remove_prefix(end);
    }
    return a;
  }
  a.count = v.integer > 0 ? static_cast<uint64_t>(v.integer) : 0;
  for (size_t i = 0; i < v.head.size() && i < kRequestElements; ++i) a.words[i] = v.head[i].text;
  if (v.head.size() > 1) a.key_length = v.head[1].length;
  return a;
}

bool StartsValue(bool requests, char c) {
  if (requests) return c == '*' || std::isalpha(static_cast<unsigned char>(c)) != 0;
  return kReplyTypes.find(c) != std::string_view::npos;
}

// The first word of a command chunk: "*2\r\n$3\r\nGET\r\n..." or "PING\r\n".
std::string_view FirstCommandWord(std::string_view data) {
  if (data.empty()) return {};
  if (data[0] != '*') return data.substr(0, std::min(data.find_first_of(" \t\r\n"), data.size()));
  const size_t nl = data.find("\r\n");
  if (nl == std::string_view::npos || nl + 2 >= data.size() || data[nl + 2] != '$') return {};
  const size_t nl2 = data.find("\r\n", nl + 2);
  if (nl2 == std::string_view::npos) return {};
  const std::string_view rest = data.substr(nl2 + 2);
  return rest.substr(0, std::min(rest.find("\r\n"), rest.size()));
}

}  // namespace

Session::StreamState::StreamState(bool requests)
    : reader(requests, requests ? kRequestElements : kReplyElements, kKeepBytes) {}

Session::Session(Side side, Limits limits)
    : side_(side),
      limits_(limits),
      streams_{StreamState(side == Side::kServer), StreamState(side == Side::kClient)} {
  limits_.max_pending = std::max<size_t>(limits_.max_pending, 1);
  if (side_ == Side::kUnknown) {
    for (StreamState& st : streams_) st.seeking = true;
    replies_settled_ = false;
  }
}

size_t Session::buffered_bytes() const {
  return streams_[0].reader.buffered_bytes() + streams_[1].reader.buffered_bytes() + pending_bytes_;
}

bool Session::IsRequestStream(Stream s) const {
  return side_ == Side::kClient ? s == Stream::kEgress : s == Stream::kIngress;
}

void Session::OnData(Stream s, std::string_view bytes, uint64_t ts_ns, db::Sink& sink) {
  if (closed_ || bytes.empty()) return;
  if (side_ == Side::kUnknown && !Infer(s, bytes)) return;
  Feed(s, bytes, ts_ns, sink);
}

bool Session::Infer(Stream s, std::string_view data) {
  bool requests = false;
  if (kReplyTypes.find(data[0]) != std::string_view::npos && data[0] != '*') {
    requests = false;
  } else if (StartsValue(true, data[0]) && IsKnownCommand(FirstCommandWord(data))) {
    requests = true;
  } else {
    return false;
  }
  const Stream req = requests ? s : Other(s);
  side_ = req == Stream::kEgress ? Side::kClient : Side::kServer;
  streams_[Index(req)] = StreamState(true);
  streams_[Index(Other(req))] = StreamState(false);
  streams_[Index(Other(s))].seeking = true;
  // Only a guess until a value parses whole: garbage here is not an error.
  streams_[Index(s)].tentative = true;
  return true;
}

void Session::Feed(Stream s, std::string_view data, uint64_t ts, db::Sink& sink) {
  StreamState& st = streams_[Index(s)];
  const bool requests = IsRequestStream(s);
  while (!data.empty()) {
    if (st.seeking) {
      if (!StartsValue(requests, data[0])) return;  // not a boundary
      st.seeking = false;
      st.tentative = true;
      st.reader.Reset();
    }
    if (!st.reader.started()) st.start_ns = ts;
    const ReadStatus r = st.reader.Feed(&data);
    if (r == ReadStatus::kNeedMore) return;
    if (r == ReadStatus::kInvalid) {
      if (st.tentative) {
        // It only looked like a boundary: keep looking, quietly.
        st.reader.Reset();
        st.seeking = true;
        return;
      }
      sink.OnError("invalid_message");
      Resync(s, sink);
      return;
    }
    st.tentative = false;
    if (requests) {
      OnRequest(st.reader.value(), st.start_ns, ts, sink);
    } else {
      OnReply(st.reader.value(), st.start_ns, ts, sink);
    }
    st.reader.Reset();
  }
}

void Session::OnRequest(const Value& v, uint64_t start, uint64_t end, db::Sink& sink) {
  const Args a = ArgsOf(v);
  if (a.count == 0) return;  // an empty command: the server ignores it
  Pending p;
  Operation& op = p.op;
  op.name = CommandName(a.words[0]);
  op.request_start_ns = start;
  op.request_end_ns = end;
  const std::string& n = op.name;
  p.queued = in_multi_ && n != "EXEC" && n != "DISCARD" && n != "MULTI" && n != "WATCH";
  if (n == "MULTI") in_multi_ = true;
  if (n == "EXEC" || n == "DISCARD") in_multi_ = false;

  bool list = true;
  if (n == "GET" || n == "GETEX" || n == "GETDEL" || n == "HGET") {
    p.reads = Reads::kCacheOne;
    list = false;
  } else if (n == "MGET" || n == "HMGET") {
    p.reads = Reads::kCacheMany;
    list = false;
  } else if (n == "LPUSH" || n == "RPUSH" || n == "LPUSHX" || n == "RPUSHX") {
    p.reads = Reads::kPush;
    op.queue_action = QueueAction::kEnqueue;
    op.queue_items = a.count >= 2 ? a.count - 2 : 0;
  } else if (n == "LPOP" || n == "RPOP") {
    p.reads = Reads::kPop;
    op.queue_action = QueueAction::kDequeue;
  } else if (n == "BLPOP" || n == "BRPOP") {
    p.reads = Reads::kBlockingPop;
    op.queue_action = QueueAction::kDequeue;
  } else if (n == "LMOVE" || n == "BLMOVE" || n == "RPOPLPUSH" || n == "BRPOPLPUSH") {
    p.reads = Reads::kMove;
    op.queue_action = QueueAction::kDequeue;
    op.queue_destination = std::string(a.words[2]);
  } else if (n == "LLEN") {
    p.reads = Reads::kLength;
  } else {
    list = false;
  }
  if (list) {
    op.queue_key = std::string(a.words[1]);
    // Keys are kept up to kKeepBytes: a longer one is cut, and counted.
    if (a.key_length > kKeepBytes) sink.OnError("key_truncated");
  }
  if (IsConfirmation(n)) {
    p.reads = Reads::kSubscribe;
    // One confirmation per channel; an UNSUBSCRIBE of everything gets one
    // per subscribed channel, which cannot be known: extras are pushes.
    p.confirmations = a.count > 1 ? a.count - 1 : 1;
    if (n.find("UNSUBSCRIBE") == std::string::npos) subscribed_ = true;
  }
  pending_bytes_ += Footprint(p);
  pending_.push_back(std::move(p));
  if (pending_.size() > limits_.max_pending) {
    sink.OnError("too_many_pending");
    PopFront(sink);
  }
}

bool Session::IsPush(const Value& v) const {
  if (v.type != '>' && !(v.type == '*' && subscribed_)) return false;
  const std::string_view word = v.head.empty() ? std::string_view() : v.head[0].text;
  if (text::EqualsIgnoreCase(word, "message") || text::EqualsIgnoreCase(word, "pmessage") ||
      text::EqualsIgnoreCase(word, "smessage")) {
    return true;
  }
  if (IsConfirmation(word)) {
    // The reply the front command waits for names that command.
    return pending_.empty() || pending_.front().reads != Reads::kSubscribe ||
           !text::EqualsIgnoreCase(word, pending_.front().op.name);
  }
  return v.type == '>';  // other RESP3 pushes: invalidations, monitors
}

void Session::OnReply(const Value& v, uint64_t start, uint64_t end, db::Sink& sink) {
  if (IsPush(v)) return;
  if (pending_.empty()) {
    if (replies_settled_) sink.OnError("unmatched_reply");
    return;
  }
  replies_settled_ = true;
  Pending& front = pending_.front();
  if (front.op.response_start_ns == 0) front.op.response_start_ns = start;
  front.op.response_end_ns = end;
  if (front.reads == Reads::kSubscribe) {
    // The count of channels still subscribed ends the subscribed state.
    if (v.head.size() >= 3 && v.head[2].type == ':' && v.head[2].integer == 0) {
      subscribed_ = false;
    }
    if (front.confirmations > 1 && v.type != '-') {
      --front.confirmations;
      return;
    }
  }
  Complete(front, v, sink);
  PopFront(sink);
}

void Session::Complete(Pending& p, const Value& v, db::Sink& /*sink*/) {
  Operation& op = p.op;
  op.answered = true;
  if (v.type == '-' || v.type == '!') {
    op.error_type = ErrorWord(v.text);
    op.queue_items = 0;  // nothing moved
    return;
  }
  if (p.queued) {
    if (op.queue_action == QueueAction::kDequeue) op.queue_items = 0;
    return;  // QUEUED: the effect shows only in EXEC's reply
  }
  const bool aggregate = v.type == '*' || v.type == '~';
  switch (p.reads) {
    case Reads::kCacheOne: {
      if (aggregate) break;
      const bool hit = !v.null;
      op.cache_hit = hit;
      op.cache_hits = hit ? 1 : 0;
      op.cache_misses = hit ? 0 : 1;
      break;
    }
    case Reads::kCacheMany:
      if (!aggregate || v.null) break;
      op.cache_hits = static_cast<uint32_t>(v.children - v.null_children);
      op.cache_misses = static_cast<uint32_t>(v.null_children);
      break;
    case Reads::kPush:
    case Reads::kLength:
      if (v.type == ':') op.queue_length = v.integer;
      break;
    case Reads::kPop:
      op.queue_items = v.null ? 0 : aggregate ? v.children : 1;
      break;
    case Reads::kBlockingPop:
      if (aggregate && !v.null && v.children >= 2 && !v.head.empty()) {
        op.queue_key = v.head[0].text;
        op.queue_items = 1;
      } else {
        op.queue_items = 0;  // timed out: the key stays the first one named
      }
      break;
    case Reads::kMove:
      op.queue_items = !v.null && v.type == '$' ? 1 : 0;
      break;
    case Reads::kNothing:
    case Reads::kSubscribe:
      break;
  }
}

void Session::Resync(Stream s, db::Sink& sink) {
  // A lost command still gets its reply, and a lost reply leaves its
  // command waiting forever: either way the order no longer pairs, so both
  // streams look for a fresh boundary and everything waiting comes out.
  for (const Stream x : {s, Other(s)}) {
    StreamState& st = streams_[Index(x)];
    if (x == s || !IsRequestStream(x)) {
      st.reader.Reset();
      st.seeking = true;
    }
  }
  EmitAll(sink);
  replies_settled_ = false;
  in_multi_ = false;
}

void Session::OnGap(Stream s, uint64_t n, uint64_t /*ts_ns*/, db::Sink& sink) {
  if (closed_ || n == 0 || side_ == Side::kUnknown) return;
  StreamState& st = streams_[Index(s)];
  if (st.seeking) return;
  if (st.reader.SkipInsideBulk(n)) return;
  sink.OnError("gap");
  Resync(s, sink);
}

void Session::OnClose(uint64_t /*ts_ns*/, db::Sink& sink) {
  if (closed_) return;
  closed_ = true;
  EmitAll(sink);
  for (StreamState& st : streams_) st.reader.Reset();
}

size_t Session::Footprint(const Pending& p) {
  return sizeof(Pending) + p.op.name.size() + p.op.queue_key.size() +
         p.op.queue_destination.size();
}

void Session::PopFront(db::Sink& sink) {
  Pending& p = pending_.front();
  pending_bytes_ -= Footprint(p);
  p.op.system = db::System::kRedis;
  p.op.side = side_;
  sink.OnOperation(p.op);
  pending_.pop_front();
}

void Session::EmitAll(db::Sink& sink) {
  while (!pending_.empty()) PopFront(sink);
}

}  // namespace sightline::redis
