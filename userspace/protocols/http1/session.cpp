#include "protocols/http1/session.h"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>

namespace sightline::http1 {
namespace {

// A head buffer that grew past this is released once the head is parsed,
// so one large head does not pin memory for the life of the connection.
constexpr size_t kKeptBufferCapacity = 4096;

// Parsing re-reads the whole buffer, so doing it on every small read would
// cost time quadratic in the head size. Up to this many buffered bytes every
// read is checked (garbage is caught at once); beyond it, only reads that
// may end the head (or the first line) or that cross the size limit are.
constexpr size_t kEagerParseBytes = 1024;

size_t Index(Stream s) { return static_cast<size_t>(s); }

Stream Other(Stream s) {
  return s == Stream::kIngress ? Stream::kEgress : Stream::kIngress;
}

ErrorKind HeadErrorKind(ParseError error, bool request) {
  if (error == ParseError::kHeadTooLarge) return ErrorKind::kHeadTooLarge;
  return request ? ErrorKind::kInvalidRequest : ErrorKind::kInvalidResponse;
}

// Some clients send a stray CRLF after a body; it belongs to no message.
void SkipLineBreaks(std::string_view* data) {
  size_t n = 0;
  while (n < data->size() && ((*data)[n] == '\r' || (*data)[n] == '\n')) ++n;
  data->remove_prefix(n);
}

void ReleaseBuffer(std::string* buf) {
  if (buf->capacity() > kKeptBufferCapacity) {
    std::string().swap(*buf);
  } else {
    buf->clear();
  }
}

// Whether bytes appended at `from` can complete a line (`blank_line` false)
// or a head (true). Looks back two bytes so a CRLF split across reads counts.
bool MayComplete(std::string_view buf, size_t from, bool blank_line) {
  const std::string_view tail = buf.substr(from >= 2 ? from - 2 : 0);
  if (!blank_line) return tail.find('\n') != std::string_view::npos;
  return tail.find("\n\n") != std::string_view::npos ||
         tail.find("\n\r\n") != std::string_view::npos;
}

// Approximate memory held by one waiting request.
size_t Footprint(const Transaction& t) {
  return sizeof(Transaction) + t.method.size() + t.target.size() +
         t.host.size();
}

}  // namespace

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidRequest:
      return "invalid_request";
    case ErrorKind::kInvalidResponse:
      return "invalid_response";
    case ErrorKind::kHeadTooLarge:
      return "head_too_large";
    case ErrorKind::kGap:
      return "gap";
    case ErrorKind::kUnmatchedResponse:
      return "unmatched_response";
    case ErrorKind::kTooManyPending:
      return "too_many_pending";
  }
  return "unknown";
}

Session::Session(Side side, Limits limits) : side_(side), limits_(limits) {
  limits_.max_pending_requests =
      std::max<size_t>(limits_.max_pending_requests, 1);
  // The head buffer holds up to max_head_bytes + 1 bytes; keep that finite.
  limits_.max_head_bytes =
      std::min(limits_.max_head_bytes, std::numeric_limits<size_t>::max() / 2);
  // Seen mid-stream: neither stream is known to be at a message boundary.
  if (side_ == Side::kUnknown) {
    for (StreamState& st : streams_) st.phase = Phase::kSeek;
  }
}

size_t Session::buffered_bytes() const {
  return streams_[0].buf.size() + streams_[1].buf.size() + pending_bytes_;
}

bool Session::IsRequestStream(Stream s) const {
  switch (side_) {
    case Side::kServer:
      return s == Stream::kIngress;
    case Side::kClient:
      return s == Stream::kEgress;
    case Side::kUnknown:
      return true;  // both streams look for a request
  }
  return true;
}

ParseStatus Session::CheckStart(Stream s, std::string_view bytes) const {
  return IsRequestStream(s) ? CheckRequestStart(bytes, limits_.max_head_bytes)
                            : CheckResponseStart(bytes);
}

bool Session::Seek(Stream s, std::string_view bytes) {
  const ParseStatus start = CheckStart(s, bytes);
  if (start == ParseStatus::kInvalid) return false;
  StreamState& st = streams_[Index(s)];
  st.phase = Phase::kHead;
  st.tentative = start == ParseStatus::kNeedMore;
  ReleaseBuffer(&st.buf);
  if (!st.tentative) Confirm(s);
  return true;
}

void Session::Confirm(Stream s) {
  if (side_ != Side::kUnknown) return;
  // The stream that carries requests decides who the observed process is.
  side_ = s == Stream::kIngress ? Side::kServer : Side::kClient;
  StreamState& other = streams_[Index(Other(s))];
  other = StreamState{};
  other.phase = Phase::kSeek;
}

// Collects head bytes of stream s from `*data` (advancing it past what the
// head used) and runs `parse` once a head may be complete. The buffer never
// holds more than max_head_bytes + 1 bytes: that is enough for the parser to
// tell a complete head from one that is too large.
template <typename ParseFn>
Session::HeadStep Session::TakeHead(Stream s, std::string_view* data,
                                    uint64_t ts, ParseFn parse,
                                    ParseError* error) {
  StreamState& st = streams_[Index(s)];
  // A chunk that starts a message on its own beats a doubtful prefix.
  if (st.tentative && !st.buf.empty() &&
      CheckStart(s, *data) == ParseStatus::kComplete) {
    ReleaseBuffer(&st.buf);
    st.tentative = false;
    Confirm(s);
  }

  if (st.buf.empty()) {
    std::string_view in = *data;
    const ParseResult r =
        st.tentative ? ParseResult{} : parse(&in);  // tentative: a prefix only
    if (r.status == ParseStatus::kInvalid) {
      *error = r.error;
      return HeadStep::kBad;
    }
    st.head_start_ns = ts;
    if (r.status == ParseStatus::kComplete) {
      *data = in;
      return HeadStep::kDone;
    }
    st.buf.assign(*data);
    *data = {};
    return HeadStep::kWaiting;
  }

  const size_t old = st.buf.size();
  const size_t cap = limits_.max_head_bytes + 1;
  const size_t take = old < cap ? std::min(data->size(), cap - old) : 0;
  st.buf.append(data->data(), take);
  if (old >= kEagerParseBytes && st.buf.size() <= limits_.max_head_bytes &&
      !MayComplete(st.buf, old, /*blank_line=*/!st.tentative)) {
    data->remove_prefix(take);
    return HeadStep::kWaiting;
  }
  if (st.tentative) {
    const ParseStatus start = CheckStart(s, st.buf);
    if (start == ParseStatus::kInvalid) return HeadStep::kRefuted;
    if (start == ParseStatus::kNeedMore) {
      data->remove_prefix(take);
      return HeadStep::kWaiting;
    }
    st.tentative = false;
    Confirm(s);
  }
  std::string_view in = st.buf;
  const ParseResult r = parse(&in);
  if (r.status == ParseStatus::kInvalid) {
    *error = r.error;
    return HeadStep::kBad;
  }
  if (r.status == ParseStatus::kNeedMore) {
    data->remove_prefix(take);
    return HeadStep::kWaiting;
  }
  const size_t used = st.buf.size() - in.size();
  data->remove_prefix(used > old ? used - old : 0);
  ReleaseBuffer(&st.buf);
  return HeadStep::kDone;
}

void Session::OnData(Stream s, std::string_view bytes, uint64_t ts_ns,
                     Sink& sink) {
  if (closed_ || opaque_ || bytes.empty()) return;
  if (IsRequestStream(s)) {
    Feed<true>(s, bytes, ts_ns, sink);
  } else {
    Feed<false>(s, bytes, ts_ns, sink);
  }
}

// Requests and responses go through the same phases; they differ only in
// which head they parse and what completing one means.
template <bool kRequest>
void Session::Feed(Stream s, std::string_view data, uint64_t ts, Sink& sink) {
  StreamState& st = streams_[Index(s)];
  while (!data.empty() && !opaque_) {
    switch (st.phase) {
      case Phase::kSeek:
        if (!Seek(s, data)) return;
        break;
      case Phase::kHead: {
        if (st.buf.empty() && !st.tentative) {
          SkipLineBreaks(&data);
          if (data.empty()) return;
        }
        std::conditional_t<kRequest, RequestHead, ResponseHead> head;
        ParseError error = ParseError::kNone;
        const HeadStep step = TakeHead(
            s, &data, ts,
            [&](std::string_view* in) {
              if constexpr (kRequest) {
                return ParseRequestHead(in, &head, limits_.max_head_bytes);
              } else {
                return ParseResponseHead(in, &head, limits_.max_head_bytes);
              }
            },
            &error);
        if (step == HeadStep::kWaiting) return;
        if (step == HeadStep::kBad) {
          sink.OnError(HeadErrorKind(error, kRequest));
          Desync<kRequest>(st, sink);
          return;
        }
        if (step == HeadStep::kRefuted) {
          st = StreamState{};
          st.phase = Phase::kSeek;
          break;
        }
        if constexpr (kRequest) {
          OnRequestHead(st, head, ts, sink);
        } else {
          OnResponseHead(st, head, ts, sink);
        }
        break;
      }
      case Phase::kBody: {
        body_scratch_.clear();
        const BodyDecoder::Result r = st.body.Feed(data, st.follow ? &body_scratch_ : nullptr);
        data.remove_prefix(r.consumed);
        if (st.follow && !body_scratch_.empty()) {
          sink.OnBody(st.msg_id, kRequest, body_scratch_, ts);
        }
        if (r.consumed > 0) {
          if constexpr (kRequest) {
            AccountRequestBody(st, ts);
          } else {
            AccountResponseBody(st, ts);
          }
        }
        if (r.status == ParseStatus::kInvalid) {
          sink.OnError(kRequest ? ErrorKind::kInvalidRequest : ErrorKind::kInvalidResponse);
          Desync<kRequest>(st, sink);
          return;
        }
        if (r.status == ParseStatus::kComplete) {
          if constexpr (kRequest) {
            FinishRequest(st, sink);
          } else {
            FinishResponse(st, sink);
          }
        }
        break;
      }
    }
  }
}

template <bool kRequest>
void Session::Desync(StreamState& st, Sink& sink) {
  if constexpr (kRequest) {
    DesyncRequest(st, sink);
  } else {
    DesyncResponse(st, sink);
  }
}

void Session::OnRequestHead(StreamState& st, const RequestHead& head,
                            uint64_t ts, Sink& sink) {
  Pending p;
  p.id = next_id_++;
  p.follow = sink.FollowBody(p.id, side_, head);
  Transaction& t = p.txn;
  t.id = p.id;
  t.side = side_;
  t.method = head.method;
  t.target = head.target;
  t.host = head.host;
  t.request_start_ns = st.head_start_ns;
  t.request_end_ns = ts;
  const BodyFraming framing = RequestBodyFraming(head);
  if (framing.kind == BodyKind::kNone) {
    p.request_done = true;
  } else {
    st.body = BodyDecoder(framing, limits_.max_head_bytes);
    st.phase = Phase::kBody;
    st.msg_id = p.id;
    st.follow = p.follow;
  }
  Push(std::move(p));
  if (pending_.size() > limits_.max_pending_requests) {
    sink.OnError(ErrorKind::kTooManyPending);
    PopFront(sink);
  }
}

void Session::OnResponseHead(StreamState& st, const ResponseHead& head,
                             uint64_t ts, Sink& sink) {
  Pending* p = FirstUnanswered();
  if (p == nullptr) {
    sink.OnError(ErrorKind::kUnmatchedResponse);
    if (SwitchesProtocol(head.status, "")) {
      SwitchToOpaque(sink);
      return;
    }
    // Skip its body so the next response is found.
    const BodyFraming framing = ResponseBodyFraming(head, "");
    if (framing.kind != BodyKind::kNone) {
      st.body = BodyDecoder(framing, limits_.max_head_bytes);
      st.phase = Phase::kBody;
      st.msg_id = 0;
      st.follow = false;
    }
    return;
  }
  if (IsInterimStatus(head.status)) return;

  Transaction& t = p->txn;
  t.status = head.status;
  t.response_start_ns = st.head_start_ns;
  t.response_end_ns = ts;
  if (SwitchesProtocol(head.status, t.method)) {
    t.answered = true;
    p->request_done = true;
    SwitchToOpaque(sink);
    return;
  }
  st.msg_id = p->id;
  st.follow = p->follow;
  if (p->follow) sink.OnResponseHead(p->id, head, ts);
  const BodyFraming framing = ResponseBodyFraming(head, t.method);
  if (framing.kind == BodyKind::kNone) {
    st.body = BodyDecoder();
    FinishResponse(st, sink);
    return;
  }
  st.body = BodyDecoder(framing, limits_.max_head_bytes);
  st.phase = Phase::kBody;
}

void Session::AccountRequestBody(StreamState& st, uint64_t ts) {
  if (Pending* p = FindPending(st.msg_id)) {
    p->txn.request_body_bytes = st.body.body_bytes();
    p->txn.request_end_ns = ts;
  }
}

void Session::AccountResponseBody(StreamState& st, uint64_t ts) {
  if (Pending* p = FindPending(st.msg_id)) {
    p->txn.response_body_bytes = st.body.body_bytes();
    p->txn.response_end_ns = ts;
  }
}

void Session::FinishRequest(StreamState& st, Sink& sink) {
  if (Pending* p = FindPending(st.msg_id)) p->request_done = true;
  st.phase = Phase::kHead;
  st.msg_id = 0;
  st.body = BodyDecoder();
  EmitFinished(sink);
}

void Session::FinishResponse(StreamState& st, Sink& sink) {
  if (Pending* p = FindPending(st.msg_id)) {
    p->txn.answered = true;
    p->txn.response_body_bytes = st.body.body_bytes();
  }
  st.phase = Phase::kHead;
  st.msg_id = 0;
  st.body = BodyDecoder();
  EmitFinished(sink);
}

void Session::DesyncRequest(StreamState& st, Sink& sink) {
  // The request whose body was cut keeps what was counted and can still be
  // answered.
  if (Pending* p = FindPending(st.msg_id)) p->request_done = true;
  st = StreamState{};
  st.phase = Phase::kSeek;
  EmitFinished(sink);
}

void Session::DesyncResponse(StreamState& st, Sink& sink) {
  // Responses can no longer be paired reliably: nothing waits forever.
  st = StreamState{};
  st.phase = Phase::kSeek;
  EmitAll(sink);
}

void Session::SwitchToOpaque(Sink& sink) {
  opaque_ = true;
  EmitAll(sink);
  for (StreamState& st : streams_) st = StreamState{};
}

void Session::OnGap(Stream s, uint64_t n, uint64_t ts_ns, Sink& sink) {
  if (closed_ || opaque_ || n == 0) return;
  StreamState& st = streams_[Index(s)];
  const bool request = IsRequestStream(s);
  switch (st.phase) {
    case Phase::kSeek:
      return;  // already out of sync
    case Phase::kHead:
      if (st.tentative) {
        // Not yet in sync: the doubtful prefix is simply forgotten.
        st = StreamState{};
        st.phase = Phase::kSeek;
        return;
      }
      break;
    case Phase::kBody:
      if (st.body.Skip(n)) {
        if (st.follow) sink.OnBodyGap(st.msg_id, request, n);
        if (request) {
          AccountRequestBody(st, ts_ns);
          if (st.body.done()) FinishRequest(st, sink);
        } else {
          AccountResponseBody(st, ts_ns);
          if (st.body.done()) FinishResponse(st, sink);
        }
        return;
      }
      break;
  }
  sink.OnError(ErrorKind::kGap);
  if (request) {
    DesyncRequest(st, sink);
  } else {
    DesyncResponse(st, sink);
  }
}

void Session::OnClose(uint64_t /*ts_ns*/, Sink& sink) {
  if (closed_) return;
  closed_ = true;
  if (!opaque_) {
    for (const Stream s : {Stream::kIngress, Stream::kEgress}) {
      StreamState& st = streams_[Index(s)];
      if (st.phase != Phase::kBody || IsRequestStream(s)) continue;
      // A body that runs until close ends here; its last byte was the last
      // one seen, so its end time stays as recorded.
      if (st.body.Close()) FinishResponse(st, sink);
    }
  }
  if (side_ != Side::kUnknown) {
    for (const Stream s : {Stream::kIngress, Stream::kEgress}) {
      if (IsRequestStream(s)) KeepCutRequest(streams_[Index(s)]);
    }
  }
  EmitAll(sink);
  for (StreamState& st : streams_) st = StreamState{};
}

// A request whose head the close cut short never got an answer: it joins the
// unanswered ones when its start line got as far as the method.
void Session::KeepCutRequest(const StreamState& st) {
  if (st.phase != Phase::kHead || st.tentative || st.buf.empty()) return;
  std::string_view line = st.buf;
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp > 32) return;
  std::string_view method = line.substr(0, sp);
  for (char c : method) {
    if (c < 'A' || c > 'Z') return;
  }
  std::string_view rest = line.substr(sp + 1);
  Pending p;
  p.id = next_id_++;
  p.txn.id = p.id;
  p.txn.side = side_;
  p.txn.method = std::string(method);
  const size_t end = rest.find_first_of(" \r\n");
  if (end != std::string_view::npos) p.txn.target = std::string(rest.substr(0, end));
  p.txn.request_start_ns = st.head_start_ns;
  Push(std::move(p));
}

Session::Pending* Session::FindPending(uint64_t id) {
  if (id == 0) return nullptr;
  const auto it =
      std::lower_bound(pending_.begin(), pending_.end(), id,
                       [](const Pending& p, uint64_t v) { return p.id < v; });
  return it != pending_.end() && it->id == id ? &*it : nullptr;
}

Session::Pending* Session::FirstUnanswered() {
  for (Pending& p : pending_) {
    if (!p.txn.answered) return &p;
  }
  return nullptr;
}

void Session::Push(Pending p) {
  pending_bytes_ += Footprint(p.txn);
  pending_.push_back(std::move(p));
}

void Session::PopFront(Sink& sink) {
  const Pending& front = pending_.front();
  pending_bytes_ -= Footprint(front.txn);
  sink.OnTransaction(front.txn);
  pending_.pop_front();
}

void Session::EmitFinished(Sink& sink) {
  while (!pending_.empty() && pending_.front().txn.answered &&
         pending_.front().request_done) {
    PopFront(sink);
  }
}

void Session::EmitAll(Sink& sink) {
  while (!pending_.empty()) PopFront(sink);
}

}  // namespace sightline::http1
