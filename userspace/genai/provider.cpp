#include "genai/provider.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/text.h"

namespace sightline::genai {
namespace {

using nlohmann::json;

constexpr size_t kMaxErrorTypeLength = 128;
constexpr std::string_view kUntypedError = "_OTHER";

using text::Cut;
using text::EqualsIgnoreCase;
using text::Trim;

// ---------------------------------------------------------------------------------------
// Responses

const json* Member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const json* Object(const json& object, std::string_view key) {
  const json* value = Member(object, key);
  return value != nullptr && value->is_object() ? value : nullptr;
}

const json* Array(const json& object, std::string_view key) {
  const json* value = Member(object, key);
  return value != nullptr && value->is_array() ? value : nullptr;
}

std::string_view String(const json& object, std::string_view key) {
  const json* value = Member(object, key);
  if (value == nullptr || !value->is_string()) return {};
  return value->get_ref<const std::string&>();
}

bool NonEmptyString(const json& object, std::string_view key) {
  return !String(object, key).empty();
}

// A token count: a non-negative integer (an integral float is tolerated).
std::optional<uint64_t> Count(const json* object, std::string_view key) {
  if (object == nullptr) return std::nullopt;
  const json* value = Member(*object, key);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_unsigned()) return value->get<uint64_t>();
  if (value->is_number_integer()) {
    const int64_t n = value->get<int64_t>();
    if (n >= 0) return static_cast<uint64_t>(n);
    return std::nullopt;
  }
  if (value->is_number_float()) {
    const double d = value->get<double>();
    if (std::isfinite(d) && d >= 0 && d < 9.2e18 && d == std::floor(d)) {
      return static_cast<uint64_t>(d);
    }
  }
  return std::nullopt;
}

// Counts come from the network: sums saturate rather than wrap.
uint64_t Add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

std::optional<uint64_t> Sum(std::optional<uint64_t> a, std::optional<uint64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return Add(*a, *b);
}

// What one body or event says.
struct Facts {
  std::string_view model;  // points into the parsed document
  std::optional<detail::RawUsage> usage;
  bool overlay_usage = false;        // Anthropic message_delta: cumulative, fields replace
  std::optional<std::string> error;  // "" for an error without a usable type
  bool content = false;
};

// The type of an error object: "code" when a string, else "type" (unless the generic
// "error"), else "status".
std::string ErrorTypeOf(const json& error) {
  if (std::string_view code = String(error, "code"); !code.empty()) {
    return Cut(code, kMaxErrorTypeLength);
  }
  if (std::string_view type = String(error, "type"); !type.empty() && type != "error") {
    return Cut(type, kMaxErrorTypeLength);
  }
  if (std::string_view status = String(error, "status"); !status.empty()) {
    return Cut(status, kMaxErrorTypeLength);
  }
  return "";
}

// {"error": {...}} (OpenAI and compatibles, Gemini, Anthropic), {"object": "error", ...}
// (Mistral, older vLLM), {"error": "text"} (xAI).
void ReadTopLevelError(const json& j, Facts* facts) {
  if (const json* error = Object(j, "error")) {
    facts->error = ErrorTypeOf(*error);
  } else if (String(j, "object") == "error") {
    facts->error = ErrorTypeOf(j);
  } else if (NonEmptyString(j, "error")) {
    facts->error = "";
  }
}

std::optional<detail::RawUsage> OpenAiUsage(const json* usage, bool responses) {
  if (usage == nullptr) return std::nullopt;
  detail::RawUsage raw;
  const json* in_details =
      Object(*usage, responses ? "input_tokens_details" : "prompt_tokens_details");
  const json* out_details =
      Object(*usage, responses ? "output_tokens_details" : "completion_tokens_details");
  raw.input = Count(usage, responses ? "input_tokens" : "prompt_tokens");
  raw.cache_read = Count(in_details, "cached_tokens");
  if (!raw.cache_read) raw.cache_read = Count(usage, "prompt_cache_hit_tokens");  // DeepSeek
  raw.cache_creation = Count(in_details, "cache_write_tokens");
  raw.output = Count(usage, responses ? "output_tokens" : "completion_tokens");
  raw.reasoning = Count(out_details, "reasoning_tokens");
  // Reasoning is part of output, but xAI's completion_tokens leaves it out; its total
  // then adds up only with reasoning counted on its own.
  if (!responses && raw.input && raw.output && raw.reasoning.value_or(0) > 0 &&
      Count(usage, "total_tokens") == Add(Add(*raw.input, *raw.output), *raw.reasoning)) {
    raw.output = Add(*raw.output, *raw.reasoning);
  }
  if (!raw.Any()) return std::nullopt;
  return raw;
}

bool ChoiceHasContent(const json& choice) {
  if (NonEmptyString(choice, "text")) return true;  // text completions
  const json* delta = Object(choice, "delta");
  if (delta == nullptr) return false;
  for (std::string_view key : {"content", "refusal", "reasoning_content", "reasoning"}) {
    if (NonEmptyString(*delta, key)) return true;
  }
  const json* tool_calls = Array(*delta, "tool_calls");
  return (tool_calls != nullptr && !tool_calls->empty()) || Object(*delta, "function_call");
}

// Chat completions, text completions and embeddings, OpenAI-shaped.
Facts ReadOpenAi(const json& j) {
  Facts facts;
  facts.model = String(j, "model");
  ReadTopLevelError(j, &facts);
  facts.usage = OpenAiUsage(Object(j, "usage"), false);
  if (!facts.usage) {
    if (const json* groq = Object(j, "x_groq"))
      facts.usage = OpenAiUsage(Object(*groq, "usage"), false);
  }
  if (const json* choices = Array(j, "choices")) {
    facts.content = std::any_of(choices->begin(), choices->end(), ChoiceHasContent);
  }
  return facts;
}

Facts ReadResponses(std::string_view event, const json& j) {
  Facts facts;
  std::string_view type = String(j, "type");
  if (type.empty()) type = event;
  // The response object: inside response.* events, or the whole non-streaming body.
  const json* response = Object(j, "response");
  if (response == nullptr && String(j, "object") == "response") response = &j;
  if (response != nullptr) {
    facts.model = String(*response, "model");
    facts.usage = OpenAiUsage(Object(*response, "usage"), true);
    if (const json* error = Object(*response, "error")) facts.error = ErrorTypeOf(*error);
  }
  if (response != &j) ReadTopLevelError(j, &facts);
  if (type == "error" && !facts.error) facts.error = ErrorTypeOf(j);
  if (type == "response.failed" && !facts.error) facts.error = "";
  if (type.ends_with(".delta")) {
    const json* delta = Member(j, "delta");
    facts.content =
        delta == nullptr || !delta->is_string() || !delta->get_ref<const std::string&>().empty();
  }
  return facts;
}

std::optional<detail::RawUsage> AnthropicUsage(const json* usage) {
  if (usage == nullptr) return std::nullopt;
  detail::RawUsage raw;
  raw.input = Count(usage, "input_tokens");  // cache excluded, added in Finish
  raw.cache_creation = Count(usage, "cache_creation_input_tokens");
  raw.cache_read = Count(usage, "cache_read_input_tokens");
  raw.output = Count(usage, "output_tokens");
  raw.reasoning = Count(Object(*usage, "output_tokens_details"), "thinking_tokens");
  if (!raw.Any()) return std::nullopt;
  return raw;
}

Facts ReadMessages(std::string_view event, const json& j) {
  Facts facts;
  std::string_view type = String(j, "type");
  if (type.empty()) type = event;
  if (type == "message") {  // non-streaming body
    facts.model = String(j, "model");
    facts.usage = AnthropicUsage(Object(j, "usage"));
  } else if (type == "message_start") {
    if (const json* message = Object(j, "message")) {
      facts.model = String(*message, "model");
      facts.usage = AnthropicUsage(Object(*message, "usage"));
    }
  } else if (type == "message_delta") {
    facts.usage = AnthropicUsage(Object(j, "usage"));
    facts.overlay_usage = true;
  } else if (type == "content_block_start") {
    if (const json* block = Object(j, "content_block")) {
      facts.content = NonEmptyString(*block, "text") || NonEmptyString(*block, "thinking");
    }
  } else if (type == "content_block_delta") {
    if (const json* delta = Object(j, "delta")) {
      for (std::string_view key : {"text", "partial_json", "thinking"}) {
        facts.content = facts.content || NonEmptyString(*delta, key);
      }
    }
  }
  ReadTopLevelError(j, &facts);
  if (type == "error" && !facts.error) facts.error = "";
  return facts;
}

bool CandidateHasContent(const json& candidate) {
  const json* content = Object(candidate, "content");
  const json* parts = content != nullptr ? Array(*content, "parts") : nullptr;
  if (parts == nullptr) return false;
  return std::any_of(parts->begin(), parts->end(), [](const json& part) {
    return NonEmptyString(part, "text") || Object(part, "functionCall") ||
           Object(part, "inlineData") || Object(part, "executableCode");
  });
}

Facts ReadGemini(const json& j) {
  Facts facts;
  facts.model = String(j, "modelVersion");
  ReadTopLevelError(j, &facts);
  if (const json* meta = Object(j, "usageMetadata")) {
    detail::RawUsage raw;
    const auto thoughts = Count(meta, "thoughtsTokenCount");
    raw.input = Sum(Count(meta, "promptTokenCount"), Count(meta, "toolUsePromptTokenCount"));
    raw.cache_read = Count(meta, "cachedContentTokenCount");
    raw.output = Sum(Count(meta, "candidatesTokenCount"), thoughts);
    raw.reasoning = thoughts;
    if (raw.Any()) facts.usage = raw;
  }
  if (const json* candidates = Array(j, "candidates")) {
    facts.content = std::any_of(candidates->begin(), candidates->end(), CandidateHasContent);
  }
  return facts;
}

Facts Read(Api api, std::string_view event, const json& j) {
  switch (api) {
    case Api::kResponses:
      return ReadResponses(event, j);
    case Api::kMessages:
      return ReadMessages(event, j);
    case Api::kGenerateContent:
    case Api::kEmbedContent:
      return ReadGemini(j);
    case Api::kChatCompletions:
    case Api::kCompletions:
    case Api::kEmbeddings:
      break;
  }
  return ReadOpenAi(j);
}

void Overlay(const detail::RawUsage& from, detail::RawUsage* to) {
  if (from.input) to->input = from.input;
  if (from.cache_read) to->cache_read = from.cache_read;
  if (from.cache_creation) to->cache_creation = from.cache_creation;
  if (from.output) to->output = from.output;
  if (from.reasoning) to->reasoning = from.reasoning;
}

std::optional<double> ParseNonNegative(std::string_view text) {
  text = Trim(text);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

}  // namespace

ResponseReader::ResponseReader(const Detection& detection, int http_status,
                               const Headers& /*response_headers*/)
    : api_(detection.api), http_status_(http_status) {}

void ResponseReader::OnBody(std::string_view json_text) { OnData("", json_text, std::nullopt); }

void ResponseReader::OnEvent(std::string_view event, std::string_view data, uint64_t ts_ns) {
  OnData(event, data, ts_ns);
}

void ResponseReader::OnData(std::string_view event, std::string_view data,
                            std::optional<uint64_t> ts_ns) {
  if (event == "error") error_seen_ = true;
  const std::string_view trimmed = Trim(data);
  if (trimmed.empty() || trimmed == "[DONE]") return;
  const json j = json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !(j.is_object() || j.is_array())) {
    ++parse_errors_;
    return;
  }
  // A Gemini stream without alt=sse is one JSON array of chunks; anything else is one
  // object.
  auto apply = [&](const json& item) {
    if (!item.is_object()) {
      ++parse_errors_;
      return;
    }
    const Facts facts = Read(api_, event, item);
    if (!facts.model.empty()) response_model_ = Cut(facts.model, kMaxModelLength);
    if (facts.usage) {
      if (facts.overlay_usage) {
        Overlay(*facts.usage, &usage_);
      } else {
        usage_ = *facts.usage;
      }
    }
    if (facts.error) {
      error_seen_ = true;
      if (!facts.error->empty()) error_type_ = *facts.error;
    }
    if (facts.content && ts_ns && !first_chunk_ns_) first_chunk_ns_ = *ts_ns;
  };
  if (j.is_array() && (api_ == Api::kGenerateContent || api_ == Api::kEmbedContent)) {
    for (const json& item : j) apply(item);
  } else {
    apply(j);
  }
}

Outcome ResponseReader::Finish() {
  Outcome out;
  out.response_model = response_model_;
  if (usage_.Any()) {
    Usage u;
    u.cache_read = usage_.cache_read.value_or(0);
    u.cache_creation = usage_.cache_creation.value_or(0);
    u.input = usage_.input.value_or(0);
    if (api_ == Api::kMessages) u.input = Add(Add(u.input, u.cache_read), u.cache_creation);
    u.output =
        api_ == Api::kEmbeddings || api_ == Api::kEmbedContent ? 0 : usage_.output.value_or(0);
    u.reasoning = usage_.reasoning.value_or(0);
    out.usage = u;
  }
  if (!error_type_.empty()) {
    out.error_type = error_type_;
  } else if (http_status_ >= 400) {
    out.error_type = std::to_string(http_status_);
  } else if (error_seen_) {
    out.error_type = kUntypedError;
  }
  out.first_chunk_ns = first_chunk_ns_;
  out.parse_error = parse_errors_ > 0;
  return out;
}

std::vector<std::pair<std::string, double>> RateLimitRemaining(const Headers& response_headers) {
  struct Known {
    std::string_view header, kind;
  };
  static constexpr Known kKnown[] = {
      {"x-ratelimit-remaining-requests", "requests"},
      {"x-ratelimit-remaining-tokens", "tokens"},
      {"anthropic-ratelimit-requests-remaining", "requests"},
      {"anthropic-ratelimit-tokens-remaining", "tokens"},
      {"anthropic-ratelimit-input-tokens-remaining", "input_tokens"},
      {"anthropic-ratelimit-output-tokens-remaining", "output_tokens"},
  };
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [name, value] : response_headers) {
    for (const Known& known : kKnown) {
      if (!EqualsIgnoreCase(name, known.header)) continue;
      const bool seen = std::any_of(out.begin(), out.end(),
                                    [&](const auto& entry) { return entry.first == known.kind; });
      const auto number = ParseNonNegative(value);
      if (!seen && number) out.emplace_back(known.kind, *number);
    }
  }
  return out;
}

}  // namespace sightline::genai
