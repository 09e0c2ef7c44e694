// Helpers shared by the YAML files the daemon reads (business rules, alert
// rules): a problem is thrown with its line, so the loader can say where,
// and unknown keys are errors rather than silently ignored settings.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace sightline::config::yaml {

// A problem at a place in the file; caught once, by the loader.
struct Invalid {
  int line;  // 1-based; 0 when unknown
  std::string message;
};

[[noreturn]] inline void Fail(const YAML::Node& at, std::string message) {
  const int line = !at.IsDefined() || at.Mark().is_null() ? 0 : at.Mark().line + 1;
  throw Invalid{line, std::move(message)};
}

// Every key of the map `n` must be one of `allowed`.
inline void OnlyKeys(const YAML::Node& n, std::string_view where,
                     std::initializer_list<std::string_view> allowed) {
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list.append(list.empty() ? "" : ", ").append(a);
      Fail(it->first, std::string(where) + ": unknown key '" + key + "' (expected " + list + ")");
    }
  }
}

inline std::string Scalar(const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar()) Fail(n, where + ": must be a single value");
  return n.Scalar();
}

// A whole number in [min, max].
template <typename T>
T Whole(const YAML::Node& n, const std::string& where, T min, T max) {
  const std::string s = Scalar(n, where);
  T v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) {
    Fail(n, where + ": must be a whole number between " + std::to_string(min) + " and " +
                std::to_string(max) + ", got '" + s + "'");
  }
  return v;
}

// "line N: message" for an error thrown while reading a file.
inline std::string Describe(const Invalid& e) {
  return e.line > 0 ? "line " + std::to_string(e.line) + ": " + e.message : e.message;
}
inline std::string Describe(const YAML::Exception& e) {
  return e.mark.is_null() ? e.msg : "line " + std::to_string(e.mark.line + 1) + ": " + e.msg;
}

// The text of the file at `path`, or nullopt and "<path>: cannot be read".
inline std::optional<std::string> ReadFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot be read";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A parser's "line N: ..." as "<path>:N: ...", the form editors jump to.
inline std::string AtPath(const std::string& path, const std::string& why) {
  return why.starts_with("line ") ? path + ":" + why.substr(5) : path + ": " + why;
}

}  // namespace sightline::config::yaml
