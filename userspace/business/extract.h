// Reading business values out of an HTTP exchange: route matching and route
// parameters, query parameters, JSON pointers into bodies, and the bounds on
// label values. Pure functions and small value types, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/route.h"

namespace sightline::business {

// Why a rule could not read a value (or had to fold a label), as counted in
// sightline_business_rule_errors_total{reason}.
enum class Reason : uint8_t {
  kNoBody,          // the message had no body
  kNotJson,         // its Content-Type is not JSON
  kBodyTooLarge,    // longer than max_body_bytes (after decompression)
  kBodyIncomplete,  // bytes of it were not captured: nothing is guessed
  kDecodeFailed,    // a Content-Encoding that could not be undone
  kInvalidJson,
  kMissingField,    // the pointer, header or parameter is absent (or JSON null)
  kNotAScalar,      // a label pointer names an object or an array
  kNotANumber,      // a value that is not a number
  kNegativeValue,   // a counter increment below zero
  kLabelOther,      // a value outside the label's allow-list, counted as "other"
  kLabelOverflow,   // a value past the label's max_values, counted as "_overflow"
  kLabelTruncated,  // a value longer than 64 bytes, cut
  kLabelNotUtf8,    // bytes of a value that are not UTF-8, replaced by '?'
  kUnanswered,      // the exchange got no complete response
  kCount,
};

std::string_view ReasonName(Reason r);

// The path of a request target: origin-form "/a/b?q" or absolute-form
// "http://host/a/b", without query and fragment.
std::string_view TargetPath(std::string_view target);

// A rule's route. Matches() first compares segments without allocating (most
// exchanges are not for any rule and must cost nothing), then asks the same
// normaliser that makes http_route, so a rule's route means what the
// http_route label means.
class RouteMatcher {
 public:
  // `pattern` must pass metrics::RouteNormalizer::ValidatePattern.
  explicit RouteMatcher(const std::string& pattern);

  bool Matches(std::string_view target) const;
  // The value of {name} in a matching target; empty when not a parameter.
  std::string_view Param(std::string_view target, std::string_view name) const;

 private:
  bool SameShape(std::string_view path) const;

  std::string pattern_;
  std::vector<std::string> segments_;  // "" for a parameter
  std::vector<std::string> params_;    // parameter name per segment, "" for a literal
  metrics::RouteNormalizer normalizer_;
};

// The first value of query parameter `name` in `target`, percent-decoded
// ('+' is a space); nullopt when absent.
std::optional<std::string> QueryParam(std::string_view target, std::string_view name);

// application/json, application/<anything>+json, with or without parameters.
bool IsJsonContentType(std::string_view value);

// Cuts `value` to at most `max` bytes without splitting a UTF-8 character;
// true when it was cut.
bool TruncateLabel(std::string* value, size_t max);

// Label text of the value at `pointer`: a string as it is, a number or a
// boolean as JSON writes it. An error for absent or null values, objects and
// arrays.
std::optional<Reason> JsonLabel(const nlohmann::json& doc,
                                const nlohmann::json::json_pointer& pointer, std::string* out);

// A JSON number at `pointer` (strings are not numbers here).
std::optional<Reason> JsonNumber(const nlohmann::json& doc,
                                 const nlohmann::json::json_pointer& pointer, double* out);

// Replaces every byte of `value` that is not part of a well-formed UTF-8
// character with '?' (label values must be UTF-8); true when it did.
bool SanitizeUtf8(std::string* value);

// A decimal number making up all of `text` (surrounding blanks ignored).
std::optional<Reason> TextNumber(std::string_view text, double* out);

}  // namespace sightline::business
