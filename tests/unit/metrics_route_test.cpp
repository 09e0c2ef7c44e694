#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "metrics/route.h"

namespace sightline::metrics {
namespace {

struct RouteCase {
  std::string target;
  std::string route;
};

const std::vector<std::string> kPatterns = {
    "/api/campaigns/{id}",
    "/api/campaigns/{campaign}/ads/{ad}",
    "/api/users/me",
    "/api/users/{user_id}",
    "/files/{name}",
    "/files/{path}",  // never wins: same shape as the one above
    "/",
};

TEST(RouteNormalizer, NormalizesTable) {
  const RouteNormalizer normalizer(kPatterns);
  const std::string long_segment(200, 'a');
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "/s" + std::to_string(i);
  std::string wide;
  for (int i = 0; i < 12; ++i)
    wide += "/segment" + std::string(4, char('a' + i));

  const std::vector<RouteCase> cases = {
      // numbers
      {"/orders/12345", "/orders/{id}"},
      {"/orders/0/items/7", "/orders/{id}/items/{id}"},
      // UUIDs, any case
      {"/orgs/123e4567-e89b-12d3-a456-426614174000", "/orgs/{id}"},
      {"/orgs/123E4567-E89B-12D3-A456-426614174000/members",
       "/orgs/{id}/members"},
      // hex: needs 8+ chars and a digit
      {"/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/{id}"},
      {"/objects/5f1d7a3c", "/objects/{id}"},
      {"/colors/deadbeef", "/colors/deadbeef"},
      {"/blobs/abc123", "/blobs/abc123"},
      // opaque tokens
      {"/sessions/s3ss10nT0kenAbcdef", "/sessions/{id}"},
      {"/share/aBcDeFgHiJkLmNoPqR", "/share/{id}"},
      {"/share/abcdefghijklmnopqr==", "/share/{id}"},
      {"/keys/sk-proj-4f9Xk2LmQ8rT1vZ", "/keys/{id}"},
      // words stay, even long ones
      {"/docs/GettingStartedGuide", "/docs/GettingStartedGuide"},
      {"/api/user-preferences", "/api/user-preferences"},
      {"/api/v2/health", "/api/v2/health"},
      // query strings, fragments, slashes
      {"/search?q=shoes&page=2", "/search"},
      {"/page#section-3", "/page"},
      {"/orders/42/?expand=items", "/orders/{id}"},
      {"//a///b//", "/a/b"},
      {"", "/"},
      {"?only=query", "/"},
      {"/", "/"},
      // user patterns win, first match in order
      {"/api/campaigns/summer-sale", "/api/campaigns/{id}"},
      {"/api/campaigns/7/ads/9", "/api/campaigns/{campaign}/ads/{ad}"},
      {"/api/users/me", "/api/users/me"},
      {"/api/users/alice", "/api/users/{user_id}"},
      {"/files/report.pdf", "/files/{name}"},
      {"/api/campaigns/7/extra", "/api/campaigns/{id}/extra"},
      {"/api/campaigns", "/api/campaigns"},
      // absolute-form
      {"http://example.com/orders/17?x=1", "/orders/{id}"},
      {"https://example.com:8443/api/users/bob", "/api/users/{user_id}"},
      {"http://example.com", "/"},
      {"http://example.com?x=1", "/"},
      // odd characters: visible ones stay, others make a segment opaque
      {"/a%20b/c", "/a%20b/c"},
      {"/caf\xc3\xa9/menu", "/{id}/menu"},
      {"/tab\there", "/{id}"},
      {"/weird/\"quoted\"", "/weird/\"quoted\""},
      // mixed
      {"/v1/users/42/posts/abc/comments/9",
       "/v1/users/{id}/posts/abc/comments/{id}"},
      // length and depth caps
      {"/" + long_segment, "/{rest}"},
      {"/x/" + long_segment + "/y", "/x/{rest}"},
      {deep, "/s0/s1/s2/s3/s4/s5/s6/s7/s8/s9/s10/s11/s12/s13/s14/{rest}"},
      {wide,
       "/segmentaaaa/segmentbbbb/segmentcccc/segmentdddd/segmenteeee/"
       "segmentffff/segmentgggg/segmenthhhh/segmentiiii/segmentjjjj/{rest}"},
  };
  for (const auto& c : cases) {
    const std::string got = normalizer.Normalize(c.target);
    EXPECT_EQ(got, c.route) << "target: " << c.target;
    EXPECT_LE(got.size(), RouteNormalizer::kMaxRouteLength);
  }
}

TEST(RouteNormalizer, WithoutPatternsOnlyHeuristicsApply) {
  const RouteNormalizer normalizer;
  EXPECT_EQ(normalizer.Normalize("/api/campaigns/summer-sale"),
            "/api/campaigns/summer-sale");
  EXPECT_EQ(normalizer.Normalize("/api/campaigns/31"), "/api/campaigns/{id}");
}

TEST(RouteNormalizer, PatternOrderDecides) {
  const RouteNormalizer first({"/items/{a}", "/items/special"});
  const RouteNormalizer second({"/items/special", "/items/{a}"});
  EXPECT_EQ(first.Normalize("/items/special"), "/items/{a}");
  EXPECT_EQ(second.Normalize("/items/special"), "/items/special");
  EXPECT_EQ(second.Normalize("/items/other"), "/items/{a}");
}

TEST(RouteNormalizer, DepthCapHoldsExactlyAtLimit) {
  const RouteNormalizer normalizer;
  std::string sixteen;
  for (int i = 0; i < 16; ++i) sixteen += "/p";
  EXPECT_EQ(normalizer.Normalize(sixteen), sixteen);
  EXPECT_EQ(normalizer.Normalize(sixteen + "/p"),
            "/p/p/p/p/p/p/p/p/p/p/p/p/p/p/p/{rest}");
}

TEST(RouteNormalizer, LengthCapHoldsExactlyAtLimit) {
  const RouteNormalizer normalizer;
  const std::string exact = "/" + std::string(127, 'z');
  EXPECT_EQ(normalizer.Normalize(exact), exact);
  EXPECT_EQ(normalizer.Normalize(exact + "z"), "/{rest}");
}

TEST(RouteNormalizer, ValidPatterns) {
  for (const char* p : {"/", "/api", "/api/{id}", "/a/{snake_case_1}/b",
                        "/v1/files/{name}/raw"}) {
    EXPECT_EQ(RouteNormalizer::ValidatePattern(p), std::nullopt) << p;
  }
}

TEST(RouteNormalizer, InvalidPatternsHaveMessages) {
  struct Bad {
    std::string pattern;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {"", "route pattern is empty"},
      {"api/{id}", "route pattern \"api/{id}\" must start with '/'"},
      {"/api/{}", "route pattern \"/api/{}\" has an empty parameter name {}"},
      {"/api?x={id}",
       "route pattern \"/api?x={id}\" must not contain '?' (query strings "
       "are ignored)"},
      {"/api#top", "route pattern \"/api#top\" must not contain '#'"},
      {"/api/{user-id}",
       "route pattern \"/api/{user-id}\" has parameter \"{user-id}\": names "
       "may contain only letters, digits and '_'"},
      {"/api/v{version}",
       "route pattern \"/api/v{version}\" has segment \"v{version}\": a "
       "parameter must be a whole segment like {name}"},
      {"/api/{id",
       "route pattern \"/api/{id\" has segment \"{id\": a parameter must be "
       "a whole segment like {name}"},
      {"/api/{{id}}",
       "route pattern \"/api/{{id}}\" has segment \"{{id}}\": a parameter "
       "must be a whole segment like {name}"},
      {"/api//users",
       "route pattern \"/api//users\" has an empty segment (double or "
       "trailing '/')"},
      {"/api/",
       "route pattern \"/api/\" has an empty segment (double or trailing "
       "'/')"},
      {"/my api",
       "route pattern \"/my api\" contains a space, control or non-ASCII "
       "character"},
      {"/" + std::string(128, 'a'), "route pattern \"/" +
                                        std::string(128, 'a') +
                                        "\" is longer than 128 characters"},
  };
  for (const auto& b : bad) {
    EXPECT_EQ(RouteNormalizer::ValidatePattern(b.pattern), b.message)
        << b.pattern;
  }
}

TEST(RouteNormalizer, ConstructorRejectsInvalidPattern) {
  try {
    RouteNormalizer normalizer({"/ok/{id}", "/bad/{}"});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "route pattern \"/bad/{}\" has an empty parameter name {}");
  }
}

}  // namespace
}  // namespace sightline::metrics
