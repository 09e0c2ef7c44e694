// PostgreSQL wire protocol (3.0) for one connection: one db::Operation per
// statement the server finished.
//
// The frontend stream (what the client writes) carries the startup packet
// and then typed messages; the backend stream the replies. Messages are
// read header first (type byte + length) and only the bytes that matter
// are kept: the query text of Query/Parse (up to Limits::max_message_bytes),
// the names in Bind/Execute/Close, the tag of CommandComplete and the fields
// of ErrorResponse. Everything else, DataRow streams and COPY data
// included, is skipped by length without being buffered.
//
// Pairing:
//  - Query 'Q': one Operation per CommandComplete or ErrorResponse before
//    ReadyForQuery, named after the statements of the query text in order
//    (the text is split on top-level ';'); EmptyQueryResponse gives none.
//  - Extended protocol: Parse remembers statement -> text, Bind portal ->
//    statement, and each Execute becomes one Operation, answered in order
//    by CommandComplete, ErrorResponse or PortalSuspended. After an error
//    the server skips everything up to Sync: the Execute that failed
//    carries the error, the Executes it skipped are not operations (they
//    never ran). An error with no Execute waiting (a Parse or Bind that
//    failed before any Execute) becomes an operation named after the last
//    statement parsed or bound before that Sync.
//  - Notices, parameter status and notifications are never replies.
//  - An SSLRequest or GSSENCRequest the server accepts ('S'/'G') makes the
//    session opaque; a refused one ('N') goes on in plaintext.
//
// Garbage (a type the direction cannot carry, an impossible length) is
// reported once as "invalid_message" and the session turns opaque: a
// length-prefixed stream cannot be resynchronised safely from inside it.
// A gap inside a message body is skipped; a gap anywhere else loses the
// message boundaries: the stream waits for a chunk that starts with a
// plausible message (every waiting command comes out unanswered when the
// reply stream is the one that lost them).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocols/db/operation.h"

namespace sightline::postgres {

struct Limits {
  // Bytes kept of one message that is read (query text, error fields); the
  // rest of a longer message is skipped and reported as message_too_large.
  size_t max_message_bytes = 64 * 1024;
  // Commands waiting for their replies; past it the oldest comes out
  // unanswered (too_many_pending).
  size_t max_pending = 1024;
  // Prepared statements and portals remembered (too_many_statements).
  size_t max_statements = 1024;
};

class Session : public db::Session {
 public:
  explicit Session(db::Side side, Limits limits = {});

  void OnData(db::Stream s, std::string_view bytes, uint64_t ts_ns, db::Sink& sink) override;
  void OnGap(db::Stream s, uint64_t n, uint64_t ts_ns, db::Sink& sink) override;
  void OnClose(uint64_t ts_ns, db::Sink& sink) override;
  db::Side side() const override { return side_; }
  bool opaque() const override { return opaque_; }
  size_t buffered_bytes() const override;

 private:
  enum class Phase : uint8_t {
    kSeek,      // out of sync: waiting for a chunk that starts a message
    kStartup,   // frontend: untyped startup packets (length + code)
    kSslReply,  // backend: the one-byte answer to SSLRequest/GSSENCRequest
    kHeader,    // collecting a message header
    kBody,      // inside a message body
  };

  struct StreamState {
    Phase phase = Phase::kHeader;
    std::array<char, 5> header{};
    size_t header_len = 0;
    char type = 0;           // '\0' for an untyped startup packet
    uint64_t body_left = 0;  // body bytes still to come
    size_t keep = 0;         // body bytes worth keeping
    std::string body;        // the kept prefix of the body
    uint64_t start_ns = 0;   // first byte of the current message
  };

  // What an operation is named after.
  struct Statement {
    std::string name;
    std::string summary;
  };

  enum class Kind : uint8_t { kQuery, kExecute, kSync };
  struct Pending {
    Kind kind = Kind::kExecute;
    db::Operation op;                   // name, summary, request times
    std::vector<Statement> statements;  // kQuery: in order
    size_t next = 0;                    // kQuery: statements finished
    bool skipped = false;               // kExecute: an earlier error voided it
    bool has_last = false;              // kSync: `last` is set
    Statement last;                     // kSync: last statement parsed/bound
  };

  bool IsFrontend(db::Stream s) const;
  void Feed(db::Stream s, std::string_view data, uint64_t ts, db::Sink& sink);
  // Settles an unknown side from a chunk; false while it stays unknown.
  bool Infer(db::Stream s, std::string_view data);
  bool StartHeader(StreamState& st, bool frontend, db::Sink& sink);
  void FinishMessage(db::Stream s, uint64_t ts, db::Sink& sink);
  void OnStartup(StreamState& st, db::Sink& sink);
  void OnFrontend(StreamState& st, uint64_t ts, db::Sink& sink);
  void OnBackend(StreamState& st, uint64_t ts, db::Sink& sink);
  void OnCompletion(char type, std::string_view body, uint64_t start, uint64_t ts, db::Sink& sink);
  void OnReady(db::Sink& sink);
  void Remember(std::unordered_map<std::string, Statement>* map, std::string name, Statement st,
                db::Sink& sink);
  void Forget(std::unordered_map<std::string, Statement>* map,
              std::unordered_map<std::string, Statement>::iterator it);
  void Push(Pending p, db::Sink& sink);
  static size_t Footprint(const Pending& p);
  Pending TakeFront();
  void Emit(db::Operation& op, db::Sink& sink);
  void Invalid(db::Sink& sink);
  void Resync(db::Stream s, db::Sink& sink);
  // A command whose answer is lost comes out unanswered (an Execute, or the
  // statement of a Query the server was at); every waiting one, or `p`.
  void EmitUnanswered(db::Sink& sink);
  void EmitUnanswered(Pending& p, db::Sink& sink);

  db::Side side_;
  Limits limits_;
  bool opaque_ = false;
  bool closed_ = false;
  std::array<StreamState, 2> streams_;
  std::deque<Pending> pending_;
  size_t pending_bytes_ = 0;
  std::unordered_map<std::string, Statement> statements_;
  std::unordered_map<std::string, Statement> portals_;
  size_t map_bytes_ = 0;
  std::string db_namespace_;
  // The backend stream was entered mid-conversation: replies to commands
  // sent before the frontend was followed are ignored until the first
  // ReadyForQuery, instead of being counted as unmatched.
  bool backend_settled_ = true;
  uint64_t request_start_ns_ = 0;   // first frontend byte of the next command
  uint64_t response_start_ns_ = 0;  // first backend byte of the next reply
  Statement last_parsed_;           // since the last Sync
  bool has_last_parsed_ = false;
};

}  // namespace sightline::postgres
