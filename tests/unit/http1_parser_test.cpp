// HTTP/1.x head parser: well-formed tables (each also with bare LF line ends
// and every incomplete prefix), invalid input with the exact reason, the size
// limit, the resync start checks and body framing.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/parser.h"

namespace sightline::http1 {
namespace {

using namespace std::string_literals;

// The same message with bare LF line ends.
std::string ToLf(std::string_view crlf) {
  std::string out;
  for (size_t i = 0; i < crlf.size(); ++i) {
    if (crlf[i] == '\r' && i + 1 < crlf.size() && crlf[i + 1] == '\n') continue;
    out.push_back(crlf[i]);
  }
  return out;
}

ParseResult ParseRequest(std::string_view bytes, RequestHead* head,
                         size_t* consumed, size_t max = kDefaultMaxHeadBytes) {
  std::string_view in = bytes;
  const ParseResult r = ParseRequestHead(&in, head, max);
  *consumed = bytes.size() - in.size();
  return r;
}

ParseResult ParseResponse(std::string_view bytes, ResponseHead* head,
                          size_t* consumed, size_t max = kDefaultMaxHeadBytes) {
  std::string_view in = bytes;
  const ParseResult r = ParseResponseHead(&in, head, max);
  *consumed = bytes.size() - in.size();
  return r;
}

struct RequestCase {
  const char* name;
  std::string raw;
  std::string method;
  std::string target;
  int minor;
  std::string host;
  std::optional<uint64_t> content_length;
  bool chunked;
  bool keep_alive;
  bool expect_continue;
  size_t headers;
  BodyKind body;
  uint64_t body_length;
};

const std::vector<RequestCase>& RequestCases() {
  static const std::vector<RequestCase> cases = {
      {"get",
       "GET /api/x?y=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
       "GET", "/api/x?y=1", 1, "example.com", std::nullopt, false, true, false,
       2, BodyKind::kNone, 0},
      {"post_content_length",
       "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: "
       "11\r\nContent-Type: text/plain\r\n\r\n",
       "POST", "/submit", 1, "h", 11, false, true, false, 3,
       BodyKind::kContentLength, 11},
      {"head", "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", "/x", 1, "h",
       std::nullopt, false, true, false, 1, BodyKind::kNone, 0},
      {"put_chunked",
       "PUT /u HTTP/1.1\r\nhost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
       "PUT", "/u", 1, "h", std::nullopt, true, true, false, 2,
       BodyKind::kChunked, 0},
      {"delete_close",
       "DELETE /items/7 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
       "DELETE", "/items/7", 1, "h", std::nullopt, false, false, false, 2,
       BodyKind::kNone, 0},
      {"patch", "PATCH /p HTTP/1.1\r\nHost: h\r\ncontent-length: 2\r\n\r\n",
       "PATCH", "/p", 1, "h", 2, false, true, false, 2,
       BodyKind::kContentLength, 2},
      {"options_star", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*",
       1, "h", std::nullopt, false, true, false, 1, BodyKind::kNone, 0},
      {"http10_defaults_close", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, "",
       std::nullopt, false, false, false, 0, BodyKind::kNone, 0},
      {"http10_keep_alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
       "GET", "/", 0, "", std::nullopt, false, true, false, 1, BodyKind::kNone,
       0},
      {"expect_continue",
       "POST /up HTTP/1.1\r\nHost: h\r\nExpect: "
       "100-Continue\r\nContent-Length: 5\r\n\r\n",
       "POST", "/up", 1, "h", 5, false, true, true, 3, BodyKind::kContentLength,
       5},
      {"chunked_wins_over_length",
       "POST /c HTTP/1.1\r\nContent-Length: 10\r\nTransfer-Encoding: gzip, "
       "Chunked\r\n\r\n",
       "POST", "/c", 1, "", 10, true, true, false, 2, BodyKind::kChunked, 0},
      {"equal_duplicate_length",
       "POST /d HTTP/1.1\r\nContent-Length: 3\r\nCONTENT-LENGTH: 3\r\n\r\n",
       "POST", "/d", 1, "", 3, false, true, false, 2, BodyKind::kContentLength,
       3},
      {"length_list", "POST /l HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n",
       "POST", "/l", 1, "", 7, false, true, false, 1, BodyKind::kContentLength,
       7},
      {"zero_length", "POST /z HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "POST",
       "/z", 1, "", 0, false, true, false, 1, BodyKind::kNone, 0},
      {"largest_length",
       "PUT /big HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n",
       "PUT", "/big", 1, "", 9223372036854775807ull, false, true, false, 1,
       BodyKind::kContentLength, 9223372036854775807ull},
      {"connect",
       "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       "CONNECT", "example.com:443", 1, "example.com:443", std::nullopt, false,
       true, false, 1, BodyKind::kNone, 0},
      {"leading_empty_lines", "\r\n\r\nGET /after HTTP/1.1\r\n\r\n", "GET",
       "/after", 1, "", std::nullopt, false, true, false, 0, BodyKind::kNone,
       0},
      {"value_whitespace_trimmed",
       "GET / HTTP/1.1\r\nHost: \t spaced out \t\r\n\r\n", "GET", "/", 1,
       "spaced out", std::nullopt, false, true, false, 1, BodyKind::kNone, 0},
      {"close_wins_over_keep_alive",
       "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", "GET", "/", 1,
       "", std::nullopt, false, false, false, 1, BodyKind::kNone, 0},
  };
  return cases;
}

class RequestTable : public ::testing::TestWithParam<RequestCase> {};

TEST_P(RequestTable, ParsesExactFieldsWithCrlfAndBareLf) {
  const RequestCase& c = GetParam();
  for (const std::string& raw : {c.raw, ToLf(c.raw)}) {
    SCOPED_TRACE(raw);
    RequestHead head;
    size_t consumed = 0;
    const std::string with_next = raw + "GET /next HTTP/1.1\r\n";
    const ParseResult r = ParseRequest(with_next, &head, &consumed);
    ASSERT_EQ(r.status, ParseStatus::kComplete) << ParseErrorName(r.error);
    EXPECT_EQ(consumed, raw.size());
    EXPECT_EQ(head.head_bytes, raw.size());
    EXPECT_EQ(head.method, c.method);
    EXPECT_EQ(head.target, c.target);
    EXPECT_EQ(head.version_minor, c.minor);
    EXPECT_EQ(head.host, c.host);
    EXPECT_EQ(head.content_length, c.content_length);
    EXPECT_EQ(head.chunked, c.chunked);
    EXPECT_EQ(head.keep_alive, c.keep_alive);
    EXPECT_EQ(head.expect_continue, c.expect_continue);
    EXPECT_EQ(head.headers.size(), c.headers);
    const BodyFraming framing = RequestBodyFraming(head);
    EXPECT_EQ(framing.kind, c.body);
    EXPECT_EQ(framing.length, c.body_length);
  }
}

TEST_P(RequestTable, EveryIncompletePrefixNeedsMore) {
  const RequestCase& c = GetParam();
  for (const std::string& raw : {c.raw, ToLf(c.raw)}) {
    for (size_t n = 0; n < raw.size(); ++n) {
      const std::string_view prefix(raw.data(), n);
      std::string_view in = prefix;
      RequestHead head;
      const ParseResult r = ParseRequestHead(&in, &head);
      ASSERT_EQ(r.status, ParseStatus::kNeedMore) << c.name << " prefix " << n;
      ASSERT_EQ(in.size(), n) << "input consumed without success";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Http1, RequestTable,
                         ::testing::ValuesIn(RequestCases()),
                         [](const auto& info) {
                           return std::string(info.param.name);
                         });

TEST(Http1Parser, HeaderListKeepsOrderNamesAndValues) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc-123\r\ntraceparent: "
      "00-aa-bb-01\r\n"
      "X-Request-Id: second\r\n\r\n";
  RequestHead head;
  size_t consumed = 0;
  ASSERT_EQ(ParseRequest(raw, &head, &consumed).status, ParseStatus::kComplete);
  ASSERT_EQ(head.headers.size(), 4u);
  EXPECT_EQ(head.headers[1].name, "X-Request-Id");
  EXPECT_EQ(head.headers[1].value, "abc-123");
  EXPECT_EQ(head.headers[2].name, "traceparent");
  EXPECT_EQ(head.headers[2].value, "00-aa-bb-01");
  ASSERT_NE(head.Find("x-request-id"), nullptr);
  EXPECT_EQ(head.Find("X-REQUEST-ID")->value, "abc-123");
  EXPECT_EQ(head.Find("absent"), nullptr);
}

struct ResponseCase {
  const char* name;
  std::string raw;
  std::string request_method;
  int status;
  std::string reason;
  int minor;
  std::optional<uint64_t> content_length;
  bool chunked;
  bool keep_alive;
  BodyKind body;
  uint64_t body_length;
  bool interim;
  bool switches;
};

const std::vector<ResponseCase>& ResponseCases() {
  static const std::vector<ResponseCase> cases = {
      {"ok_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 200,
       "OK", 1, 5, false, true, BodyKind::kContentLength, 5, false, false},
      {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
       "GET", 200, "OK", 1, std::nullopt, true, true, BodyKind::kChunked, 0,
       false, false},
      {"no_content", "HTTP/1.1 204 No Content\r\n\r\n", "DELETE", 204,
       "No Content", 1, std::nullopt, false, true, BodyKind::kNone, 0, false,
       false},
      {"not_modified_with_length",
       "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", "GET", 304,
       "Not Modified", 1, 100, false, true, BodyKind::kNone, 0, false, false},
      {"head_with_length", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
       "HEAD", 200, "OK", 1, 1234, false, true, BodyKind::kNone, 0, false,
       false},
      {"switching_protocols",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
       "Upgrade\r\n\r\n",
       "GET", 101, "Switching Protocols", 1, std::nullopt, false, true,
       BodyKind::kNone, 0, false, true},
      {"continue", "HTTP/1.1 100 Continue\r\n\r\n", "POST", 100, "Continue", 1,
       std::nullopt, false, true, BodyKind::kNone, 0, true, false},
      {"http10_until_close", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", "GET", 200,
       "OK", 0, std::nullopt, false, false, BodyKind::kUntilClose, 0, false,
       false},
      {"no_reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET", 404, "",
       1, 0, false, true, BodyKind::kNone, 0, false, false},
      {"empty_reason", "HTTP/1.1 503 \r\nContent-Length: 2\r\n\r\n", "GET", 503,
       "", 1, 2, false, true, BodyKind::kContentLength, 2, false, false},
      {"connect_established", "HTTP/1.1 200 Connection established\r\n\r\n",
       "CONNECT", 200, "Connection established", 1, std::nullopt, false, true,
       BodyKind::kNone, 0, false, true},
      {"connect_refused", "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\n",
       "CONNECT", 403, "Forbidden", 1, 4, false, true, BodyKind::kContentLength,
       4, false, false},
      {"unknown_coding_until_close",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", 200, "OK",
       1, std::nullopt, false, true, BodyKind::kUntilClose, 0, false, false},
      {"close_with_length",
       "HTTP/1.1 500 Internal Server Error\r\nConnection: "
       "close\r\nContent-Length: 3\r\n\r\n",
       "POST", 500, "Internal Server Error", 1, 3, false, false,
       BodyKind::kContentLength, 3, false, false},
  };
  return cases;
}

class ResponseTable : public ::testing::TestWithParam<ResponseCase> {};

TEST_P(ResponseTable, ParsesExactFieldsAndFraming) {
  const ResponseCase& c = GetParam();
  for (const std::string& raw : {c.raw, ToLf(c.raw)}) {
    SCOPED_TRACE(raw);
    ResponseHead head;
    size_t consumed = 0;
    const ParseResult r =
        ParseResponse(raw + "HTTP/1.1 200 OK\r\n", &head, &consumed);
    ASSERT_EQ(r.status, ParseStatus::kComplete) << ParseErrorName(r.error);
    EXPECT_EQ(consumed, raw.size());
    EXPECT_EQ(head.status, c.status);
    EXPECT_EQ(head.reason, c.reason);
    EXPECT_EQ(head.version_minor, c.minor);
    EXPECT_EQ(head.content_length, c.content_length);
    EXPECT_EQ(head.chunked, c.chunked);
    EXPECT_EQ(head.keep_alive, c.keep_alive);
    const BodyFraming framing = ResponseBodyFraming(head, c.request_method);
    EXPECT_EQ(framing.kind, c.body);
    EXPECT_EQ(framing.length, c.body_length);
    EXPECT_EQ(IsInterimStatus(head.status), c.interim);
    EXPECT_EQ(SwitchesProtocol(head.status, c.request_method), c.switches);
  }
}

TEST_P(ResponseTable, EveryIncompletePrefixNeedsMore) {
  const ResponseCase& c = GetParam();
  for (const std::string& raw : {c.raw, ToLf(c.raw)}) {
    for (size_t n = 0; n < raw.size(); ++n) {
      std::string_view in(raw.data(), n);
      ResponseHead head;
      const ParseResult r = ParseResponseHead(&in, &head);
      ASSERT_EQ(r.status, ParseStatus::kNeedMore) << c.name << " prefix " << n;
      ASSERT_EQ(in.size(), n);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Http1, ResponseTable,
                         ::testing::ValuesIn(ResponseCases()),
                         [](const auto& info) {
                           return std::string(info.param.name);
                         });

struct InvalidCase {
  const char* name;
  std::string raw;
  ParseError error;
};

class InvalidRequestTable : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidRequestTable, RejectsWithExactReasonAndNeverSucceedsOnAPrefix) {
  const InvalidCase& c = GetParam();
  std::string_view in = c.raw;
  RequestHead head;
  const ParseResult r = ParseRequestHead(&in, &head);
  EXPECT_EQ(r.status, ParseStatus::kInvalid);
  EXPECT_EQ(ParseErrorName(r.error), ParseErrorName(c.error));
  EXPECT_EQ(in.size(), c.raw.size());
  // Huge inputs are sampled: each prefix parse is linear in its length.
  const size_t step = c.raw.size() > 4096 ? 97 : 1;
  for (size_t n = 0; n < c.raw.size(); n += step) {
    std::string_view prefix(c.raw.data(), n);
    ASSERT_NE(ParseRequestHead(&prefix, &head).status, ParseStatus::kComplete);
    ASSERT_EQ(prefix.size(), n);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Http1, InvalidRequestTable,
    ::testing::Values(
        InvalidCase{"tls_client_hello",
                    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s,
                    ParseError::kBadRequestLine},
        InvalidCase{"two_words", "hello world\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"double_space", "GET  / HTTP/1.1\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"missing_target", "GET HTTP/1.1\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"lowercase_version", "GET / http/1.1\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"trailing_junk", "GET / HTTP/1.1 x\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"method_too_long",
                    std::string(40, 'A') + " / HTTP/1.1\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"nul_in_target", "GET /a\0b HTTP/1.1\r\n\r\n"s,
                    ParseError::kBadRequestLine},
        InvalidCase{"bare_cr_in_line", "GET / HTTP/1.1\rHost: x\r\n\r\n",
                    ParseError::kBadRequestLine},
        InvalidCase{"nul_in_value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"s,
                    ParseError::kBadHeader},
        InvalidCase{"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                    ParseError::kBadHeader},
        InvalidCase{"no_colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                    ParseError::kBadHeader},
        InvalidCase{"empty_name", "GET / HTTP/1.1\r\n: v\r\n\r\n",
                    ParseError::kBadHeader},
        InvalidCase{"obs_fold", "GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n",
                    ParseError::kBadHeader},
        InvalidCase{"length_not_a_number",
                    "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                    ParseError::kBadContentLength},
        InvalidCase{"length_negative",
                    "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    ParseError::kBadContentLength},
        InvalidCase{"length_plus_sign",
                    "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
                    ParseError::kBadContentLength},
        InvalidCase{"length_empty",
                    "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
                    ParseError::kBadContentLength},
        InvalidCase{"length_inner_space",
                    "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
                    ParseError::kBadContentLength},
        InvalidCase{
            "length_over_int64",
            "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n",
            ParseError::kBadContentLength},
        InvalidCase{
            "length_over_uint64",
            "POST / HTTP/1.1\r\nContent-Length: 184467440737095516160\r\n\r\n",
            ParseError::kBadContentLength},
        InvalidCase{
            "length_conflict",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            ParseError::kConflictingContentLength},
        InvalidCase{"length_list_conflict",
                    "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
                    ParseError::kConflictingContentLength},
        InvalidCase{"unknown_coding",
                    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                    ParseError::kBadTransferEncoding},
        InvalidCase{
            "header_line_over_limit",
            "GET / HTTP/1.1\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n",
            ParseError::kHeadTooLarge}),
    [](const auto& info) { return std::string(info.param.name); });

class InvalidResponseTable : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidResponseTable, RejectsWithExactReasonAndNeverSucceedsOnAPrefix) {
  const InvalidCase& c = GetParam();
  std::string_view in = c.raw;
  ResponseHead head;
  const ParseResult r = ParseResponseHead(&in, &head);
  EXPECT_EQ(r.status, ParseStatus::kInvalid);
  EXPECT_EQ(ParseErrorName(r.error), ParseErrorName(c.error));
  EXPECT_EQ(in.size(), c.raw.size());
  for (size_t n = 0; n < c.raw.size(); ++n) {
    std::string_view prefix(c.raw.data(), n);
    ASSERT_NE(ParseResponseHead(&prefix, &head).status, ParseStatus::kComplete);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Http1, InvalidResponseTable,
    ::testing::Values(
        InvalidCase{"html", "<html><body>hi</body></html>\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"two_digit_status", "HTTP/1.1 20 OK\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"four_digit_status", "HTTP/1.1 2000 OK\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"status_below_100", "HTTP/1.1 099 Low\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"letters_status", "HTTP/1.1 abc OK\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"no_space_after_status", "HTTP/1.1 200OK\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"http2", "HTTP/2 200 OK\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"lowercase", "http/1.1 200 OK\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"ctl_in_reason", "HTTP/1.1 200 O\x01K\r\n\r\n",
                    ParseError::kBadStatusLine},
        InvalidCase{"bad_header", "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
                    ParseError::kBadHeader},
        InvalidCase{"bad_length",
                    "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                    ParseError::kBadContentLength},
        InvalidCase{
            "conflicting_length",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ParseError::kConflictingContentLength}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Http1Parser, GarbageIsRejectedBeforeAnyLineEnd) {
  struct Case {
    std::string bytes;
    bool request;
  };
  for (const Case& c :
       {Case{"\x16", true}, Case{"XYZ@", true}, Case{"GET /\x01", true},
        Case{"{\"json\":", true}, Case{"<", false}, Case{"HTTP/1.1 2x", false},
        Case{"HTTP/3", false}}) {
    std::string_view in = c.bytes;
    if (c.request) {
      RequestHead head;
      EXPECT_EQ(ParseRequestHead(&in, &head).status, ParseStatus::kInvalid)
          << c.bytes;
    } else {
      ResponseHead head;
      EXPECT_EQ(ParseResponseHead(&in, &head).status, ParseStatus::kInvalid)
          << c.bytes;
    }
  }
}

// A head of exactly `size` bytes.
std::string HeadOfSize(size_t size) {
  const std::string start = "GET / HTTP/1.1\r\nX: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(size - start.size() - end.size(), 'v') + end;
}

TEST(Http1Parser, HeadLimitIsInclusive) {
  RequestHead head;
  size_t consumed = 0;
  EXPECT_EQ(ParseRequest(HeadOfSize(64), &head, &consumed, 64).status,
            ParseStatus::kComplete);
  EXPECT_EQ(consumed, 64u);
  const ParseResult r = ParseRequest(HeadOfSize(65), &head, &consumed, 64);
  EXPECT_EQ(r.status, ParseStatus::kInvalid);
  EXPECT_EQ(r.error, ParseError::kHeadTooLarge);
  ResponseHead response;
  const std::string big_response =
      "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'v') + "\r\n\r\n";
  EXPECT_EQ(ParseResponse(big_response, &response, &consumed, 64).error,
            ParseError::kHeadTooLarge);
}

TEST(Http1Parser, OversizedHeadIsRejectedBeforeItsEnd) {
  // Many short, valid header lines and no terminating empty line.
  std::string bytes = "GET / HTTP/1.1\r\n";
  while (bytes.size() <= kDefaultMaxHeadBytes + 10)
    bytes += "X-Filler: 0123456789\r\n";
  RequestHead head;
  size_t consumed = 0;
  EXPECT_EQ(
      ParseRequest(bytes.substr(0, kDefaultMaxHeadBytes), &head, &consumed)
          .status,
      ParseStatus::kNeedMore);
  const ParseResult r =
      ParseRequest(bytes.substr(0, kDefaultMaxHeadBytes + 1), &head, &consumed);
  EXPECT_EQ(r.status, ParseStatus::kInvalid);
  EXPECT_EQ(r.error, ParseError::kHeadTooLarge);
  EXPECT_EQ(consumed, 0u);
  // The same within one unfinished line.
  const std::string one_line = "GET /" + std::string(kDefaultMaxHeadBytes, 'a');
  EXPECT_EQ(ParseRequest(one_line, &head, &consumed).error,
            ParseError::kHeadTooLarge);
}

TEST(Http1Parser, StartChecks) {
  struct Case {
    std::string bytes;
    ParseStatus request;
    ParseStatus response;
  };
  const auto C = ParseStatus::kComplete;
  const auto M = ParseStatus::kNeedMore;
  const auto I = ParseStatus::kInvalid;
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\n", C, I},
      {"GET /a HTTP/1.0\nHost: x\n\n", C, I},
      {"PROPFIND /dav HTTP/1.1\r\n", C, I},
      {"", M, M},
      {"GE", M, I},
      {"GET /partial", M, I},
      {"GET / HTTP/1.1", M, I},
      {"FOO / HTTP/1.1\r\n", I, I},
      {"get / HTTP/1.1\r\n", I, I},
      {"OKGET / HTTP/1.1\r\n", I, I},
      {"GET / HTTP/1.1 junk\r\n", I, I},
      {"hello world\r\n", I, I},
      {"H", M, M},
      {"HTTP/1", I, M},
      {"HTTP/1.", I, C},
      {"HTTP/1.1 200 OK\r\n", I, C},
      {"HTTP/2 200\r\n", I, I},
      {"xHTTP/1.1 200 OK", I, I},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CheckRequestStart(c.bytes), c.request) << c.bytes;
    EXPECT_EQ(CheckResponseStart(c.bytes), c.response) << c.bytes;
  }
  EXPECT_EQ(CheckRequestStart("GET /" + std::string(100, 'a'), 64), I);
}

TEST(Http1Parser, ErrorNames) {
  EXPECT_EQ(ParseErrorName(ParseError::kNone), "none");
  EXPECT_EQ(ParseErrorName(ParseError::kHeadTooLarge), "head_too_large");
  EXPECT_EQ(ParseErrorName(ParseError::kBadRequestLine), "bad_request_line");
  EXPECT_EQ(ParseErrorName(ParseError::kBadStatusLine), "bad_status_line");
  EXPECT_EQ(ParseErrorName(ParseError::kBadHeader), "bad_header");
  EXPECT_EQ(ParseErrorName(ParseError::kBadContentLength),
            "bad_content_length");
  EXPECT_EQ(ParseErrorName(ParseError::kConflictingContentLength),
            "conflicting_content_length");
  EXPECT_EQ(ParseErrorName(ParseError::kBadTransferEncoding),
            "bad_transfer_encoding");
  EXPECT_EQ(ParseErrorName(ParseError::kBadChunk), "bad_chunk");
}

}  // namespace
}  // namespace sightline::http1
