#include "protocols/http1/parser.h"

#include <algorithm>
#include <array>
#include <limits>

namespace sightline::http1 {
namespace {

// Longer method tokens are not HTTP; rejecting them early turns garbage
// without a line end into an error long before the head size limit.
constexpr size_t kMaxMethodBytes = 32;
constexpr std::string_view kVersionPrefix = "HTTP/1.";
constexpr size_t kVersionBytes = 8;  // "HTTP/1.x"
constexpr uint64_t kMaxContentLength = std::numeric_limits<int64_t>::max();

constexpr std::array<std::string_view, 24> kKnownMethods = {
    "GET",     "HEAD",       "POST",     "PUT",   "DELETE",     "CONNECT",
    "OPTIONS", "TRACE",      "PATCH",    "PURGE", "PROPFIND",   "PROPPATCH",
    "MKCOL",   "COPY",       "MOVE",     "LOCK",  "UNLOCK",     "REPORT",
    "SEARCH",  "MKACTIVITY", "CHECKOUT", "MERGE", "MKCALENDAR", "LINK"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 token character.
bool IsTchar(char c) {
  if (IsDigit(c) || IsAlpha(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// Visible ASCII, plus bytes >= 0x80 that some clients send unencoded.
bool IsTargetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

// Field values: HTAB, SP, visible ASCII, obs-text. No NUL, CR or other CTL.
bool IsValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7f);
}

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::string_view StripCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Calls fn(token) for each non-empty, trimmed element of a comma list.
template <typename Fn>
void ForEachListItem(std::string_view list, Fn fn) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view item = TrimOws(list.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// "HTTP/1." DIGIT. A shorter `v` is a valid prefix only when `partial`.
ParseStatus ScanVersion(std::string_view v, bool partial, int* minor) {
  if (v.size() > kVersionBytes) return ParseStatus::kInvalid;
  const size_t n = std::min(v.size(), kVersionPrefix.size());
  if (v.substr(0, n) != kVersionPrefix.substr(0, n))
    return ParseStatus::kInvalid;
  if (v.size() < kVersionBytes) {
    return partial ? ParseStatus::kNeedMore : ParseStatus::kInvalid;
  }
  if (!IsDigit(v[7])) return ParseStatus::kInvalid;
  *minor = v[7] - '0';
  return partial ? ParseStatus::kNeedMore : ParseStatus::kComplete;
}

struct RequestLine {
  std::string_view method;
  std::string_view target;
  int minor = 1;
};

// method SP target SP version. With `partial`, `line` is the beginning of a
// line still missing its end: kNeedMore while it can still become valid.
ParseStatus ScanRequestLine(std::string_view line, bool partial,
                            RequestLine* out) {
  size_t i = 0;
  while (i < line.size() && IsTchar(line[i])) ++i;
  if (i > kMaxMethodBytes) return ParseStatus::kInvalid;
  if (i == line.size()) {
    return partial ? ParseStatus::kNeedMore : ParseStatus::kInvalid;
  }
  if (i == 0 || line[i] != ' ') return ParseStatus::kInvalid;
  out->method = line.substr(0, i);
  const size_t target_begin = ++i;
  while (i < line.size() && IsTargetChar(line[i])) ++i;
  if (i == line.size()) {
    return partial ? ParseStatus::kNeedMore : ParseStatus::kInvalid;
  }
  if (i == target_begin || line[i] != ' ') return ParseStatus::kInvalid;
  out->target = line.substr(target_begin, i - target_begin);
  return ScanVersion(line.substr(i + 1), partial, &out->minor);
}

struct StatusLine {
  int minor = 1;
  int status = 0;
  std::string_view reason;
};

// version SP 3DIGIT [SP reason]. A missing reason (and its SP) is accepted.
ParseStatus ScanStatusLine(std::string_view line, bool partial,
                           StatusLine* out) {
  const ParseStatus v =
      ScanVersion(line.substr(0, kVersionBytes), true, &out->minor);
  if (v == ParseStatus::kInvalid) return v;
  const auto more = partial ? ParseStatus::kNeedMore : ParseStatus::kInvalid;
  if (line.size() <= kVersionBytes) return more;
  if (line[kVersionBytes] != ' ') return ParseStatus::kInvalid;
  int code = 0;
  size_t i = kVersionBytes + 1;
  for (; i < line.size() && i < kVersionBytes + 4; ++i) {
    if (!IsDigit(line[i])) return ParseStatus::kInvalid;
    code = code * 10 + (line[i] - '0');
  }
  if (i < kVersionBytes + 4) return more;
  if (code < 100) return ParseStatus::kInvalid;
  out->status = code;
  if (i < line.size()) {
    if (line[i] != ' ') return ParseStatus::kInvalid;
    out->reason = line.substr(i + 1);
    if (!std::all_of(out->reason.begin(), out->reason.end(), IsValueChar)) {
      return ParseStatus::kInvalid;
    }
  }
  return partial ? ParseStatus::kNeedMore : ParseStatus::kComplete;
}

// name ":" OWS value OWS. No whitespace before the colon and no obsolete
// line folding (a line starting with whitespace).
ParseStatus ScanHeaderLine(std::string_view line, bool partial,
                           std::string_view* name, std::string_view* value) {
  size_t i = 0;
  while (i < line.size() && IsTchar(line[i])) ++i;
  if (i == line.size()) {
    return partial ? ParseStatus::kNeedMore : ParseStatus::kInvalid;
  }
  if (i == 0 || line[i] != ':') return ParseStatus::kInvalid;
  const std::string_view rest = line.substr(i + 1);
  if (!std::all_of(rest.begin(), rest.end(), IsValueChar)) {
    return ParseStatus::kInvalid;
  }
  if (partial) return ParseStatus::kNeedMore;
  *name = line.substr(0, i);
  *value = TrimOws(rest);
  return ParseStatus::kComplete;
}

size_t SkipEmptyLines(std::string_view in) {
  size_t pos = 0;
  while (pos < in.size()) {
    if (in[pos] == '\n') {
      ++pos;
    } else if (in[pos] == '\r' && pos + 1 < in.size() && in[pos + 1] == '\n') {
      pos += 2;
    } else {
      break;
    }
  }
  return pos;
}

// Validates a head line by line without allocating. On kComplete `*end` is
// the head size and `*headers_begin` where the header lines start.
// `scan_start(line, partial)` checks the start line.
template <typename StartFn>
ParseResult ScanHead(std::string_view in, size_t max_head_bytes,
                     StartFn scan_start, ParseError start_error,
                     size_t* headers_begin, size_t* end) {
  const ParseResult too_large{ParseStatus::kInvalid, ParseError::kHeadTooLarge};
  size_t pos = SkipEmptyLines(in);
  bool first = true;
  while (true) {
    const size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) {
      const std::string_view line = StripCr(in.substr(pos));
      std::string_view name, value;
      const ParseStatus s = first ? scan_start(line, true)
                                  : ScanHeaderLine(line, true, &name, &value);
      if (s == ParseStatus::kInvalid) {
        return {s, first ? start_error : ParseError::kBadHeader};
      }
      if (in.size() > max_head_bytes) return too_large;
      return {ParseStatus::kNeedMore, ParseError::kNone};
    }
    const std::string_view line = StripCr(in.substr(pos, nl - pos));
    if (first) {
      if (scan_start(line, false) != ParseStatus::kComplete) {
        return {ParseStatus::kInvalid, start_error};
      }
      first = false;
      *headers_begin = nl + 1;
    } else if (line.empty()) {
      if (nl + 1 > max_head_bytes) return too_large;
      *end = nl + 1;
      return {ParseStatus::kComplete, ParseError::kNone};
    } else {
      std::string_view name, value;
      if (ScanHeaderLine(line, false, &name, &value) !=
          ParseStatus::kComplete) {
        return {ParseStatus::kInvalid, ParseError::kBadHeader};
      }
    }
    if (nl + 1 > max_head_bytes) return too_large;
    pos = nl + 1;
  }
}

// Copies the (already validated) header lines of [begin, end).
void CollectHeaders(std::string_view in, size_t begin, size_t end,
                    std::vector<Header>* headers) {
  headers->clear();
  size_t pos = begin;
  while (pos < end) {
    const size_t nl = in.find('\n', pos);
    const std::string_view line = StripCr(in.substr(pos, nl - pos));
    pos = nl + 1;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    headers->push_back(Header{std::string(line.substr(0, colon)),
                              std::string(TrimOws(line.substr(colon + 1)))});
  }
}

enum class LengthCheck : uint8_t { kOk, kBad, kConflict };

// A Content-Length value: digits, or a comma list of identical values.
LengthCheck ParseContentLength(std::string_view value,
                               std::optional<uint64_t>* length) {
  LengthCheck result = LengthCheck::kOk;
  bool any = false;
  ForEachListItem(value, [&](std::string_view item) {
    if (result != LengthCheck::kOk) return;
    uint64_t v = 0;
    for (const char c : item) {
      if (!IsDigit(c) || v > (kMaxContentLength - (c - '0')) / 10) {
        result = LengthCheck::kBad;
        return;
      }
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (result != LengthCheck::kOk) return;
    if (length->has_value() && **length != v) {
      result = LengthCheck::kConflict;
      return;
    }
    *length = v;
    any = true;
  });
  // An empty value has no length; empty list members ("5,,5") are tolerated.
  if (result == LengthCheck::kOk && !any) return LengthCheck::kBad;
  return result;
}

// Interprets the framing and connection headers shared by both directions.
// `te_seen` reports whether any Transfer-Encoding was present.
ParseError InterpretHeaders(MessageHead* head, bool* te_seen) {
  bool close = false;
  bool keep_alive = false;
  *te_seen = false;
  std::string_view last_coding;
  for (const Header& h : head->headers) {
    if (EqualsIgnoreCase(h.name, "content-length")) {
      const LengthCheck c = ParseContentLength(h.value, &head->content_length);
      if (c == LengthCheck::kBad) return ParseError::kBadContentLength;
      if (c == LengthCheck::kConflict) {
        return ParseError::kConflictingContentLength;
      }
    } else if (EqualsIgnoreCase(h.name, "transfer-encoding")) {
      ForEachListItem(h.value, [&](std::string_view coding) {
        *te_seen = true;
        last_coding = coding;
      });
    } else if (EqualsIgnoreCase(h.name, "connection")) {
      ForEachListItem(h.value, [&](std::string_view option) {
        if (EqualsIgnoreCase(option, "close")) close = true;
        if (EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
      });
    }
  }
  head->chunked = *te_seen && EqualsIgnoreCase(last_coding, "chunked");
  head->keep_alive = !close && (keep_alive || head->version_minor >= 1);
  return ParseError::kNone;
}

}  // namespace

std::string_view ParseErrorName(ParseError error) {
  switch (error) {
    case ParseError::kNone:
      return "none";
    case ParseError::kHeadTooLarge:
      return "head_too_large";
    case ParseError::kBadRequestLine:
      return "bad_request_line";
    case ParseError::kBadStatusLine:
      return "bad_status_line";
    case ParseError::kBadHeader:
      return "bad_header";
    case ParseError::kBadContentLength:
      return "bad_content_length";
    case ParseError::kConflictingContentLength:
      return "conflicting_content_length";
    case ParseError::kBadTransferEncoding:
      return "bad_transfer_encoding";
    case ParseError::kBadChunk:
      return "bad_chunk";
  }
  return "unknown";
}

const Header* MessageHead::Find(std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

ParseResult ParseRequestHead(std::string_view* input, RequestHead* head,
                             size_t max_head_bytes) {
  RequestLine line;
  size_t headers_begin = 0;
  size_t end = 0;
  const ParseResult scan = ScanHead(
      *input, max_head_bytes,
      [&line](std::string_view l, bool partial) {
        return ScanRequestLine(l, partial, &line);
      },
      ParseError::kBadRequestLine, &headers_begin, &end);
  if (scan.status != ParseStatus::kComplete) return scan;

  *head = RequestHead{};
  head->method = std::string(line.method);
  head->target = std::string(line.target);
  head->version_minor = line.minor;
  head->head_bytes = end;
  CollectHeaders(*input, headers_begin, end, &head->headers);
  bool te_seen = false;
  const ParseError error = InterpretHeaders(head, &te_seen);
  if (error != ParseError::kNone) return {ParseStatus::kInvalid, error};
  // A request body must be delimited; an unknown coding cannot be.
  if (te_seen && !head->chunked) {
    return {ParseStatus::kInvalid, ParseError::kBadTransferEncoding};
  }
  if (const Header* host = head->Find("host")) head->host = host->value;
  if (const Header* expect = head->Find("expect")) {
    head->expect_continue = EqualsIgnoreCase(expect->value, "100-continue");
  }
  input->remove_prefix(end);
  return {ParseStatus::kComplete, ParseError::kNone};
}

ParseResult ParseResponseHead(std::string_view* input, ResponseHead* head,
                              size_t max_head_bytes) {
  StatusLine line;
  size_t headers_begin = 0;
  size_t end = 0;
  const ParseResult scan = ScanHead(
      *input, max_head_bytes,
      [&line](std::string_view l, bool partial) {
        return ScanStatusLine(l, partial, &line);
      },
      ParseError::kBadStatusLine, &headers_begin, &end);
  if (scan.status != ParseStatus::kComplete) return scan;

  *head = ResponseHead{};
  head->status = line.status;
  head->reason = std::string(line.reason);
  head->version_minor = line.minor;
  head->head_bytes = end;
  CollectHeaders(*input, headers_begin, end, &head->headers);
  bool te_seen = false;
  const ParseError error = InterpretHeaders(head, &te_seen);
  if (error != ParseError::kNone) return {ParseStatus::kInvalid, error};
  input->remove_prefix(end);
  return {ParseStatus::kComplete, ParseError::kNone};
}

ParseStatus CheckRequestStart(std::string_view bytes, size_t max_line_bytes) {
  const size_t nl = bytes.find('\n');
  const bool partial = nl == std::string_view::npos;
  const std::string_view line = StripCr(bytes.substr(0, nl));
  if (line.size() > max_line_bytes) return ParseStatus::kInvalid;
  RequestLine parsed;
  const ParseStatus s = ScanRequestLine(line, partial, &parsed);
  if (s == ParseStatus::kInvalid) return s;
  // The method, whole or in part, must be one of the well-known ones.
  const std::string_view method =
      parsed.method.empty() ? line.substr(0, line.find(' ')) : parsed.method;
  const bool method_whole = !parsed.method.empty();
  const bool known = std::any_of(
      kKnownMethods.begin(), kKnownMethods.end(), [&](std::string_view m) {
        return method_whole ? m == method
                            : m.substr(0, method.size()) == method;
      });
  if (!known) return ParseStatus::kInvalid;
  return s;
}

ParseStatus CheckResponseStart(std::string_view bytes) {
  const size_t n = std::min(bytes.size(), kVersionPrefix.size());
  if (bytes.substr(0, n) != kVersionPrefix.substr(0, n)) {
    return ParseStatus::kInvalid;
  }
  return n == kVersionPrefix.size() ? ParseStatus::kComplete
                                    : ParseStatus::kNeedMore;
}

BodyFraming RequestBodyFraming(const RequestHead& head) {
  if (head.chunked) return {BodyKind::kChunked, 0};
  if (head.content_length.value_or(0) > 0) {
    return {BodyKind::kContentLength, *head.content_length};
  }
  return {BodyKind::kNone, 0};
}

BodyFraming ResponseBodyFraming(const ResponseHead& head,
                                std::string_view request_method) {
  const int s = head.status;
  if ((s >= 100 && s < 200) || s == 204 || s == 304 ||
      request_method == "HEAD" || SwitchesProtocol(s, request_method)) {
    return {BodyKind::kNone, 0};
  }
  if (head.chunked) return {BodyKind::kChunked, 0};
  if (head.content_length.has_value()) {
    if (*head.content_length == 0) return {BodyKind::kNone, 0};
    return {BodyKind::kContentLength, *head.content_length};
  }
  return {BodyKind::kUntilClose, 0};
}

bool IsInterimStatus(int status) {
  return status >= 100 && status < 200 && status != 101;
}

bool SwitchesProtocol(int status, std::string_view request_method) {
  return status == 101 ||
         (request_method == "CONNECT" && status >= 200 && status < 300);
}

}  // namespace sightline::http1
