// Reading business values: routes and their parameters, query parameters,
// JSON pointers, label bounds, and bodies (split anywhere, gzip, lost bytes,
// too large, not JSON) where nothing is ever guessed from part of a body.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "business/body.h"
#include "business/extract.h"

namespace {

namespace business = sightline::business;
using business::BodyCapture;
using business::Reason;
using nlohmann::json;

TEST(BusinessRoute, MatchesLikeHttpRoute) {
  business::RouteMatcher m("/api/campaigns/{id}/roas");
  EXPECT_TRUE(m.Matches("/api/campaigns/42/roas"));
  EXPECT_TRUE(m.Matches("/api/campaigns/c-42/roas?window=7d"));
  EXPECT_TRUE(m.Matches("//api/campaigns/42/roas/"));  // repeated and trailing slashes collapse
  EXPECT_TRUE(m.Matches("http://shop.example/api/campaigns/42/roas"));
  EXPECT_FALSE(m.Matches("/api/campaigns/42"));
  EXPECT_FALSE(m.Matches("/api/campaigns/42/roas/daily"));
  EXPECT_FALSE(m.Matches("/api/campaign/42/roas"));
  EXPECT_FALSE(m.Matches("/api/Campaigns/42/roas"));
  EXPECT_EQ(m.Param("/api/campaigns/c-42/roas?x=1", "id"), "c-42");
  EXPECT_EQ(m.Param("http://h/api/campaigns/7/roas", "id"), "7");
  EXPECT_EQ(m.Param("/api/campaigns/7/roas", "name"), "");

  business::RouteMatcher literal("/api/campaigns");
  EXPECT_TRUE(literal.Matches("/api/campaigns"));
  EXPECT_TRUE(literal.Matches("/api/campaigns?draft=1"));
  EXPECT_FALSE(literal.Matches("/api/campaigns/1"));
  EXPECT_FALSE(literal.Matches("/api"));
  EXPECT_FALSE(literal.Matches("*"));

  EXPECT_EQ(business::TargetPath("/a/b?c#d"), "/a/b");
  EXPECT_EQ(business::TargetPath("https://h:8443"), "/");
}

TEST(BusinessQuery, FirstValuePercentDecoded) {
  EXPECT_EQ(business::QueryParam("/a?ch=web&x=1", "ch"), "web");
  EXPECT_EQ(business::QueryParam("/a?x=1&ch=app&ch=web", "ch"), "app");
  EXPECT_EQ(business::QueryParam("/a?q=summer%20sale+2", "q"), "summer sale 2");
  EXPECT_EQ(business::QueryParam("/a?my%5Fkey=v", "my_key"), "v");
  EXPECT_EQ(business::QueryParam("/a?flag&x=1", "flag"), "");
  EXPECT_EQ(business::QueryParam("/a?bad=%zz%4", "bad"), "%zz%4");
  EXPECT_EQ(business::QueryParam("/a?x=1#ch=web", "ch"), std::nullopt);
  EXPECT_EQ(business::QueryParam("/a", "ch"), std::nullopt);
  EXPECT_EQ(business::QueryParam("/a?chx=1", "ch"), std::nullopt);
}

TEST(BusinessExtract, JsonContentTypes) {
  EXPECT_TRUE(business::IsJsonContentType("application/json"));
  EXPECT_TRUE(business::IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(business::IsJsonContentType("application/problem+json"));
  EXPECT_TRUE(business::IsJsonContentType(" application/vnd.api+json "));
  EXPECT_FALSE(business::IsJsonContentType("text/plain"));
  EXPECT_FALSE(business::IsJsonContentType("application/x-www-form-urlencoded"));
  EXPECT_FALSE(business::IsJsonContentType("application/jsonp"));
  EXPECT_FALSE(business::IsJsonContentType("text/json+html"));
  EXPECT_FALSE(business::IsJsonContentType(""));
}

TEST(BusinessExtract, TruncationKeepsCharactersWhole) {
  std::string ascii(70, 'a');
  EXPECT_TRUE(business::TruncateLabel(&ascii, 64));
  EXPECT_EQ(ascii.size(), 64u);
  std::string exact(64, 'b');
  EXPECT_FALSE(business::TruncateLabel(&exact, 64));
  // 63 ASCII bytes then "é" (2 bytes): byte 64 would split it.
  std::string accented = std::string(63, 'c') + "\xc3\xa9" + "d";
  EXPECT_TRUE(business::TruncateLabel(&accented, 64));
  EXPECT_EQ(accented, std::string(63, 'c'));
}

TEST(BusinessExtract, LabelsAreUtf8) {
  std::string ok = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80";
  EXPECT_FALSE(business::SanitizeUtf8(&ok));
  EXPECT_EQ(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80");
  std::string bad =
      "a\xff"
      "b\xc3"
      "c\xc0\xaf"
      "d\xed\xa0\x80"
      "e\xe2\x82";
  EXPECT_TRUE(business::SanitizeUtf8(&bad));
  EXPECT_EQ(bad, "a?b?c??d???e??");
}

TEST(BusinessExtract, JsonPointers) {
  const json doc = json::parse(R"({"platform":"meta","n":3,"ok":true,"f":2.5,"none":null,
      "obj":{"a":1},"items":[{"count":7}],"a/b":"slash","m~n":"tilde"})");
  std::string s;
  double v = 0;
  auto ptr = [](const char* p) { return json::json_pointer(p); };
  EXPECT_EQ(business::JsonLabel(doc, ptr("/platform"), &s), std::nullopt);
  EXPECT_EQ(s, "meta");
  EXPECT_EQ(business::JsonLabel(doc, ptr("/n"), &s), std::nullopt);
  EXPECT_EQ(s, "3");
  EXPECT_EQ(business::JsonLabel(doc, ptr("/ok"), &s), std::nullopt);
  EXPECT_EQ(s, "true");
  EXPECT_EQ(business::JsonLabel(doc, ptr("/a~1b"), &s), std::nullopt);
  EXPECT_EQ(s, "slash");
  EXPECT_EQ(business::JsonLabel(doc, ptr("/m~0n"), &s), std::nullopt);
  EXPECT_EQ(s, "tilde");
  EXPECT_EQ(business::JsonLabel(doc, ptr("/missing"), &s), Reason::kMissingField);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/none"), &s), Reason::kMissingField);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/obj"), &s), Reason::kNotAScalar);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/items"), &s), Reason::kNotAScalar);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/items/5"), &s), Reason::kMissingField);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/items/01"), &s), Reason::kMissingField);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/items/x"), &s), Reason::kMissingField);
  EXPECT_EQ(business::JsonLabel(doc, ptr("/platform/x"), &s), Reason::kMissingField);

  EXPECT_EQ(business::JsonNumber(doc, ptr("/items/0/count"), &v), std::nullopt);
  EXPECT_EQ(v, 7);
  EXPECT_EQ(business::JsonNumber(doc, ptr("/f"), &v), std::nullopt);
  EXPECT_EQ(v, 2.5);
  EXPECT_EQ(business::JsonNumber(doc, ptr("/platform"), &v), Reason::kNotANumber);
  EXPECT_EQ(business::JsonNumber(doc, ptr("/ok"), &v), Reason::kNotANumber);
  EXPECT_EQ(business::JsonNumber(doc, ptr("/none"), &v), Reason::kMissingField);

  EXPECT_EQ(business::TextNumber(" 12.5 ", &v), std::nullopt);
  EXPECT_EQ(v, 12.5);
  EXPECT_EQ(business::TextNumber("-3", &v), std::nullopt);
  EXPECT_EQ(v, -3);
  EXPECT_EQ(business::TextNumber("12abc", &v), Reason::kNotANumber);
  EXPECT_EQ(business::TextNumber("nan", &v), Reason::kNotANumber);
  EXPECT_EQ(business::TextNumber("", &v), Reason::kNotANumber);
}

std::string Gzip(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = in.size();
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = out.size();
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

constexpr std::string_view kBody = R"({"platform":"google","name":"Spring sale","budget":1200})";

// The platform read from `wire` fed in two pieces cut at `cut`.
std::optional<Reason> Platform(BodyCapture& b, std::string* out) {
  Reason why = Reason::kNoBody;
  const json* doc = b.Document(&why);
  if (!doc) return why;
  return business::JsonLabel(*doc, json::json_pointer("/platform"), out);
}

TEST(BusinessBody, SplitAnywhere) {
  for (size_t cut = 0; cut <= kBody.size(); ++cut) {
    BodyCapture b;
    b.Start("application/json", "", kBody.size(), 65536);
    b.Feed(kBody.substr(0, cut));
    b.Feed(kBody.substr(cut));
    b.Finish(kBody.size());
    std::string p;
    EXPECT_EQ(Platform(b, &p), std::nullopt) << cut;
    EXPECT_EQ(p, "google");
  }
}

TEST(BusinessBody, GzipSplitAnywhere) {
  const std::string wire = Gzip(kBody);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    BodyCapture b;
    b.Start("application/json", "gzip", std::nullopt, 65536);
    b.Feed(std::string_view(wire).substr(0, cut));
    b.Feed(std::string_view(wire).substr(cut));
    b.Finish(wire.size());
    std::string p;
    EXPECT_EQ(Platform(b, &p), std::nullopt) << cut;
    EXPECT_EQ(p, "google");
  }
}

TEST(BusinessBody, NothingIsGuessed) {
  std::string p;
  {  // bytes lost in the middle
    BodyCapture b;
    b.Start("application/json", "", kBody.size(), 65536);
    b.Feed(kBody.substr(0, 10));
    b.Gap(5);
    b.Feed(kBody.substr(15));
    b.Finish(kBody.size());
    EXPECT_EQ(Platform(b, &p), Reason::kBodyIncomplete);
  }
  {  // fewer bytes than Content-Length said (framing cut short)
    BodyCapture b;
    b.Start("application/json", "", kBody.size(), 65536);
    b.Feed(kBody.substr(0, 20));
    b.Finish(20);
    EXPECT_EQ(Platform(b, &p), Reason::kBodyIncomplete);
  }
  {  // bytes counted by the HTTP layer that never arrived
    BodyCapture b;
    b.Start("application/json", "", std::nullopt, 65536);
    b.Feed(kBody.substr(0, 20));
    b.Finish(kBody.size());
    EXPECT_EQ(Platform(b, &p), Reason::kBodyIncomplete);
  }
  {  // a cut gzip stream
    const std::string wire = Gzip(kBody);
    BodyCapture b;
    b.Start("application/json", "gzip", std::nullopt, 65536);
    b.Feed(std::string_view(wire).substr(0, wire.size() - 4));
    b.Finish(wire.size() - 4);
    EXPECT_EQ(Platform(b, &p), Reason::kDecodeFailed);
  }
  {  // a coding that cannot be undone
    BodyCapture b;
    b.Start("application/json", "compress", std::nullopt, 65536);
    b.Feed("xyz");
    b.Finish(3);
    EXPECT_EQ(Platform(b, &p), Reason::kDecodeFailed);
  }
  {  // corrupt gzip
    BodyCapture b;
    b.Start("application/json", "gzip", std::nullopt, 65536);
    b.Feed("not gzip at all");
    b.Finish(15);
    EXPECT_EQ(Platform(b, &p), Reason::kDecodeFailed);
  }
}

TEST(BusinessBody, BoundsAndTypes) {
  std::string p;
  {  // one byte over the cap
    BodyCapture b;
    b.Start("application/json", "", std::nullopt, kBody.size() - 1);
    b.Feed(kBody);
    b.Finish(kBody.size());
    EXPECT_EQ(Platform(b, &p), Reason::kBodyTooLarge);
  }
  {  // exactly at the cap
    BodyCapture b;
    b.Start("application/json", "", std::nullopt, kBody.size());
    b.Feed(kBody);
    b.Finish(kBody.size());
    EXPECT_EQ(Platform(b, &p), std::nullopt);
  }
  {  // small on the wire, over the cap once decompressed
    const std::string big = R"({"platform":")" + std::string(100000, 'x') + R"("})";
    const std::string wire = Gzip(big);
    ASSERT_LT(wire.size(), 65536u);
    BodyCapture b;
    b.Start("application/json", "gzip", std::nullopt, 65536);
    b.Feed(wire);
    b.Finish(wire.size());
    EXPECT_EQ(Platform(b, &p), Reason::kBodyTooLarge);
  }
  {
    BodyCapture b;
    b.Start("text/plain", "", std::nullopt, 65536);
    b.Feed(kBody);
    b.Finish(kBody.size());
    EXPECT_EQ(Platform(b, &p), Reason::kNotJson);
  }
  {
    BodyCapture b;
    b.Start("application/json", "", std::nullopt, 65536);
    b.Feed("{\"platform\": ");
    b.Finish(13);
    EXPECT_EQ(Platform(b, &p), Reason::kInvalidJson);
  }
  {  // no body at all, whatever its type
    BodyCapture b;
    b.Start("application/json", "", std::nullopt, 65536);
    b.Finish(0);
    EXPECT_EQ(Platform(b, &p), Reason::kNoBody);
    BodyCapture never;
    EXPECT_EQ(Platform(never, &p), Reason::kNoBody);
  }
  {  // parsed once: the same answer on every call
    BodyCapture b;
    b.Start("application/json", "", std::nullopt, 65536);
    b.Feed(kBody);
    b.Finish(kBody.size());
    EXPECT_EQ(Platform(b, &p), std::nullopt);
    p.clear();
    EXPECT_EQ(Platform(b, &p), std::nullopt);
    EXPECT_EQ(p, "google");
  }
}

}  // namespace
