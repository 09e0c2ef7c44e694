// Turns raw request targets into bounded `http_route` label values.
//
// A route is never the raw path: identifiers inside paths (numbers, UUIDs,
// hashes, opaque tokens) would give every request its own series. User
// patterns such as "/api/campaigns/{id}" take precedence over the built-in
// heuristics, and the output is capped in length and depth so a hostile
// client cannot mint unbounded label values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::metrics {

class RouteNormalizer {
 public:
  // Upper bounds on a normalised route. Anything deeper or longer is folded
  // into a trailing "/{rest}" segment.
  static constexpr std::size_t kMaxRouteLength = 128;
  static constexpr std::size_t kMaxSegments = 16;

  // Returns a message describing what is wrong with `pattern`, or nullopt
  // when it is usable. A pattern starts with '/', has non-empty segments, and
  // each segment is either a literal or a whole-segment parameter "{name}"
  // whose name is made of [A-Za-z0-9_]. Query strings ('?') and fragments
  // ('#') are not allowed, nor are spaces or non-ASCII bytes.
  static std::optional<std::string> ValidatePattern(std::string_view pattern);

  // Throws std::invalid_argument carrying ValidatePattern's message for the
  // first invalid pattern.
  explicit RouteNormalizer(std::vector<std::string> patterns = {});

  // Maps a request target (origin-form "/a/b?q" or absolute-form
  // "http://host/a/b") to a route. The first user pattern that matches wins
  // and is returned verbatim; otherwise identifier-like segments become
  // "{id}". Query and fragment are dropped, repeated and trailing slashes
  // collapse, and the result always starts with '/'.
  std::string Normalize(std::string_view target) const;

  // True when a single path segment looks like an identifier rather than a
  // resource name. Exposed for tests and for callers that label other things.
  static bool IsIdentifierSegment(std::string_view segment);

 private:
  struct Pattern {
    std::string text;
    std::vector<std::string> segments;  // "" marks a parameter segment
  };

  const Pattern* Match(const std::vector<std::string_view>& segments) const;

  std::vector<Pattern> patterns_;
};

}  // namespace sightline::metrics
