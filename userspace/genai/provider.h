// AI API calls: which provider an HTTP exchange talks to, and what its response says.
//
// Pure functions over already decoded HTTP: the caller de-chunks, decompresses and splits
// SSE streams into events; this layer recognises a request as an AI API call (Detect) and
// reads model, token usage, errors and time to first chunk out of its response
// (ResponseReader). Nothing here keeps a body: a reader holds a few numbers and two short
// strings whatever the size of the exchange. The providers' formats are those of GENAI.md,
// the project's wire reference.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sightline::genai {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names lower-case

struct RequestView {
  std::string_view method;
  std::string_view target;           // origin form "/path?query" (absolute form is accepted too)
  std::string_view host;             // Host header, may include ":port"; "" when absent
  const Headers* headers = nullptr;  // may be null
  // The request body as captured. It may be a prefix only (body_complete false): the
  // body's top-level fields are read up to where it stops, so a "model" sent before a
  // long prompt is still found.
  std::string_view body;
  bool body_complete = true;
};

// The wire format the exchange speaks, which is not always the provider's own: Gemini and
// Anthropic also serve OpenAI-compatible chat completions, and most other providers speak
// nothing else.
enum class Api : uint8_t {
  kChatCompletions,  // .../chat/completions
  kResponses,        // .../responses (OpenAI Responses API)
  kCompletions,      // .../completions (legacy text completions, Mistral FIM)
  kEmbeddings,       // .../embeddings
  kMessages,         // Anthropic .../messages
  kGenerateContent,  // Gemini and Vertex AI ...models/{model}:generateContent|streamGenerateContent
  kEmbedContent,     // Gemini and Vertex AI ...models/{model}:embedContent|batchEmbedContents
};

struct Detection {
  // gen_ai_provider_name: openai, azure.ai.openai, anthropic, gcp.gemini, gcp.vertex_ai,
  // mistral_ai, groq, x_ai, deepseek.
  std::string provider;
  // gen_ai_operation_name: chat (chat completions, responses, messages), generate_content,
  // embeddings, text_completion.
  std::string operation;
  Api api = Api::kChatCompletions;
  // The body's top-level "model", or for Gemini and Vertex AI the model in the URL path;
  // "" when unknown (Azure deployments usually send none). At most kMaxModelLength bytes.
  std::string request_model;
  bool stream = false;         // body "stream": true, or :streamGenerateContent
  bool include_usage = false;  // body "stream_options": {"include_usage": true}
  uint32_t retry_count = 0;    // x-stainless-retry-count (0 when absent or not a number)

  bool operator==(const Detection&) const = default;
};

// Longest model name kept (request or response); longer ones are cut.
inline constexpr size_t kMaxModelLength = 256;

struct DetectOptions {
  // Hosts the user declares OpenAI-compatible (vLLM, Ollama, LiteLLM, a gateway...):
  // "host" matches that host on any port, "host:port" only that port. Case-insensitive.
  std::vector<std::string> openai_compatible_hosts;
};

// Returns nullopt when the request is not an AI API call. Only POST requests count, and
// only at a known path shape (the operation comes from the path's end, so custom base URL
// prefixes such as "/openai/v1" or "/proxy/v1" are fine). The provider is decided, first
// match wins, by:
//  1. the Host: api.openai.com and *.api.openai.com (us., eu.), *.openai.azure.com,
//     *.cognitiveservices.azure.com, api.anthropic.com, generativelanguage.googleapis.com,
//     aiplatform.googleapis.com and *-aiplatform.googleapis.com, api.mistral.ai,
//     api.groq.com, api.x.ai, api.deepseek.com;
//  2. provider-identifying request headers plus the path shape, for any host (custom base
//     URLs, gateways): anthropic-version or x-api-key with .../messages -> anthropic;
//     x-goog-api-key with a Gemini path -> gcp.gemini; api-key with an OpenAI path under
//     "/openai/" -> azure.ai.openai; openai-organization or openai-project with an OpenAI
//     path -> openai;
//  3. a host declared in `options` with an OpenAI path -> "openai" (a known host declared
//     there keeps its own provider, by rule 1).
// OpenAI paths (chat/completions, responses, embeddings, completions) are accepted on
// every known host; .../messages only for Anthropic; Gemini paths only for Gemini and
// Vertex AI.
std::optional<Detection> Detect(const RequestView& request, const DetectOptions& options);

// Token counts normalised once for every provider (GENAI.md, "Usage -> token types"):
// `input` includes cached input (cache_read and cache_creation are parts of it, even for
// Anthropic whose wire input excludes them), `reasoning` is part of `output` (also for
// xAI, whose completion_tokens leaves reasoning out: recognised by total_tokens being
// prompt + completion + reasoning). Embeddings have no output.
struct Usage {
  uint64_t input = 0;
  uint64_t cache_read = 0;
  uint64_t cache_creation = 0;
  uint64_t output = 0;
  uint64_t reasoning = 0;

  bool operator==(const Usage&) const = default;
};

namespace detail {
// Token counters of one response as read so far, each absent until the wire carried it.
// Anthropic's input excludes cache until ResponseReader::Finish normalises it.
struct RawUsage {
  std::optional<uint64_t> input, cache_read, cache_creation, output, reasoning;

  bool Any() const { return input || cache_read || cache_creation || output || reasoning; }
};
}  // namespace detail

struct Outcome {
  // Response "model" (the dated snapshot) or Gemini "modelVersion"; "" when unknown.
  std::string response_model;
  // nullopt when the wire carried no usage (an OpenAI stream without include_usage, a
  // stream cut short, Gemini embeddings): unknown, never zeros.
  std::optional<Usage> usage;
  // The provider's error type when the response carries an error, in the body or inside
  // a 200 stream: the error object's "code" when it is a string (OpenAI's
  // "rate_limit_exceeded", "insufficient_quota": more telling than its type "tokens" or
  // "requests"), else its "type" (Anthropic "overloaded_error", OpenAI
  // "invalid_request_error"), else its "status" (Gemini "RESOURCE_EXHAUSTED"). Without a
  // provider type: the HTTP status as text when it is >= 400 ("502"), else "_OTHER" for
  // an error seen in a 2xx response (an untyped in-stream error, an unreadable Anthropic
  // `event: error`), else "" (success). At most 128 bytes.
  std::string error_type;
  // Streaming only: the ts_ns of the first event that carries content (text, refusal,
  // reasoning or tool call), skipping OpenAI's role-only first chunk, Azure's empty
  // content-filter chunks, Anthropic's message_start, ping and content_block_start
  // without text, and Responses events before the first *.delta.
  std::optional<uint64_t> first_chunk_ns;
  // A body or event was not the expected JSON (each one is skipped; see
  // ResponseReader::parse_errors for the count). An empty body is no parse error.
  bool parse_error = false;
};

// Reads one exchange's response. Feed either the whole decoded body (OnBody) or the SSE
// events in order (OnEvent), then call Finish once. Which one is called decides how the
// response is read, not Detection::stream: a stream request answered by a JSON error body
// goes to OnBody. A Gemini streamGenerateContent without alt=sse answers a JSON array of
// chunks, also read by OnBody.
class ResponseReader {
 public:
  // `response_headers` is accepted for the caller's convenience and not read today.
  ResponseReader(const Detection& detection, int http_status, const Headers& response_headers);

  // Non-streaming: the whole decoded body.
  void OnBody(std::string_view json);
  // Streaming: one SSE event, `event` being its "event:" field ("" when none) and `data`
  // its data lines joined. "[DONE]" and empty data are ignored.
  void OnEvent(std::string_view event, std::string_view data, uint64_t ts_ns);

  Outcome Finish();

  // Bodies or events that did not parse as the expected JSON.
  uint32_t parse_errors() const { return parse_errors_; }

 private:
  void OnData(std::string_view event, std::string_view data, std::optional<uint64_t> ts_ns);

  Api api_;
  int http_status_;
  detail::RawUsage usage_;
  bool error_seen_ = false;
  std::string response_model_;
  std::string error_type_;
  std::optional<uint64_t> first_chunk_ns_;
  uint32_t parse_errors_ = 0;
};

// Rate-limit headroom from response headers, in header order, each kind once (first
// wins): x-ratelimit-remaining-requests|tokens (OpenAI, Azure, Groq and other
// compatibles) and anthropic-ratelimit-requests-remaining|tokens-remaining|
// input-tokens-remaining|output-tokens-remaining. Kinds: "requests", "tokens",
// "input_tokens", "output_tokens". Values that are not non-negative numbers are skipped.
std::vector<std::pair<std::string, double>> RateLimitRemaining(const Headers& response_headers);

}  // namespace sightline::genai
