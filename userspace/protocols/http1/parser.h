// HTTP/1.x message heads: pure, incremental parsing over byte views.
//
// Every parser here is a pure function of its input. It returns kComplete,
// kNeedMore or kInvalid and advances the input view only on kComplete, so a
// caller can re-run it on a longer buffer once more bytes have arrived. Bad
// input is detected as early as the bytes allow: a malformed start line or
// header line is rejected when it ends (or as soon as a prefix cannot be
// valid), and a head that outgrows the size limit is rejected the moment the
// buffer exceeds it, not when its terminating empty line finally arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::http1 {

inline constexpr size_t kDefaultMaxHeadBytes = 65536;

enum class ParseStatus : uint8_t { kComplete, kNeedMore, kInvalid };

enum class ParseError : uint8_t {
  kNone,
  kHeadTooLarge,
  kBadRequestLine,
  kBadStatusLine,
  kBadHeader,
  kBadContentLength,
  kConflictingContentLength,
  kBadTransferEncoding,
  kBadChunk,
};

// Stable snake_case name, e.g. "head_too_large".
std::string_view ParseErrorName(ParseError error);

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  ParseError error = ParseError::kNone;  // set when status is kInvalid
};

struct Header {
  std::string name;   // as sent; compare case-insensitively
  std::string value;  // leading and trailing whitespace removed
};

// What request and response heads share.
struct MessageHead {
  int version_minor = 1;        // HTTP/1.<minor>
  std::vector<Header> headers;  // in order of appearance, duplicates kept
  std::optional<uint64_t> content_length;
  bool chunked = false;    // Transfer-Encoding ends with "chunked"
  bool keep_alive = true;  // Connection header, else the version's default
  size_t head_bytes = 0;   // bytes consumed, terminating empty line included

  // First header with this name (case-insensitive), or nullptr.
  const Header* Find(std::string_view name) const;
};

struct RequestHead : MessageHead {
  std::string method;  // case-sensitive token, e.g. "GET"
  std::string target;  // raw request target, e.g. "/a?b=1" or "host:443"
  std::string host;    // first Host header value, empty when absent
  bool expect_continue = false;  // Expect: 100-continue
};

struct ResponseHead : MessageHead {
  int status = 0;
  std::string reason;
};

// Parses a request line and headers up to the empty line. Lines may end in
// CRLF or a bare LF; empty lines before the request line are skipped and
// counted in head_bytes. On kComplete `*input` is advanced past the head and
// `*head` is filled; otherwise neither is meaningful and `*input` is untouched.
ParseResult ParseRequestHead(std::string_view* input, RequestHead* head,
                             size_t max_head_bytes = kDefaultMaxHeadBytes);

// Same for a status line and headers.
ParseResult ParseResponseHead(std::string_view* input, ResponseHead* head,
                              size_t max_head_bytes = kDefaultMaxHeadBytes);

// Stricter checks used to find a message boundary in a stream of unknown
// position (after lost bytes, or on a connection first seen mid-stream).
// kComplete: `bytes` begin with a whole request line whose method is a
// well-known one (GET, POST, ... and the common WebDAV verbs), followed by a
// target and "HTTP/1.<digit>". kNeedMore: the bytes are a prefix of such a
// line. kInvalid: they cannot start a request.
ParseStatus CheckRequestStart(std::string_view bytes,
                              size_t max_line_bytes = kDefaultMaxHeadBytes);
// kComplete when `bytes` begin with "HTTP/1.", kNeedMore for a shorter
// prefix of it, kInvalid otherwise.
ParseStatus CheckResponseStart(std::string_view bytes);

// How a message body is delimited.
enum class BodyKind : uint8_t { kNone, kContentLength, kChunked, kUntilClose };

struct BodyFraming {
  BodyKind kind = BodyKind::kNone;
  uint64_t length = 0;  // for kContentLength; never 0 (that is kNone)
};

// A request has a chunked body, a Content-Length body, or none.
BodyFraming RequestBodyFraming(const RequestHead& head);

// A response has no body when it is 1xx, 204 or 304, or answers a HEAD
// request, or is a 2xx answer to CONNECT; otherwise chunked wins over
// Content-Length, and with neither the body runs until the connection closes.
// `request_method` is the method of the request it answers ("" if unknown).
BodyFraming ResponseBodyFraming(const ResponseHead& head,
                                std::string_view request_method);

// 1xx other than 101: an interim response, the final one is still to come.
bool IsInterimStatus(int status);

// After this response the connection no longer carries HTTP/1: 101 Switching
// Protocols, or a 2xx answer to CONNECT (a tunnel).
bool SwitchesProtocol(int status, std::string_view request_method);

}  // namespace sightline::http1
