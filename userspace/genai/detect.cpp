// Recognising an AI API call from its request: provider, operation, model,
// stream flags (see provider.h).
#include <charconv>
#include <nlohmann/json.hpp>

#include "genai/provider.h"
#include "util/text.h"

namespace sightline::genai {
namespace {

using nlohmann::json;
using text::Cut;
using text::EqualsIgnoreCase;
using text::ToLower;
using text::Trim;

// ---------------------------------------------------------------------------------------
// Requests

struct HostPort {
  std::string host;  // lower-case, without a trailing dot; IPv6 keeps its brackets
  std::string port;  // "" when absent
};

HostPort SplitHost(std::string_view value) {
  value = Trim(value);
  HostPort out;
  std::string_view host = value;
  if (!value.empty() && value.front() == '[') {
    const size_t close = value.find(']');
    if (close != std::string_view::npos) {
      host = value.substr(0, close + 1);
      if (close + 1 < value.size() && value[close + 1] == ':') {
        out.port = std::string(value.substr(close + 2));
      }
    }
  } else if (const size_t colon = value.rfind(':');
             colon != std::string_view::npos && value.find(':') == colon) {
    host = value.substr(0, colon);
    out.port = std::string(value.substr(colon + 1));
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  out.host.reserve(host.size());
  for (char c : host) out.host.push_back(ToLower(c));
  return out;
}

std::optional<std::string_view> KnownProvider(std::string_view host) {
  struct Exact {
    std::string_view host, provider;
  };
  static constexpr Exact kExact[] = {
      {"api.openai.com", "openai"},
      {"api.anthropic.com", "anthropic"},
      {"generativelanguage.googleapis.com", "gcp.gemini"},
      {"aiplatform.googleapis.com", "gcp.vertex_ai"},
      {"api.mistral.ai", "mistral_ai"},
      {"api.groq.com", "groq"},
      {"api.x.ai", "x_ai"},
      {"api.deepseek.com", "deepseek"},
  };
  // Suffixes start at a label boundary ('.', or '-' inside Google's regional names), so
  // "evilapi.openai.com" matches nothing.
  static constexpr Exact kSuffix[] = {
      {".api.openai.com", "openai"},  // us., eu. data residency
      {".openai.azure.com", "azure.ai.openai"},
      {".cognitiveservices.azure.com", "azure.ai.openai"},
      {"-aiplatform.googleapis.com", "gcp.vertex_ai"},
  };
  for (const auto& e : kExact) {
    if (host == e.host) return e.provider;
  }
  for (const auto& e : kSuffix) {
    if (host.size() > e.host.size() && host.ends_with(e.host)) return e.provider;
  }
  return std::nullopt;
}

// The path of a request target: no scheme and authority, query or fragment, nor trailing
// slashes.
std::string_view PathOf(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() &&
        EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find('/');
      target = slash == std::string_view::npos ? std::string_view() : target.substr(slash);
      break;
    }
  }
  target = target.substr(0, target.find_first_of("?#"));
  while (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
  return target;
}

struct Shape {
  Api api;
  std::string_view operation;
  bool stream = false;     // decided by the path (Gemini)
  std::string_view model;  // from the path (Gemini); points into the target
};

std::optional<Shape> OpenAiShape(std::string_view path) {
  if (path.ends_with("/chat/completions")) return Shape{Api::kChatCompletions, "chat", false, {}};
  if (path.ends_with("/responses")) return Shape{Api::kResponses, "chat", false, {}};
  if (path.ends_with("/embeddings")) return Shape{Api::kEmbeddings, "embeddings", false, {}};
  if (path.ends_with("/completions")) return Shape{Api::kCompletions, "text_completion", false, {}};
  return std::nullopt;
}

std::optional<Shape> MessagesShape(std::string_view path) {
  if (path.ends_with("/messages")) return Shape{Api::kMessages, "chat", false, {}};
  return std::nullopt;
}

// ".../models/{model}:{method}" (Gemini, Vertex AI publishers) or
// ".../tunedModels/{model}:{method}".
std::optional<Shape> GeminiShape(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view last = path.substr(slash + 1);
  const size_t colon = last.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view model = last.substr(0, colon);
  const std::string_view method = last.substr(colon + 1);
  const std::string_view before = path.substr(0, slash);
  const std::string_view parent = before.substr(before.rfind('/') + 1);
  if (parent != "models" && parent != "tunedModels") return std::nullopt;
  if (method == "generateContent") {
    return Shape{Api::kGenerateContent, "generate_content", false, model};
  }
  if (method == "streamGenerateContent") {
    return Shape{Api::kGenerateContent, "generate_content", true, model};
  }
  if (method == "embedContent" || method == "batchEmbedContents") {
    return Shape{Api::kEmbedContent, "embeddings", false, model};
  }
  return std::nullopt;
}

std::optional<Shape> ShapeForProvider(std::string_view provider, std::string_view path) {
  if (auto shape = OpenAiShape(path)) return shape;
  if (provider == "anthropic") return MessagesShape(path);
  if (provider == "gcp.gemini" || provider == "gcp.vertex_ai") return GeminiShape(path);
  return std::nullopt;
}

std::optional<std::string_view> FindHeader(const Headers* headers, std::string_view name) {
  if (headers == nullptr) return std::nullopt;
  for (const auto& [key, value] : *headers) {
    if (EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool HasHeader(const Headers* headers, std::string_view name) {
  return FindHeader(headers, name).has_value();
}

struct Match {
  std::string_view provider;
  Shape shape;
};

std::optional<Match> MatchByHeaders(const Headers* headers, std::string_view path) {
  if (HasHeader(headers, "anthropic-version") || HasHeader(headers, "x-api-key")) {
    if (auto shape = MessagesShape(path)) return Match{"anthropic", *shape};
  }
  if (HasHeader(headers, "x-goog-api-key")) {
    if (auto shape = GeminiShape(path)) return Match{"gcp.gemini", *shape};
  }
  if (HasHeader(headers, "api-key") && path.find("/openai/") != std::string_view::npos) {
    if (auto shape = OpenAiShape(path)) return Match{"azure.ai.openai", *shape};
  }
  if (HasHeader(headers, "openai-organization") || HasHeader(headers, "openai-project")) {
    if (auto shape = OpenAiShape(path)) return Match{"openai", *shape};
  }
  return std::nullopt;
}

bool IsDeclared(const HostPort& host, const DetectOptions& options) {
  for (const std::string& entry : options.openai_compatible_hosts) {
    const HostPort declared = SplitHost(entry);
    if (declared.host.empty() || declared.host != host.host) continue;
    if (declared.port.empty() || declared.port == host.port) return true;
  }
  return false;
}

// Reads the request body's top-level "model", "stream" and "stream_options.include_usage"
// as the parser goes, without building a document, so a truncated body still yields the
// fields sent before the cut.
class RequestFields final : public json::json_sax_t {
 public:
  std::string model;
  bool stream = false;
  bool include_usage = false;

  bool null() override { return true; }
  bool boolean(bool value) override {
    if (depth_ == 1 && top_key_ == "stream") stream = value;
    if (depth_ == 2 && in_stream_options_ && inner_key_ == "include_usage") {
      include_usage = value;
    }
    return true;
  }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& value) override {
    if (depth_ == 1 && top_key_ == "model" && !model_seen_) {
      model = Cut(value, kMaxModelLength);
      model_seen_ = true;
    }
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 2 && top_key_ == "stream_options" && top_is_object_) {
      in_stream_options_ = true;
      inner_key_ = {};
    }
    if (depth_ == 1) top_is_object_ = true;
    return true;
  }
  bool key(string_t& value) override {
    // Only the keys that matter are kept: a prompt's keys are never copied.
    if (depth_ == 1) top_key_ = Keep(value, kTopKeys);
    if (depth_ == 2 && in_stream_options_) inner_key_ = Keep(value, kInnerKeys);
    return true;
  }
  bool end_object() override {
    if (depth_ == 2) in_stream_options_ = false;
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  static constexpr std::string_view kTopKeys[] = {"model", "stream", "stream_options"};
  static constexpr std::string_view kInnerKeys[] = {"include_usage"};

  template <size_t N>
  static std::string_view Keep(std::string_view key, const std::string_view (&keep)[N]) {
    for (std::string_view k : keep) {
      if (k == key) return k;
    }
    return {};
  }

  int depth_ = 0;
  bool top_is_object_ = false;
  bool in_stream_options_ = false;
  bool model_seen_ = false;
  std::string_view top_key_;
  std::string_view inner_key_;
};

uint32_t ParseRetryCount(std::optional<std::string_view> value) {
  if (!value) return 0;
  const std::string_view text = Trim(*value);
  uint32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return 0;
  return n;
}

}  // namespace

std::optional<Detection> Detect(const RequestView& request, const DetectOptions& options) {
  if (request.method != "POST") return std::nullopt;
  const std::string_view path = PathOf(request.target);
  const HostPort host = SplitHost(request.host);

  std::optional<Match> match;
  if (auto provider = KnownProvider(host.host)) {
    auto shape = ShapeForProvider(*provider, path);
    if (!shape) return std::nullopt;
    match = Match{*provider, *shape};
  }
  if (!match) match = MatchByHeaders(request.headers, path);
  if (!match && IsDeclared(host, options)) {
    if (auto shape = OpenAiShape(path)) match = Match{"openai", *shape};
  }
  if (!match) return std::nullopt;

  Detection d;
  d.provider = std::string(match->provider);
  d.operation = std::string(match->shape.operation);
  d.api = match->shape.api;
  d.retry_count = ParseRetryCount(FindHeader(request.headers, "x-stainless-retry-count"));
  if (d.api == Api::kGenerateContent || d.api == Api::kEmbedContent) {
    d.request_model = Cut(match->shape.model, kMaxModelLength);
    d.stream = match->shape.stream;
    return d;
  }
  RequestFields fields;
  json::sax_parse(request.body, &fields);
  d.request_model = std::move(fields.model);
  d.stream = fields.stream;
  d.include_usage = fields.include_usage;
  return d;
}

}  // namespace sightline::genai
