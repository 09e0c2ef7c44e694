// HTTP/1.x body decoder: Content-Length and chunked tables with every
// incomplete prefix and every split, broken chunk framing with the exact
// position of the error, limits, and skipping uncaptured bytes.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/body.h"

namespace sightline::http1 {
namespace {

using namespace std::string_literals;

struct BodyCase {
  const char* name;
  BodyFraming framing;
  std::string body;  // the whole body as framed on the wire
  uint64_t decoded;  // de-chunked bytes
};

const std::vector<BodyCase>& BodyCases() {
  static const std::vector<BodyCase> cases = {
      {"length", {BodyKind::kContentLength, 5}, "hello", 5},
      {"length_binary", {BodyKind::kContentLength, 4}, "\0\r\n\xff"s, 4},
      {"chunked",
       {BodyKind::kChunked, 0},
       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
       11},
      {"chunked_extensions",
       {BodyKind::kChunked, 0},
       "5;name=value\r\nhello\r\nA; a=1;b=\"x "
       "y\"\r\n0123456789\r\n0;last\r\n\r\n",
       15},
      {"chunked_trailers",
       {BodyKind::kChunked, 0},
       "3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Other: two\r\n\r\n",
       3},
      {"chunked_bare_lf", {BodyKind::kChunked, 0}, "3\nabc\n0\nX-T: 1\n\n", 3},
      {"chunked_upper_hex",
       {BodyKind::kChunked, 0},
       "1F\r\n" + std::string(31, 'x') + "\r\n0\r\n\r\n",
       31},
      {"chunked_size_whitespace",
       {BodyKind::kChunked, 0},
       "3  \r\nabc\r\n0\t;e\r\n\r\n",
       3},
      {"chunked_leading_zeros",
       {BodyKind::kChunked, 0},
       "0003\r\nabc\r\n000\r\n\r\n",
       3},
      {"chunked_empty", {BodyKind::kChunked, 0}, "0\r\n\r\n", 0},
  };
  return cases;
}

class BodyTable : public ::testing::TestWithParam<BodyCase> {};

TEST_P(BodyTable, WholeInputStopsAtTheBodyEnd) {
  const BodyCase& c = GetParam();
  BodyDecoder d(c.framing);
  const BodyDecoder::Result r = d.Feed(c.body + "GET / HTTP/1.1\r\n");
  EXPECT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, c.body.size());
  EXPECT_EQ(d.body_bytes(), c.decoded);
  EXPECT_TRUE(d.done());
}

TEST_P(BodyTable, EveryPrefixNeedsMoreAndEverySplitDecodesTheSame) {
  const BodyCase& c = GetParam();
  for (size_t n = 0; n < c.body.size(); ++n) {
    BodyDecoder prefix(c.framing);
    const BodyDecoder::Result r =
        prefix.Feed(std::string_view(c.body).substr(0, n));
    ASSERT_EQ(r.status, ParseStatus::kNeedMore) << n;
    ASSERT_EQ(r.consumed, n);
    ASSERT_FALSE(prefix.Close());

    BodyDecoder split(c.framing);
    split.Feed(std::string_view(c.body).substr(0, n));
    const BodyDecoder::Result rest =
        split.Feed(std::string_view(c.body).substr(n));
    ASSERT_EQ(rest.status, ParseStatus::kComplete) << n;
    ASSERT_EQ(rest.consumed, c.body.size() - n);
    ASSERT_EQ(split.body_bytes(), c.decoded);
  }
  BodyDecoder bytewise(c.framing);
  for (size_t i = 0; i < c.body.size(); ++i) {
    const BodyDecoder::Result r =
        bytewise.Feed(std::string_view(c.body).substr(i, 1));
    ASSERT_EQ(r.consumed, 1u);
    ASSERT_EQ(r.status, i + 1 == c.body.size() ? ParseStatus::kComplete
                                               : ParseStatus::kNeedMore);
  }
  EXPECT_EQ(bytewise.body_bytes(), c.decoded);
}

INSTANTIATE_TEST_SUITE_P(Http1, BodyTable, ::testing::ValuesIn(BodyCases()),
                         [](const auto& info) {
                           return std::string(info.param.name);
                         });

TEST(Http1Body, InvalidChunkFraming) {
  struct Case {
    std::string bytes;
    size_t consumed;  // where the error was found
  };
  const std::vector<Case> cases = {
      {"zz\r\n", 0},
      {";ext\r\n", 0},
      {"-1\r\n", 0},
      {"5\r\nhelloXX", 8},
      {"5\rX", 2},
      {"5 x\r\n", 2},
      {"10000000000000000\r\n", 15},
      {"3;\x01\r\n", 2},
      {"3\r\nabc\r\n0\r\n: bad\r\n\r\n", 11},
      {"3\r\nabc\r\n0\r\nX: a\0b\r\n\r\n"s, 15},
      {"3\r\nabc\r\n0\r\n\rX", 12},
  };
  for (const Case& c : cases) {
    BodyDecoder d({BodyKind::kChunked, 0});
    const BodyDecoder::Result r = d.Feed(c.bytes);
    EXPECT_EQ(r.status, ParseStatus::kInvalid) << c.bytes;
    EXPECT_EQ(r.error, ParseError::kBadChunk) << c.bytes;
    EXPECT_EQ(r.consumed, c.consumed) << c.bytes;
    EXPECT_TRUE(d.failed());
    EXPECT_EQ(d.Feed("0\r\n\r\n").status, ParseStatus::kInvalid);
  }
}

TEST(Http1Body, ChunkLineAndTrailerLimits) {
  BodyDecoder ext({BodyKind::kChunked, 0}, 16);
  EXPECT_EQ(ext.Feed("1;" + std::string(20, 'e')).status,
            ParseStatus::kInvalid);
  BodyDecoder trailer({BodyKind::kChunked, 0}, 16);
  EXPECT_EQ(trailer.Feed("0\r\nX: " + std::string(20, 't')).status,
            ParseStatus::kInvalid);
}

TEST(Http1Body, SkipWhereTheRemainingLengthIsKnown) {
  BodyDecoder length({BodyKind::kContentLength, 10});
  EXPECT_EQ(length.Feed("abc").status, ParseStatus::kNeedMore);
  EXPECT_TRUE(length.Skip(5));
  EXPECT_EQ(length.body_bytes(), 8u);
  EXPECT_FALSE(length.Skip(3));  // past the end: the next message is lost too
  EXPECT_EQ(length.body_bytes(), 8u);
  const BodyDecoder::Result r = length.Feed("deGET");
  EXPECT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, 2u);
  EXPECT_EQ(length.body_bytes(), 10u);

  BodyDecoder exact({BodyKind::kContentLength, 4});
  EXPECT_TRUE(exact.Skip(4));
  EXPECT_TRUE(exact.done());

  BodyDecoder chunked({BodyKind::kChunked, 0});
  EXPECT_FALSE(chunked.Skip(1));  // inside a size line
  EXPECT_EQ(chunked.Feed("5\r\nhe").status, ParseStatus::kNeedMore);
  EXPECT_FALSE(chunked.Skip(4));  // beyond this chunk's data
  EXPECT_TRUE(chunked.Skip(3));
  EXPECT_FALSE(chunked.Skip(1));  // now at the CRLF after the data
  EXPECT_EQ(chunked.Feed("\r\n0\r\n\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(chunked.body_bytes(), 5u);

  BodyDecoder until_close({BodyKind::kUntilClose, 0});
  EXPECT_EQ(until_close.Feed("abc").status, ParseStatus::kNeedMore);
  EXPECT_TRUE(until_close.Skip(100));
  EXPECT_TRUE(until_close.Close());
  EXPECT_TRUE(until_close.done());
  EXPECT_EQ(until_close.body_bytes(), 103u);

  BodyDecoder none;
  EXPECT_TRUE(none.done());
  EXPECT_FALSE(none.Skip(1));
  EXPECT_TRUE(none.Skip(0));
  EXPECT_TRUE(none.Close());
  EXPECT_EQ(none.Feed("x").consumed, 0u);

  BodyDecoder cut({BodyKind::kContentLength, 10});
  cut.Feed("abc");
  EXPECT_FALSE(cut.Close());
}

}  // namespace
}  // namespace sightline::http1
