// HTTP/1.x request/response stitching for one connection.
//
// A Session is fed the two byte streams of one connection as the observed
// process moved them (one call per syscall, in order within each stream) and
// emits one Transaction per request: requests queue in order and each
// response pairs with the oldest unanswered one, so pipelining works. It
// never throws on the data path, never buffers body bytes (they are only
// counted), and holds at most about max_head_bytes per stream plus the
// queue of waiting requests.
//
// Interim 1xx responses (other than 101) are not part of a transaction: its
// status and response timestamps come from the final response.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "protocols/http1/body.h"
#include "protocols/http1/parser.h"

namespace sightline::http1 {

// Role of the observed process on this connection.
enum class Side : uint8_t { kUnknown, kServer, kClient };
// Bytes read (ingress) or written (egress) by the observed process.
enum class Stream : uint8_t { kIngress = 0, kEgress = 1 };

struct Transaction {
  uint64_t id = 0;  // the exchange's number on its connection (as given to FollowBody)
  // kServer: the observed process answered; kClient: it asked.
  Side side = Side::kUnknown;
  std::string method;
  std::string target;               // raw request target, e.g. "/api/x?y=1"
  std::string host;                 // Host header value, may be empty
  int status = 0;                   // 0 when no response head was seen
  bool answered = false;            // a complete response was seen
  uint64_t request_body_bytes = 0;  // decoded (de-chunked) body bytes
  uint64_t response_body_bytes = 0;
  // Timestamps of the data chunks carrying the first and last request bytes
  // and the first and last response bytes.
  uint64_t request_start_ns = 0;
  uint64_t request_end_ns = 0;
  uint64_t response_start_ns = 0;
  uint64_t response_end_ns = 0;
};

enum class ErrorKind : uint8_t {
  kInvalidRequest,
  kInvalidResponse,
  kHeadTooLarge,
  kGap,
  kUnmatchedResponse,
  kTooManyPending,
};

// "invalid_request", "invalid_response", "head_too_large", "gap",
// "unmatched_response", "too_many_pending".
std::string_view ErrorKindName(ErrorKind kind);

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void OnTransaction(const Transaction& t) = 0;  // answered or not
  virtual void OnError(ErrorKind kind) = 0;

  // Bodies are handed out only for exchanges the sink asks for when it sees
  // the request head; each such exchange still ends in OnTransaction.
  virtual bool FollowBody(uint64_t /*exchange*/, Side, const RequestHead&) { return false; }
  virtual void OnResponseHead(uint64_t /*exchange*/, const ResponseHead&, uint64_t /*ts_ns*/) {}
  // Decoded body bytes (chunk framing removed, content coding kept), in order,
  // with the time of the syscall that carried them.
  virtual void OnBody(uint64_t /*exchange*/, bool /*request*/, std::string_view /*bytes*/,
                      uint64_t /*ts_ns*/) {}
  // n body bytes passed uncaptured at this point.
  virtual void OnBodyGap(uint64_t /*exchange*/, bool /*request*/, uint64_t /*n*/) {}
};

struct Limits {
  size_t max_head_bytes = kDefaultMaxHeadBytes;
  size_t max_pending_requests = 256;  // values below 1 act as 1
};

class Session {
 public:
  Session(Side side, Limits limits = {});

  // Bytes of one stream, in order, as one syscall moved them; ts_ns is that
  // syscall's time.
  void OnData(Stream s, std::string_view bytes, uint64_t ts_ns, Sink& sink);
  // n bytes of stream s passed at this point but were not captured
  // (truncation or a lost event).
  void OnGap(Stream s, uint64_t n, uint64_t ts_ns, Sink& sink);
  // The connection closed: bodies that run until close complete; every
  // request still waiting is emitted with answered=false (status set if a
  // response head had arrived). Later calls are ignored.
  void OnClose(uint64_t ts_ns, Sink& sink);

  // Protocol switched; the caller may stop feeding bytes.
  bool opaque() const { return opaque_; }
  // Resolved side (inferred from traffic when constructed kUnknown).
  Side side() const { return side_; }
  // Memory held (head buffers and waiting requests), for the caller's
  // memory cap.
  size_t buffered_bytes() const;

 private:
  enum class Phase : uint8_t {
    kSeek,  // out of sync: waiting for a chunk that starts a message
    kHead,  // collecting a head
    kBody,  // decoding a body
  };

  struct StreamState {
    Phase phase = Phase::kHead;
    // In kHead after a resync: the buffered bytes are only a prefix of a
    // plausible start line; if they turn out not to be one they are dropped
    // silently.
    bool tentative = false;
    std::string buf;  // head bytes only, at most max_head_bytes + 1
    uint64_t head_start_ns = 0;
    BodyDecoder body;
    uint64_t msg_id = 0;  // request the current message belongs to; 0: none
    bool follow = false;  // the sink wants this message's body
  };

  struct Pending {
    uint64_t id = 0;
    bool request_done = false;  // the whole request (body included) was seen
    bool follow = false;        // the sink asked for the bodies
    Transaction txn;
  };

  enum class HeadStep : uint8_t { kDone, kWaiting, kBad, kRefuted };

  bool IsRequestStream(Stream s) const;
  ParseStatus CheckStart(Stream s, std::string_view bytes) const;
  // Moves a stream out of kSeek when `bytes` start a plausible message.
  bool Seek(Stream s, std::string_view bytes);
  // A start line was confirmed on stream s: settles an unknown side.
  void Confirm(Stream s);
  template <typename ParseFn>
  HeadStep TakeHead(Stream s, std::string_view* data, uint64_t ts,
                    ParseFn parse, ParseError* error);

  template <bool kRequest>
  void Feed(Stream s, std::string_view data, uint64_t ts, Sink& sink);
  template <bool kRequest>
  void Desync(StreamState& st, Sink& sink);
  void KeepCutRequest(const StreamState& st);
  void OnRequestHead(StreamState& st, const RequestHead& head, uint64_t ts,
                     Sink& sink);
  void OnResponseHead(StreamState& st, const ResponseHead& head, uint64_t ts,
                      Sink& sink);
  void AccountRequestBody(StreamState& st, uint64_t ts);
  void AccountResponseBody(StreamState& st, uint64_t ts);
  void FinishRequest(StreamState& st, Sink& sink);
  void FinishResponse(StreamState& st, Sink& sink);

  void DesyncRequest(StreamState& st, Sink& sink);
  void DesyncResponse(StreamState& st, Sink& sink);
  void SwitchToOpaque(Sink& sink);

  Pending* FindPending(uint64_t id);
  Pending* FirstUnanswered();
  void Push(Pending p);
  void PopFront(Sink& sink);
  // Emits, in order, the requests at the front that are fully answered.
  void EmitFinished(Sink& sink);
  void EmitAll(Sink& sink);

  Side side_;
  Limits limits_;
  bool opaque_ = false;
  bool closed_ = false;
  std::array<StreamState, 2> streams_;
  std::deque<Pending> pending_;
  size_t pending_bytes_ = 0;
  std::string body_scratch_;  // decoded bytes of a followed body, per feed
  uint64_t next_id_ = 1;
};

}  // namespace sightline::http1
