// The provider layer against recorded-style payloads: request and response bodies shaped
// exactly as the providers' SDK types and API references document them (GENAI.md), SSE
// streams written as they appear on the wire.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "genai/provider.h"

namespace sightline::genai {

// gtest finds these by argument-dependent lookup; static keeps them to this file.
static void PrintTo(const Usage& u, std::ostream* os) {
  *os << "{input " << u.input << ", cache_read " << u.cache_read << ", cache_creation "
      << u.cache_creation << ", output " << u.output << ", reasoning " << u.reasoning << "}";
}

static void PrintTo(const Detection& d, std::ostream* os) {
  *os << "{" << d.provider << ", " << d.operation << ", api " << static_cast<int>(d.api) << ", "
      << d.request_model << ", stream " << d.stream << ", include_usage " << d.include_usage
      << ", retry " << d.retry_count << "}";
}

namespace {

struct Request {
  std::string method = "POST";
  std::string host;
  std::string target;
  Headers headers;
  std::string body;
  bool body_complete = true;
};

std::optional<Detection> DetectRequest(const Request& r, const DetectOptions& options = {}) {
  return Detect(RequestView{r.method, r.target, r.host, &r.headers, r.body, r.body_complete},
                options);
}

// Detects a request that must be an AI call.
Detection MustDetect(const Request& r, const DetectOptions& options = {}) {
  auto d = DetectRequest(r, options);
  EXPECT_TRUE(d.has_value()) << r.host << r.target;
  return d.value_or(Detection{});
}

Detection Expected(std::string provider, std::string operation, Api api, std::string model,
                   bool stream = false, bool include_usage = false, uint32_t retry_count = 0) {
  Detection d;
  d.provider = std::move(provider);
  d.operation = std::move(operation);
  d.api = api;
  d.request_model = std::move(model);
  d.stream = stream;
  d.include_usage = include_usage;
  d.retry_count = retry_count;
  return d;
}

Usage MakeUsage(uint64_t input, uint64_t cache_read, uint64_t cache_creation, uint64_t output,
                uint64_t reasoning) {
  Usage u;
  u.input = input;
  u.cache_read = cache_read;
  u.cache_creation = cache_creation;
  u.output = output;
  u.reasoning = reasoning;
  return u;
}

struct SseEvent {
  std::string event;
  std::string data;
};

// Splits wire SSE text into events as the SSE specification does: "event:" and "data:"
// fields (one optional space after the colon), data lines joined by '\n', comments
// skipped, an event dispatched at each blank line.
std::vector<SseEvent> SplitSse(std::string_view text) {
  std::vector<SseEvent> events;
  SseEvent current;
  bool has_data = false;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_data) events.push_back(current);
      current = SseEvent{};
      has_data = false;
      continue;
    }
    if (line.front() == ':') continue;
    const size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") current.event = std::string(value);
    if (field == "data") {
      if (has_data) current.data += '\n';
      current.data += value;
      has_data = true;
    }
  }
  if (has_data) events.push_back(current);
  return events;
}

Outcome ReadBody(const Detection& d, int status, std::string_view body) {
  ResponseReader reader(d, status, Headers{});
  reader.OnBody(body);
  return reader.Finish();
}

// Event i (from 0) arrives at (i + 1) * 1000 ns.
Outcome ReadStream(const Detection& d, int status, std::string_view sse,
                   size_t* event_count = nullptr) {
  ResponseReader reader(d, status, Headers{{"content-type", "text/event-stream"}});
  const auto events = SplitSse(sse);
  for (size_t i = 0; i < events.size(); ++i) {
    reader.OnEvent(events[i].event, events[i].data, (i + 1) * 1000);
  }
  if (event_count != nullptr) *event_count = events.size();
  return reader.Finish();
}

constexpr uint64_t EventTs(int index) { return (index + 1) * 1000; }

// ----------------------------------------------------------------------------------------
// Requests shaped as the SDKs send them.

// openai-python: keyword arguments in signature order, so "messages" precedes "model".
const Request kOpenAiChatStreamRequest = {
    "POST",
    "api.openai.com",
    "/v1/chat/completions",
    {{"host", "api.openai.com"},
     {"accept", "application/json"},
     {"content-type", "application/json"},
     {"user-agent", "OpenAI/Python 1.99.9"},
     {"x-stainless-lang", "python"},
     {"x-stainless-retry-count", "0"},
     {"authorization", "Bearer sk-test"}},
    R"({"messages":[{"role":"user","content":"Say hello"}],"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}})",
};

const Request kAnthropicRequest = {
    "POST",
    "api.anthropic.com",
    "/v1/messages",
    {{"host", "api.anthropic.com"},
     {"anthropic-version", "2023-06-01"},
     {"x-api-key", "sk-ant-test"},
     {"content-type", "application/json"},
     {"x-stainless-retry-count", "1"}},
    R"({"max_tokens":1024,"messages":[{"role":"user","content":"Hello, Claude"}],"model":"claude-sonnet-4-5","stream":true})",
};

Request Post(std::string host, std::string target, std::string body = "{}", Headers headers = {}) {
  Request r;
  r.host = std::move(host);
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(GenAiDetect, OpenAiChatFromPythonSdk) {
  EXPECT_EQ(MustDetect(kOpenAiChatStreamRequest),
            Expected("openai", "chat", Api::kChatCompletions, "gpt-4o-mini", true, true, 0));
}

TEST(GenAiDetect, AnthropicMessages) {
  EXPECT_EQ(MustDetect(kAnthropicRequest),
            Expected("anthropic", "chat", Api::kMessages, "claude-sonnet-4-5", true, false, 1));
}

struct DetectCase {
  Request request;
  std::optional<Detection> expected;
};

TEST(GenAiDetect, KnownHostsTable) {
  const std::vector<DetectCase> cases = {
      {Post("us.api.openai.com", "/v1/responses",
            R"({"model":"gpt-5","input":"Tell me a joke","stream":true})"),
       Expected("openai", "chat", Api::kResponses, "gpt-5", true)},
      {Post(
           "eu.api.openai.com", "/v1/embeddings",
           R"({"input":"The food was delicious","model":"text-embedding-3-small","encoding_format":"base64"})"),
       Expected("openai", "embeddings", Api::kEmbeddings, "text-embedding-3-small")},
      {Post(
           "API.OpenAI.com:443", "/v1/completions",
           R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"stream":false})"),
       Expected("openai", "text_completion", Api::kCompletions, "gpt-3.5-turbo-instruct")},
      {Post("api.openai.com", "https://api.openai.com/v1/chat/completions/",
            R"({"model":"gpt-4o","messages":[]})"),
       Expected("openai", "chat", Api::kChatCompletions, "gpt-4o")},
      // Gemini: the model is in the path, the body has none.
      {Post("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:generateContent",
            R"({"contents":[{"parts":[{"text":"Explain how AI works"}]}]})"),
       Expected("gcp.gemini", "generate_content", Api::kGenerateContent, "gemini-2.5-flash")},
      {Post("generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            R"({"contents":[{"role":"user","parts":[{"text":"Write a story"}]}]})"),
       Expected("gcp.gemini", "generate_content", Api::kGenerateContent, "gemini-2.5-pro", true)},
      {Post("generativelanguage.googleapis.com", "/v1beta/models/gemini-embedding-001:embedContent",
            R"({"content":{"parts":[{"text":"What is the meaning of life?"}]}})"),
       Expected("gcp.gemini", "embeddings", Api::kEmbedContent, "gemini-embedding-001")},
      // Gemini's OpenAI-compatible endpoint.
      {Post("generativelanguage.googleapis.com", "/v1beta/openai/chat/completions",
            R"({"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}]})"),
       Expected("gcp.gemini", "chat", Api::kChatCompletions, "gemini-2.5-flash")},
      {Post("us-central1-aiplatform.googleapis.com",
            "/v1/projects/my-project/locations/us-central1/publishers/google/models/"
            "gemini-2.5-pro:streamGenerateContent?alt=sse",
            R"({"contents":[{"role":"user","parts":[{"text":"Hi"}]}]})"),
       Expected("gcp.vertex_ai", "generate_content", Api::kGenerateContent, "gemini-2.5-pro",
                true)},
      {Post("aiplatform.googleapis.com",
            "/v1/projects/my-project/locations/global/publishers/google/models/"
            "gemini-2.5-flash:generateContent"),
       Expected("gcp.vertex_ai", "generate_content", Api::kGenerateContent, "gemini-2.5-flash")},
      // Azure: a deployment name in the URL, usually no model in the body.
      {Post(
           "my-resource.openai.azure.com",
           "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
           R"({"messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}})",
           {{"api-key", "azure-key"}}),
       Expected("azure.ai.openai", "chat", Api::kChatCompletions, "", true, true)},
      {Post("my-resource.cognitiveservices.azure.com", "/openai/v1/responses",
            R"({"model":"gpt-4.1-mini","input":"Hi"})"),
       Expected("azure.ai.openai", "chat", Api::kResponses, "gpt-4.1-mini")},
      {Post("my-resource.openai.azure.com",
            "/openai/deployments/embed-small/embeddings?api-version=2024-10-21",
            R"({"input":["a","b"]})"),
       Expected("azure.ai.openai", "embeddings", Api::kEmbeddings, "")},
      // OpenAI-compatible providers.
      {Post(
           "api.mistral.ai", "/v1/chat/completions",
           R"({"model":"mistral-large-latest","messages":[{"role":"user","content":"Hi"}],"stream":false})"),
       Expected("mistral_ai", "chat", Api::kChatCompletions, "mistral-large-latest")},
      {Post("api.mistral.ai", "/v1/fim/completions",
            R"({"model":"codestral-latest","prompt":"def f(","suffix":"return a"})"),
       Expected("mistral_ai", "text_completion", Api::kCompletions, "codestral-latest")},
      {Post(
           "api.groq.com", "/openai/v1/chat/completions",
           R"({"messages":[{"role":"user","content":"Hi"}],"model":"llama-3.3-70b-versatile","stream":true})"),
       Expected("groq", "chat", Api::kChatCompletions, "llama-3.3-70b-versatile", true)},
      {Post("api.x.ai", "/v1/chat/completions",
            R"({"model":"grok-4","messages":[{"role":"user","content":"Hi"}]})"),
       Expected("x_ai", "chat", Api::kChatCompletions, "grok-4")},
      {Post(
           "api.deepseek.com", "/chat/completions",
           R"({"model":"deepseek-reasoner","messages":[{"role":"user","content":"Hi"}],"stream":true})"),
       Expected("deepseek", "chat", Api::kChatCompletions, "deepseek-reasoner", true)},
      // Anthropic's OpenAI SDK compatibility endpoint.
      {Post("api.anthropic.com", "/v1/chat/completions",
            R"({"model":"claude-haiku-4-5","messages":[]})"),
       Expected("anthropic", "chat", Api::kChatCompletions, "claude-haiku-4-5")},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DetectRequest(c.request), c.expected) << c.request.host << c.request.target;
  }
}

TEST(GenAiDetect, ProviderHeadersBehindCustomBaseUrls) {
  const std::vector<DetectCase> cases = {
      {Post("llm-gateway.corp.example:8443", "/anthropic/v1/messages",
            R"({"model":"claude-opus-4-1","max_tokens":10,"messages":[]})",
            {{"anthropic-version", "2023-06-01"}, {"authorization", "Bearer t"}}),
       Expected("anthropic", "chat", Api::kMessages, "claude-opus-4-1")},
      {Post("10.0.0.5:8080", "/v1/messages", R"({"model":"claude-haiku-4-5","max_tokens":10})",
            {{"x-api-key", "sk-ant-test"}}),
       Expected("anthropic", "chat", Api::kMessages, "claude-haiku-4-5")},
      {Post("gw.example", "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            R"({"contents":[]})", {{"x-goog-api-key", "AIza-test"}}),
       Expected("gcp.gemini", "generate_content", Api::kGenerateContent, "gemini-2.5-flash", true)},
      {Post("apim.contoso.com",
            "/openai/deployments/chat-prod/chat/completions?api-version=2025-01-01-preview",
            R"({"messages":[]})", {{"api-key", "k"}}),
       Expected("azure.ai.openai", "chat", Api::kChatCompletions, "")},
      {Post("proxy.internal", "/v1/chat/completions", R"({"model":"gpt-4.1","messages":[]})",
            {{"openai-organization", "org-123"}}),
       Expected("openai", "chat", Api::kChatCompletions, "gpt-4.1")},
      // Provider headers on a path that is not theirs.
      {Post("gw.example", "/v1/chat/completions", R"({"model":"x"})",
            {{"x-goog-api-key", "AIza-test"}}),
       std::nullopt},
      {Post("gw.example", "/v1/chat/completions", R"({"model":"x"})", {{"api-key", "k"}}),
       std::nullopt},
      {Post("gw.example", "/v1/chat/completions", R"({"model":"x"})",
            {{"anthropic-version", "2023-06-01"}}),
       std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DetectRequest(c.request), c.expected) << c.request.host << c.request.target;
  }
}

TEST(GenAiDetect, DeclaredOpenAiCompatibleHosts) {
  DetectOptions options;
  options.openai_compatible_hosts = {"localhost:8000", "VLLM.internal"};
  const std::string vllm_body =
      R"({"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"Hi"}],"stream":true})";
  const std::vector<DetectCase> cases = {
      {Post("localhost:8000", "/v1/chat/completions", vllm_body),
       Expected("openai", "chat", Api::kChatCompletions, "meta-llama/Llama-3.1-8B-Instruct", true)},
      {Post("vllm.internal:9000", "/v1/embeddings", R"({"model":"BAAI/bge-m3","input":"hello"})"),
       Expected("openai", "embeddings", Api::kEmbeddings, "BAAI/bge-m3")},
      {Post("vllm.internal.", "/v1/completions", R"({"model":"m","prompt":"p"})"),
       Expected("openai", "text_completion", Api::kCompletions, "m")},
      {Post("localhost:8000", "/v1/responses", R"({"model":"gpt-oss-20b","input":"Hi"})"),
       Expected("openai", "chat", Api::kResponses, "gpt-oss-20b")},
      // Another port, no port, another host: not declared.
      {Post("localhost:8001", "/v1/chat/completions", vllm_body), std::nullopt},
      {Post("localhost", "/v1/chat/completions", vllm_body), std::nullopt},
      {Post("vllm.internal.example", "/v1/chat/completions", vllm_body), std::nullopt},
      // Declared hosts get OpenAI paths only.
      {Post("localhost:8000", "/v1/messages", R"({"model":"m"})"), std::nullopt},
      {Post("localhost:8000", "/v1beta/models/m:generateContent"), std::nullopt},
      {Post("localhost:8000", "/v1/models"), std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DetectRequest(c.request, options), c.expected) << c.request.host << c.request.target;
  }
}

TEST(GenAiDetect, NotAiCalls) {
  Request get_root = Post("api.openai.com", "/");
  get_root.method = "GET";
  get_root.body = "";
  Request get_models = Post("api.openai.com", "/v1/models");
  get_models.method = "GET";
  Request get_response = Post("api.openai.com", "/v1/responses/resp_123");
  get_response.method = "GET";
  Request get_chat = kOpenAiChatStreamRequest;
  get_chat.method = "GET";
  const std::vector<Request> requests = {
      get_root,
      get_models,
      get_response,
      get_chat,
      // A chat-completions-shaped POST to an undeclared host without provider headers.
      Post("example.com", "/v1/chat/completions", kOpenAiChatStreamRequest.body,
           {{"authorization", "Bearer x"}, {"x-stainless-retry-count", "0"}}),
      Post("", "/v1/chat/completions", kOpenAiChatStreamRequest.body),
      // Known hosts, other endpoints.
      Post("api.openai.com", "/v1/threads/thread_abc/messages", R"({"role":"user"})"),
      Post("api.openai.com", "/v1/responses/resp_123/cancel"),
      Post("api.openai.com", "/v1/files"),
      Post("api.anthropic.com", "/v1/messages/count_tokens", R"({"model":"claude-sonnet-4-5"})",
           {{"anthropic-version", "2023-06-01"}}),
      Post("api.anthropic.com", "/v1/messages/batches", "{}",
           {{"anthropic-version", "2023-06-01"}}),
      Post("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:countTokens"),
      Post("generativelanguage.googleapis.com", "/v1beta/cachedContents"),
      // Look-alike hosts.
      Post("api.openai.com.evil.example", "/v1/chat/completions", R"({"model":"gpt-4o"})"),
      Post("notapi.openai.com", "/v1/chat/completions", R"({"model":"gpt-4o"})"),
      Post("openai.azure.com", "/openai/deployments/x/chat/completions", R"({})"),
  };
  for (const auto& r : requests) {
    EXPECT_EQ(DetectRequest(r), std::nullopt) << r.method << " " << r.host << r.target;
  }
}

TEST(GenAiDetect, RetryCount) {
  const std::vector<std::pair<std::optional<std::string>, uint32_t>> cases = {
      {std::nullopt, 0}, {"0", 0},  {"2", 2}, {" 1 ", 1},         {"abc", 0},
      {"-1", 0},         {"2x", 0}, {"", 0},  {"99999999999", 0},
  };
  for (const auto& [value, expected] : cases) {
    Request r = Post("api.openai.com", "/v1/chat/completions", R"({"model":"gpt-4o"})");
    if (value) r.headers.emplace_back("x-stainless-retry-count", *value);
    EXPECT_EQ(MustDetect(r).retry_count, expected) << value.value_or("(absent)");
  }
  EXPECT_EQ(Detect(RequestView{"POST", "/v1/chat/completions", "api.openai.com", nullptr,
                               R"({"model":"gpt-4o"})", true},
                   DetectOptions{}),
            Expected("openai", "chat", Api::kChatCompletions, "gpt-4o"));
}

TEST(GenAiDetect, RequestBodyFields) {
  struct BodyCase {
    std::string body;
    bool complete;
    std::string model;
    bool stream;
    bool include_usage;
  };
  const std::string long_prompt(5000, 'a');
  const std::vector<BodyCase> cases = {
      // Cut inside a long prompt: what came before is kept (Node SDKs send "model" first).
      {R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":")" + long_prompt,
       false, "gpt-4o", true, false},
      // Python SDKs send "messages" first: a cut before "model" loses it.
      {R"({"messages":[{"role":"user","content":")" + long_prompt, false, "", false, false},
      // Only the top level counts.
      {R"({"messages":[{"role":"user","content":"x","model":"fake","stream":true}],"metadata":{"model":"nested"},"model":"gpt-4o-mini","stream":false})",
       true, "gpt-4o-mini", false, false},
      {R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}})", true,
       "gpt-4o", true, false},
      {R"({"stream_options":{"nested":{"include_usage":true}},"model":"m"})", true, "m", false,
       false},
      {R"({"stream":"yes","model":42,"stream_options":true})", true, "", false, false},
      {R"(["model","gpt-4o"])", true, "", false, false},
      {"model=gpt-4o&stream=true", true, "", false, false},
      {"", true, "", false, false},
      {R"({"model":"gpt-4o"} trailing)", true, "gpt-4o", false, false},
      {R"({"model":")" + std::string(1000, 'm') + R"("})", true, std::string(kMaxModelLength, 'm'),
       false, false},
  };
  for (const auto& c : cases) {
    Request r = Post("api.openai.com", "/v1/chat/completions", c.body);
    r.body_complete = c.complete;
    const Detection d = MustDetect(r);
    EXPECT_EQ(d.request_model, c.model) << c.body.substr(0, 120);
    EXPECT_EQ(d.stream, c.stream) << c.body.substr(0, 120);
    EXPECT_EQ(d.include_usage, c.include_usage) << c.body.substr(0, 120);
  }
}

TEST(GenAiDetect, HostileRequestBodiesDoNotCrash) {
  const std::vector<std::string> bodies = {
      std::string(200000, '['),
      std::string(200000, '{'),
      "{\"model\":\"\xff\xfe\"}",
      std::string("{\"model\":\"a\0b\"}", 15),
      R"({"model":"gpt-4o","model":"second"})",
  };
  for (const auto& body : bodies) {
    const Detection d = MustDetect(Post("api.openai.com", "/v1/chat/completions", body));
    EXPECT_EQ(d.provider, "openai");
  }
  EXPECT_EQ(MustDetect(Post("api.openai.com", "/v1/chat/completions",
                            R"({"model":"gpt-4o","model":"second"})"))
                .request_model,
            "gpt-4o");
}

// ----------------------------------------------------------------------------------------
// OpenAI

Detection OpenAiChat(bool stream = false, bool include_usage = false) {
  return Expected("openai", "chat", Api::kChatCompletions, "gpt-4o", stream, include_usage);
}

TEST(GenAiOpenAi, ChatCompletionNonStreaming) {
  // ChatCompletion, with reasoning and cached prompt tokens.
  const Outcome o = ReadBody(OpenAiChat(), 200, R"({
  "id": "chatcmpl-CGZ2rDxwuOxlMvT5bJ6xV0oQK0L4F",
  "object": "chat.completion",
  "created": 1757940000,
  "model": "o3-2025-04-16",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Paris.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 1117,
    "completion_tokens": 846,
    "total_tokens": 1963,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
      "reasoning_tokens": 768,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": null
})");
  EXPECT_EQ(o.response_model, "o3-2025-04-16");
  EXPECT_EQ(o.usage, MakeUsage(1117, 1024, 0, 846, 768));
  EXPECT_EQ(o.error_type, "");
  EXPECT_EQ(o.first_chunk_ns, std::nullopt);
  EXPECT_FALSE(o.parse_error);
}

// ChatCompletionChunk stream with stream_options.include_usage: every chunk carries
// "usage": null, then one last chunk with "choices": [] carries it.
constexpr std::string_view kOpenAiStreamWithUsage =
    R"(data: {"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1757940001,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"e4S7"}

data: {"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1757940001,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a1"}

data: {"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1757940001,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Xw9Q"}

data: {"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1757940001,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"Rk"}

data: {"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1757940001,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":3,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"hM2"}

data: [DONE]

)";

TEST(GenAiOpenAi, ChatStreamWithIncludeUsage) {
  size_t events = 0;
  const Outcome o = ReadStream(OpenAiChat(true, true), 200, kOpenAiStreamWithUsage, &events);
  EXPECT_EQ(events, 6u);
  EXPECT_EQ(o.response_model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(o.usage, MakeUsage(13, 0, 0, 3, 0));
  EXPECT_EQ(o.first_chunk_ns, EventTs(1));  // "Hello", not the role-only chunk
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiOpenAi, ChatStreamWithoutIncludeUsageHasNoUsage) {
  const Outcome o = ReadStream(
      OpenAiChat(true, false), 200,
      R"(data: {"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1757940002,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f33640a400","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1757940002,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f33640a400","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1757940002,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f33640a400","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

)");
  EXPECT_EQ(o.response_model, "gpt-4o-2024-08-06");
  EXPECT_EQ(o.usage, std::nullopt);
  EXPECT_EQ(o.first_chunk_ns, EventTs(1));
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiOpenAi, ChatStreamToolCallIsFirstContent) {
  // The first chunk of a tool call carries the role and the function name.
  const Outcome o = ReadStream(
      OpenAiChat(true), 200,
      R"(data: {"id":"chatcmpl-C3","object":"chat.completion.chunk","created":1757940003,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-C3","object":"chat.completion.chunk","created":1757940003,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-C3","object":"chat.completion.chunk","created":1757940003,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}

data: [DONE]
)");
  EXPECT_EQ(o.first_chunk_ns, EventTs(0));
  EXPECT_EQ(o.usage, std::nullopt);
  EXPECT_EQ(o.response_model, "gpt-4.1-2025-04-14");
}

Detection OpenAiResponses(bool stream) {
  return Expected("openai", "chat", Api::kResponses, "gpt-5", stream);
}

TEST(GenAiOpenAi, ResponsesStream) {
  size_t events = 0;
  const Outcome o = ReadStream(OpenAiResponses(true), 200, R"(event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_68c6","object":"response","created_at":1757940010,"status":"in_progress","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-5-2025-08-07","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"medium","summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

event: response.in_progress
data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_68c6","object":"response","created_at":1757940010,"status":"in_progress","error":null,"model":"gpt-5-2025-08-07","output":[],"usage":null}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"rs_68c6","type":"reasoning","summary":[]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":3,"output_index":0,"item":{"id":"rs_68c6","type":"reasoning","summary":[]}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":4,"output_index":1,"item":{"id":"msg_68c6","type":"message","status":"in_progress","content":[],"role":"assistant"}}

event: response.content_part.added
data: {"type":"response.content_part.added","sequence_number":5,"item_id":"msg_68c6","output_index":1,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":6,"item_id":"msg_68c6","output_index":1,"content_index":0,"delta":"Why","logprobs":[],"obfuscation":"x9"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":7,"item_id":"msg_68c6","output_index":1,"content_index":0,"delta":" did","logprobs":[],"obfuscation":"Qe"}

event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":8,"item_id":"msg_68c6","output_index":1,"content_index":0,"text":"Why did","logprobs":[]}

event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_68c6","object":"response","created_at":1757940010,"status":"completed","error":null,"incomplete_details":null,"model":"gpt-5-2025-08-07","output":[{"id":"rs_68c6","type":"reasoning","summary":[]},{"id":"msg_68c6","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Why did"}],"role":"assistant"}],"usage":{"input_tokens":1200,"input_tokens_details":{"cached_tokens":1024},"output_tokens":320,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":1520}}}

)",
                               &events);
  EXPECT_EQ(events, 10u);
  EXPECT_EQ(o.response_model, "gpt-5-2025-08-07");
  EXPECT_EQ(o.usage, MakeUsage(1200, 1024, 0, 320, 256));
  EXPECT_EQ(o.first_chunk_ns, EventTs(6));  // the first response.output_text.delta
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiOpenAi, ResponsesNonStreamingAndIncomplete) {
  const Outcome body = ReadBody(OpenAiResponses(false), 200, R"({
  "id": "resp_67cc",
  "object": "response",
  "created_at": 1741386163,
  "status": "completed",
  "error": null,
  "incomplete_details": null,
  "model": "gpt-4.1-2025-04-14",
  "output": [{"type": "message", "id": "msg_67cc", "status": "completed", "role": "assistant",
              "content": [{"type": "output_text", "text": "Silent circuits hum.", "annotations": []}]}],
  "usage": {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 123
  }
})");
  EXPECT_EQ(body.response_model, "gpt-4.1-2025-04-14");
  EXPECT_EQ(body.usage, MakeUsage(36, 0, 0, 87, 0));
  EXPECT_EQ(body.error_type, "");

  // Cut by max_output_tokens: usage in response.incomplete, and no error.
  const Outcome incomplete =
      ReadStream(OpenAiResponses(true), 200, R"(event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Once"}

event: response.incomplete
data: {"type":"response.incomplete","sequence_number":5,"response":{"id":"resp_1","object":"response","status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"},"model":"gpt-5-mini-2025-08-07","output":[],"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":0},"output_tokens":16,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":36}}}

)");
  EXPECT_EQ(incomplete.response_model, "gpt-5-mini-2025-08-07");
  EXPECT_EQ(incomplete.usage, MakeUsage(20, 0, 0, 16, 12));
  EXPECT_EQ(incomplete.first_chunk_ns, EventTs(0));
  EXPECT_EQ(incomplete.error_type, "");
}

TEST(GenAiOpenAi, Embeddings) {
  const Detection d = Expected("openai", "embeddings", Api::kEmbeddings, "text-embedding-3-small");
  const Outcome o = ReadBody(d, 200, R"({
  "object": "list",
  "data": [
    {"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, -0.0028842222]}
  ],
  "model": "text-embedding-3-small",
  "usage": {"prompt_tokens": 8, "total_tokens": 8}
})");
  EXPECT_EQ(o.response_model, "text-embedding-3-small");
  EXPECT_EQ(o.usage, MakeUsage(8, 0, 0, 0, 0));
  EXPECT_EQ(o.error_type, "");
}

TEST(GenAiOpenAi, TextCompletion) {
  const Detection d =
      Expected("openai", "text_completion", Api::kCompletions, "gpt-3.5-turbo-instruct");
  const Outcome o = ReadBody(d, 200, R"({
  "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
  "object": "text_completion",
  "created": 1589478378,
  "model": "gpt-3.5-turbo-instruct",
  "system_fingerprint": "fp_44709d6fcb",
  "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": null,
               "finish_reason": "length"}],
  "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
})");
  EXPECT_EQ(o.usage, MakeUsage(5, 0, 0, 7, 0));
  EXPECT_EQ(o.response_model, "gpt-3.5-turbo-instruct");

  const Outcome s = ReadStream(
      Expected("openai", "text_completion", Api::kCompletions, "m", true), 200,
      R"(data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}

data: {"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":"\n\n","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}

data: [DONE]

)");
  EXPECT_EQ(s.first_chunk_ns, EventTs(1));
  EXPECT_EQ(s.usage, std::nullopt);
}

// ----------------------------------------------------------------------------------------
// Anthropic

Detection AnthropicDetection(bool stream) {
  return Expected("anthropic", "chat", Api::kMessages, "claude-sonnet-4-5", stream);
}

TEST(GenAiAnthropic, MessageNonStreamingWithCache) {
  const Outcome o = ReadBody(AnthropicDetection(false), 200, R"({
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [{"type": "text", "text": "Hello!"}],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {
    "input_tokens": 12,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 6,
    "service_tier": "standard"
  }
})");
  EXPECT_EQ(o.response_model, "claude-sonnet-4-5-20250929");
  // input = 12 uncached + 1500 written + 3000 read.
  EXPECT_EQ(o.usage, MakeUsage(4512, 3000, 1500, 6, 0));
  EXPECT_EQ(o.error_type, "");
  EXPECT_EQ(o.first_chunk_ns, std::nullopt);
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiAnthropic, MessageStreamWithCache) {
  size_t events = 0;
  const Outcome o = ReadStream(AnthropicDetection(true), 200, R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":2048,"cache_read_input_tokens":4096,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}

)",
                               &events);
  EXPECT_EQ(events, 8u);
  EXPECT_EQ(o.response_model, "claude-sonnet-4-5-20250929");
  // Start usage overlaid by the final delta: 25 + 2048 + 4096 input, 15 output.
  EXPECT_EQ(o.usage, MakeUsage(6169, 4096, 2048, 15, 0));
  EXPECT_EQ(o.first_chunk_ns, EventTs(3));
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiAnthropic, ThinkingStreamWithCumulativeDeltas) {
  // Newer API versions repeat input and cache counts in message_delta; the last delta wins.
  const Outcome o = ReadStream(AnthropicDetection(true), 200, R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":50,"cache_creation_input_tokens":0,"cache_read_input_tokens":1000,"output_tokens":3}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me work through this."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"27 * 453 = 12231"}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":90}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":50,"cache_creation_input_tokens":null,"cache_read_input_tokens":1000,"output_tokens":180,"output_tokens_details":{"thinking_tokens":120}}}

event: message_stop
data: {"type":"message_stop"}

)");
  EXPECT_EQ(o.response_model, "claude-opus-4-1-20250805");
  EXPECT_EQ(o.usage, MakeUsage(1050, 1000, 0, 180, 120));
  EXPECT_EQ(o.first_chunk_ns, EventTs(2));  // the first thinking_delta
}

TEST(GenAiAnthropic, ToolUseStreamStartsAtFirstInputDelta) {
  const Outcome o = ReadStream(AnthropicDetection(true), 200, R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":400,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San Fra"}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

)");
  EXPECT_EQ(o.first_chunk_ns, EventTs(3));
  EXPECT_EQ(o.usage, MakeUsage(400, 0, 0, 89, 0));
}

// ----------------------------------------------------------------------------------------
// Gemini and Vertex AI

Detection GeminiDetection(bool stream, std::string provider = "gcp.gemini") {
  return Expected(std::move(provider), "generate_content", Api::kGenerateContent,
                  "gemini-2.5-flash", stream);
}

TEST(GenAiGemini, GenerateContent) {
  const Outcome o = ReadBody(GeminiDetection(false), 200, R"({
  "candidates": [
    {
      "content": {"parts": [{"text": "AI learns patterns from data."}], "role": "model"},
      "finishReason": "STOP",
      "index": 0
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 8,
    "candidatesTokenCount": 12,
    "totalTokenCount": 45,
    "cachedContentTokenCount": 4,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    "thoughtsTokenCount": 25
  },
  "modelVersion": "gemini-2.5-flash",
  "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"
})");
  EXPECT_EQ(o.response_model, "gemini-2.5-flash");
  // output = candidates + thoughts.
  EXPECT_EQ(o.usage, MakeUsage(8, 4, 0, 37, 25));
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

// streamGenerateContent?alt=sse: one GenerateContentResponse per data line, no [DONE].
constexpr std::string_view kGeminiSse =
    R"(data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"totalTokenCount": 120,"toolUsePromptTokenCount": 30},"modelVersion": "gemini-2.5-flash","responseId": "r1"}

data: {"candidates": [{"content": {"parts": [{"text": "The sky"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 2,"totalTokenCount": 216,"toolUsePromptTokenCount": 30,"thoughtsTokenCount": 64},"modelVersion": "gemini-2.5-flash","responseId": "r1"}

data: {"candidates": [{"content": {"parts": [{"text": " is blue."}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 8,"totalTokenCount": 222,"toolUsePromptTokenCount": 30,"thoughtsTokenCount": 64,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 120}]},"modelVersion": "gemini-2.5-flash","responseId": "r1"}

data: {"candidates": [{"content": {"role": "model"},"index": 0}],"usageMetadata": {},"modelVersion": "gemini-2.5-flash","responseId": "r1"}

)";

TEST(GenAiGemini, StreamGenerateContentSse) {
  size_t events = 0;
  const Outcome o = ReadStream(GeminiDetection(true), 200, kGeminiSse, &events);
  EXPECT_EQ(events, 4u);
  EXPECT_EQ(o.response_model, "gemini-2.5-flash");
  // The last non-empty usageMetadata: input = 120 + 30 tool-use prompt, output = 8 + 64.
  EXPECT_EQ(o.usage, MakeUsage(150, 0, 0, 72, 64));
  EXPECT_EQ(o.first_chunk_ns, EventTs(1));
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiGemini, StreamWithoutAltSseIsOneJsonArray) {
  std::string array = "[";
  for (const auto& e : SplitSse(kGeminiSse)) {
    if (array.size() > 1) array += ",\r\n";
    array += e.data;
  }
  array += "]";
  const Outcome o = ReadBody(GeminiDetection(true), 200, array);
  EXPECT_EQ(o.response_model, "gemini-2.5-flash");
  EXPECT_EQ(o.usage, MakeUsage(150, 0, 0, 72, 64));
  EXPECT_EQ(o.first_chunk_ns, std::nullopt);
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiGemini, VertexAiFunctionCall) {
  const Outcome o = ReadStream(
      GeminiDetection(true, "gcp.vertex_ai"), 200,
      R"(data: {"candidates": [{"content": {"role": "model","parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}}}]},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 31,"candidatesTokenCount": 6,"totalTokenCount": 37,"trafficType": "ON_DEMAND","promptTokensDetails": [{"modality": "TEXT","tokenCount": 31}],"candidatesTokensDetails": [{"modality": "TEXT","tokenCount": 6}]},"modelVersion": "gemini-2.5-flash","createTime": "2025-09-15T10:00:00.000000Z","responseId": "r2"}

)");
  EXPECT_EQ(o.first_chunk_ns, EventTs(0));
  EXPECT_EQ(o.usage, MakeUsage(31, 0, 0, 6, 0));
  EXPECT_EQ(o.response_model, "gemini-2.5-flash");
}

TEST(GenAiGemini, EmbedContentCarriesNoUsage) {
  const Detection d =
      Expected("gcp.gemini", "embeddings", Api::kEmbedContent, "gemini-embedding-001");
  const Outcome o = ReadBody(d, 200, R"({"embedding": {"values": [-0.0223, 0.0105, 0.0231]}})");
  EXPECT_EQ(o.usage, std::nullopt);
  EXPECT_EQ(o.response_model, "");
  EXPECT_EQ(o.error_type, "");
  EXPECT_FALSE(o.parse_error);
}

// ----------------------------------------------------------------------------------------
// Azure OpenAI and OpenAI-compatible providers

TEST(GenAiAzure, StreamSkipsContentFilterChunks) {
  const Request request = Post(
      "my-resource.openai.azure.com",
      "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
      R"({"messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}})",
      {{"api-key", "k"}});
  const Detection d = MustDetect(request);
  EXPECT_EQ(d.request_model, "");
  const Outcome o = ReadStream(
      d, 200,
      R"(data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]}

data: {"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1757940020,"id":"chatcmpl-AZ1","model":"gpt-4o-2024-11-20","obfuscation":"q","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":"Hello"},"finish_reason":null,"index":0,"logprobs":null}],"created":1757940020,"id":"chatcmpl-AZ1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1757940020,"id":"chatcmpl-AZ1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":null}

data: {"choices":[],"created":1757940020,"id":"chatcmpl-AZ1","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","system_fingerprint":"fp_ee1d74bde0","usage":{"completion_tokens":9,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":18,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},"total_tokens":27}}

data: [DONE]

)");
  EXPECT_EQ(o.response_model, "gpt-4o-2024-11-20");
  EXPECT_EQ(o.usage, MakeUsage(18, 0, 0, 9, 0));
  EXPECT_EQ(o.first_chunk_ns, EventTs(2));
  EXPECT_EQ(o.error_type, "");
}

TEST(GenAiCompatible, VllmOnDeclaredHost) {
  DetectOptions options;
  options.openai_compatible_hosts = {"localhost:8000"};
  const Detection d = MustDetect(
      Post(
          "localhost:8000", "/v1/chat/completions",
          R"({"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"Hi"}]})"),
      options);
  EXPECT_EQ(d,
            Expected("openai", "chat", Api::kChatCompletions, "meta-llama/Llama-3.1-8B-Instruct"));
  const Outcome o = ReadBody(
      d, 200,
      R"({"id":"chatcmpl-8c4e0a3e","object":"chat.completion","created":1757940030,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":null,"content":"Hello! How can I help?","tool_calls":[]},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"usage":{"prompt_tokens":20,"total_tokens":32,"completion_tokens":12,"prompt_tokens_details":null},"prompt_logprobs":null,"kv_transfer_params":null})");
  EXPECT_EQ(o.response_model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(o.usage, MakeUsage(20, 0, 0, 12, 0));
  EXPECT_EQ(o.error_type, "");
}

TEST(GenAiCompatible, Mistral) {
  const Detection d = MustDetect(
      Post("api.mistral.ai", "/v1/chat/completions", R"({"model":"mistral-small-latest"})"));
  const Outcome o = ReadBody(
      d, 200,
      R"({"id":"cf79f7daaee244b1a0ae5c7b1444424a","object":"chat.completion","model":"mistral-small-latest","usage":{"prompt_tokens":24,"completion_tokens":27,"total_tokens":51},"created":1757940040,"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","tool_calls":null,"content":"Bonjour !"}}]})");
  EXPECT_EQ(d.provider, "mistral_ai");
  EXPECT_EQ(o.response_model, "mistral-small-latest");
  EXPECT_EQ(o.usage, MakeUsage(24, 0, 0, 27, 0));
}

TEST(GenAiCompatible, GroqStreamUsageInXGroq) {
  const Detection d = MustDetect(Post("api.groq.com", "/openai/v1/chat/completions",
                                      R"({"model":"llama-3.3-70b-versatile","stream":true})"));
  EXPECT_EQ(d.provider, "groq");
  const Outcome o = ReadStream(
      d, 200,
      R"(data: {"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1757940050,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_3f3b593e33","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":"req_01k5"}}

data: {"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1757940050,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_3f3b593e33","choices":[{"index":0,"delta":{"content":"Fast"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1757940050,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_3f3b593e33","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_01k5","usage":{"queue_time":0.021,"prompt_tokens":40,"prompt_time":0.0021,"completion_tokens":10,"completion_time":0.028,"total_tokens":50,"total_time":0.0301}}}

data: [DONE]

)");
  EXPECT_EQ(o.usage, MakeUsage(40, 0, 0, 10, 0));
  EXPECT_EQ(o.first_chunk_ns, EventTs(1));
  EXPECT_EQ(o.response_model, "llama-3.3-70b-versatile");
}

TEST(GenAiCompatible, XaiReasoningAddedToOutput) {
  const Detection d =
      MustDetect(Post("api.x.ai", "/v1/chat/completions", R"({"model":"grok-3-mini"})"));
  EXPECT_EQ(d.provider, "x_ai");
  // xAI's completion_tokens excludes reasoning: 32 + 9 + 94 = 135 total.
  const Outcome o = ReadBody(
      d, 200,
      R"({"id":"a3d1008e","object":"chat.completion","created":1757940060,"model":"grok-3-mini","choices":[{"index":0,"message":{"role":"assistant","content":"101 * 3 = 303","reasoning_content":"First, 100 * 3...","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":32,"completion_tokens":9,"total_tokens":135,"prompt_tokens_details":{"text_tokens":32,"audio_tokens":0,"image_tokens":0,"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":94,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"num_sources_used":0},"system_fingerprint":"fp_6ca29cf396"})");
  EXPECT_EQ(o.usage, MakeUsage(32, 6, 0, 103, 94));
  EXPECT_EQ(o.response_model, "grok-3-mini");
}

TEST(GenAiCompatible, DeepSeekReasonerStream) {
  const Detection d = MustDetect(Post("api.deepseek.com", "/chat/completions",
                                      R"({"model":"deepseek-reasoner","stream":true})"));
  EXPECT_EQ(d.provider, "deepseek");
  const Outcome o = ReadStream(
      d, 200,
      R"(data: {"id":"d1","object":"chat.completion.chunk","created":1757940070,"model":"deepseek-reasoner","system_fingerprint":"fp_ffc7281d48_prod0820_fp8_kvcache","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"d1","object":"chat.completion.chunk","created":1757940070,"model":"deepseek-reasoner","system_fingerprint":"fp_ffc7281d48_prod0820_fp8_kvcache","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Okay"},"logprobs":null,"finish_reason":null}]}

data: {"id":"d1","object":"chat.completion.chunk","created":1757940070,"model":"deepseek-reasoner","system_fingerprint":"fp_ffc7281d48_prod0820_fp8_kvcache","choices":[{"index":0,"delta":{"content":"Hi","reasoning_content":null},"logprobs":null,"finish_reason":null}]}

data: {"id":"d1","object":"chat.completion.chunk","created":1757940070,"model":"deepseek-reasoner","system_fingerprint":"fp_ffc7281d48_prod0820_fp8_kvcache","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":15},"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}

data: [DONE]

)");
  EXPECT_EQ(o.usage, MakeUsage(100, 64, 0, 20, 15));
  EXPECT_EQ(o.first_chunk_ns, EventTs(1));  // the first reasoning token
  EXPECT_EQ(o.response_model, "deepseek-reasoner");

  // Older responses name the cache hits only at the top level.
  const Outcome cached = ReadBody(
      d, 200,
      R"({"id":"d2","object":"chat.completion","created":1,"model":"deepseek-chat","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}})");
  EXPECT_EQ(cached.usage, MakeUsage(100, 64, 0, 20, 0));
}

// ----------------------------------------------------------------------------------------
// Errors

struct ErrorCase {
  Detection detection;
  int status;
  std::string body;
  std::string error_type;
  bool parse_error = false;
};

TEST(GenAiErrors, ErrorBodies) {
  const std::vector<ErrorCase> cases = {
      {OpenAiChat(), 429,
       R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500. Please try again in 1s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
       "rate_limit_exceeded"},
      {OpenAiChat(), 429,
       R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})",
       "insufficient_quota"},
      {OpenAiChat(), 400,
       R"({"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":null}})",
       "invalid_request_error"},
      {OpenAiChat(), 500,
       R"({"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}})",
       "server_error"},
      // A stream request answered by a JSON error.
      {OpenAiChat(true, true), 429,
       R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
       "rate_limit_exceeded"},
      {AnthropicDetection(false), 529,
       R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})",
       "overloaded_error"},
      {AnthropicDetection(true), 429,
       R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"})",
       "rate_limit_error"},
      {GeminiDetection(false), 429,
       R"({"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}})",
       "RESOURCE_EXHAUSTED"},
      {GeminiDetection(true), 400,
       R"([{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}])",
       "INVALID_ARGUMENT"},
      {OpenAiResponses(false), 400,
       R"({"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}})",
       "model_not_found"},
      // Mistral and older vLLM: the error is the top-level object.
      {OpenAiChat(), 422,
       R"({"object":"error","message":{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required"}]},"type":"invalid_request_error","param":null,"code":null})",
       "invalid_request_error"},
      {OpenAiChat(), 400,
       R"({"object":"error","message":"This model's maximum context length is 8192 tokens.","type":"BadRequestError","param":null,"code":400})",
       "BadRequestError"},
      // xAI: the error is a sentence; the status says more.
      {OpenAiChat(), 400,
       R"({"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***. You can obtain an API key from https://console.x.ai."})",
       "400"},
      // Gateways and proxies.
      {OpenAiChat(), 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "502", true},
      {OpenAiChat(), 503, "", "503", false},
      {AnthropicDetection(false), 401, R"({"detail":"Unauthorized"})", "401"},
  };
  for (const auto& c : cases) {
    const Outcome o = ReadBody(c.detection, c.status, c.body);
    EXPECT_EQ(o.error_type, c.error_type) << c.body;
    EXPECT_EQ(o.parse_error, c.parse_error) << c.body;
    EXPECT_EQ(o.usage, std::nullopt) << c.body;
    EXPECT_EQ(o.first_chunk_ns, std::nullopt) << c.body;
  }
}

TEST(GenAiErrors, OpenAiErrorInsideStream) {
  const Outcome o = ReadStream(
      OpenAiChat(true, true), 200,
      R"(data: {"id":"chatcmpl-E1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"Par"},"finish_reason":null}],"usage":null}

data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}

)");
  EXPECT_EQ(o.error_type, "server_error");
  EXPECT_EQ(o.first_chunk_ns, EventTs(0));
  EXPECT_EQ(o.usage, std::nullopt);
  EXPECT_EQ(o.response_model, "gpt-4o-2024-08-06");
  EXPECT_FALSE(o.parse_error);
}

TEST(GenAiErrors, AnthropicErrorEventInsideStream) {
  const Outcome o = ReadStream(AnthropicDetection(true), 200, R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_03","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

event: ping
data: {"type": "ping"}

event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

)");
  EXPECT_EQ(o.error_type, "overloaded_error");
  EXPECT_EQ(o.first_chunk_ns, std::nullopt);
  EXPECT_EQ(o.usage, MakeUsage(10, 0, 0, 1, 0));  // what message_start said
  EXPECT_EQ(o.response_model, "claude-sonnet-4-5-20250929");

  // An error event whose data is unreadable is still an error.
  const Outcome unreadable =
      ReadStream(AnthropicDetection(true), 200, "event: error\ndata: Overloaded\n\n");
  EXPECT_EQ(unreadable.error_type, "_OTHER");
  EXPECT_TRUE(unreadable.parse_error);
}

TEST(GenAiErrors, ResponsesFailedAndErrorEvents) {
  const Outcome failed = ReadStream(OpenAiResponses(true), 200, R"(event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_f","object":"response","status":"in_progress","error":null,"model":"gpt-5-2025-08-07","output":[],"usage":null}}

event: response.failed
data: {"type":"response.failed","sequence_number":1,"response":{"id":"resp_f","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"model":"gpt-5-2025-08-07","output":[],"usage":null}}

)");
  EXPECT_EQ(failed.error_type, "server_error");
  EXPECT_EQ(failed.response_model, "gpt-5-2025-08-07");
  EXPECT_EQ(failed.usage, std::nullopt);
  EXPECT_EQ(failed.first_chunk_ns, std::nullopt);

  const Outcome error = ReadStream(OpenAiResponses(true), 200, R"(event: error
data: {"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached.","param":null,"sequence_number":2}

)");
  EXPECT_EQ(error.error_type, "rate_limit_exceeded");

  const Outcome untyped = ReadStream(OpenAiResponses(true), 200, R"(event: error
data: {"type":"error","code":null,"message":"Something went wrong.","param":null,"sequence_number":2}

)");
  EXPECT_EQ(untyped.error_type, "_OTHER");
}

TEST(GenAiErrors, GeminiErrorInsideStream) {
  const Outcome o = ReadStream(
      GeminiDetection(true), 200,
      R"(data: {"candidates": [{"content": {"parts": [{"text": "Once"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},"modelVersion": "gemini-2.5-flash"}

data: {"error": {"code": 503,"message": "The model is overloaded. Please try again later.","status": "UNAVAILABLE"}}

)");
  EXPECT_EQ(o.error_type, "UNAVAILABLE");
  EXPECT_EQ(o.usage, MakeUsage(5, 0, 0, 0, 0));
  EXPECT_EQ(o.first_chunk_ns, EventTs(0));
}

// ----------------------------------------------------------------------------------------
// Malformed input

TEST(GenAiMalformed, TruncatedOrGarbageBodies) {
  const std::vector<std::string> bodies = {
      R"({"id":"chatcmpl-1","model":"gpt-4o","usage":{"prompt_tokens":5)",
      "not json",
      "\x1f\x8b\x08\x00\x00\x00\x00\x00",  // still gzip
      "42",
      R"("text")",
      "null",
      std::string(100000, '['),
      std::string(100000, '{'),
      "{\"model\":\"\xff\"}",
  };
  for (const auto& body : bodies) {
    for (const Detection& d : {OpenAiChat(), AnthropicDetection(false), GeminiDetection(false),
                               OpenAiResponses(false)}) {
      ResponseReader reader(d, 200, Headers{});
      reader.OnBody(body);
      EXPECT_EQ(reader.parse_errors(), 1u) << body.substr(0, 40);
      const Outcome o = reader.Finish();
      EXPECT_TRUE(o.parse_error) << body.substr(0, 40);
      EXPECT_EQ(o.usage, std::nullopt);
      EXPECT_EQ(o.response_model, "");
      EXPECT_EQ(o.error_type, "");
    }
  }
}

TEST(GenAiMalformed, BadEventsAreSkipped) {
  ResponseReader reader(OpenAiChat(true, true), 200, Headers{});
  reader.OnEvent("", R"({"choices":[{"delta":{"content":"Hi"}}],"model":"gpt-4o)", 1000);
  reader.OnEvent("", "garbage", 2000);
  reader.OnEvent("", "", 3000);  // comment-only event
  reader.OnEvent("", "[DONE]", 4000);
  reader.OnEvent("", R"([1,2,3])", 5000);
  reader.OnEvent("", R"({"choices":[{"delta":{"content":"Hi"}}],"model":"gpt-4o-2024-08-06"})",
                 6000);
  reader.OnEvent(
      "", R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})",
      7000);
  EXPECT_EQ(reader.parse_errors(), 3u);
  const Outcome o = reader.Finish();
  EXPECT_TRUE(o.parse_error);
  EXPECT_EQ(o.first_chunk_ns, 6000u);
  EXPECT_EQ(o.usage, MakeUsage(3, 0, 0, 2, 0));
  EXPECT_EQ(o.response_model, "gpt-4o-2024-08-06");
}

TEST(GenAiMalformed, WrongTypesAreIgnored) {
  // Valid JSON, unexpected shapes: nothing is taken from them, and nothing breaks.
  const std::vector<std::string> bodies = {
      R"({"model":42,"usage":"lots","choices":"none","error":null})",
      R"({"model":null,"usage":{"prompt_tokens":-5,"completion_tokens":"7","total_tokens":1.5}})",
      R"({"usage":{},"choices":[1,"a",null,{"delta":"x"},{"delta":{"content":7}}]})",
      R"({"usage":null,"x_groq":"no","error":{"type":7,"code":[]}})",
  };
  for (const auto& body : bodies) {
    ResponseReader reader(OpenAiChat(true), 200, Headers{});
    reader.OnEvent("", body, 1000);
    const Outcome o = reader.Finish();
    EXPECT_EQ(o.usage, std::nullopt) << body;
    EXPECT_EQ(o.response_model, "") << body;
    EXPECT_EQ(o.first_chunk_ns, std::nullopt) << body;
    EXPECT_FALSE(o.parse_error) << body;
  }
  // An error object without a usable type, in a 200 response.
  EXPECT_EQ(ReadBody(OpenAiChat(), 200, R"({"error":{"type":7,"code":[]}})").error_type, "_OTHER");
  // Integral floats are counts; fractions and negatives are not.
  EXPECT_EQ(
      ReadBody(OpenAiChat(), 200,
               R"({"usage":{"prompt_tokens":12.0,"completion_tokens":2.5,"total_tokens":-1}})")
          .usage,
      MakeUsage(12, 0, 0, 0, 0));
  // Anthropic message and Gemini chunk with unexpected shapes.
  EXPECT_EQ(ReadStream(AnthropicDetection(true), 200,
                       "event: message_start\ndata: {\"type\":\"message_start\",\"message\":7}\n\n"
                       "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                       "\"delta\":{\"text\":[\"a\"]}}\n\n")
                .usage,
            std::nullopt);
  EXPECT_EQ(ReadBody(GeminiDetection(false), 200,
                     R"({"candidates":{"content":1},"usageMetadata":[],"modelVersion":[]})")
                .usage,
            std::nullopt);
}

TEST(GenAiMalformed, LongModelAndErrorNamesAreCut) {
  const std::string model(1000, 'm');
  const std::string type(1000, 't');
  const Outcome o =
      ReadBody(OpenAiChat(), 400,
               R"({"model":")" + model + R"(","error":{"type":")" + type + R"(","code":null}})");
  EXPECT_EQ(o.response_model, std::string(kMaxModelLength, 'm'));
  EXPECT_EQ(o.error_type, std::string(128, 't'));
}

// ----------------------------------------------------------------------------------------
// Rate limits

TEST(GenAiRateLimit, OpenAiHeaders) {
  const Headers headers = {
      {"content-type", "application/json"},
      {"openai-processing-ms", "812"},
      {"openai-version", "2020-10-01"},
      {"x-ratelimit-limit-requests", "10000"},
      {"x-ratelimit-limit-tokens", "30000000"},
      {"x-ratelimit-remaining-requests", "9999"},
      {"x-ratelimit-remaining-tokens", "29999984"},
      {"x-ratelimit-reset-requests", "6ms"},
      {"x-ratelimit-reset-tokens", "0s"},
  };
  const std::vector<std::pair<std::string, double>> expected = {{"requests", 9999},
                                                                {"tokens", 29999984}};
  EXPECT_EQ(RateLimitRemaining(headers), expected);
}

TEST(GenAiRateLimit, AnthropicHeaders) {
  const Headers headers = {
      {"anthropic-ratelimit-input-tokens-limit", "2000000"},
      {"anthropic-ratelimit-input-tokens-remaining", "1999000"},
      {"anthropic-ratelimit-input-tokens-reset", "2025-09-15T10:00:01Z"},
      {"anthropic-ratelimit-output-tokens-limit", "400000"},
      {"anthropic-ratelimit-output-tokens-remaining", "399000"},
      {"anthropic-ratelimit-requests-limit", "4000"},
      {"anthropic-ratelimit-requests-remaining", "3999"},
      {"anthropic-ratelimit-requests-reset", "2025-09-15T10:00:00Z"},
      {"anthropic-ratelimit-tokens-limit", "2400000"},
      {"anthropic-ratelimit-tokens-remaining", "2398000"},
      {"retry-after", "0"},
  };
  const std::vector<std::pair<std::string, double>> expected = {
      {"input_tokens", 1999000},
      {"output_tokens", 399000},
      {"requests", 3999},
      {"tokens", 2398000},
  };
  EXPECT_EQ(RateLimitRemaining(headers), expected);
}

TEST(GenAiRateLimit, BadValuesAndDuplicates) {
  const Headers headers = {
      {"x-ratelimit-remaining-requests", "-1"},        {"x-ratelimit-remaining-requests", "abc"},
      {"x-ratelimit-remaining-requests", ""},          {"x-ratelimit-remaining-requests", "12abc"},
      {"x-ratelimit-remaining-requests", " 42 "},      {"x-ratelimit-remaining-requests", "41"},
      {"X-RateLimit-Remaining-Tokens", "1.5e3"},       {"x-ratelimit-remaining-tokens", "7"},
      {"anthropic-ratelimit-tokens-remaining", "nan"},
  };
  const std::vector<std::pair<std::string, double>> expected = {{"requests", 42}, {"tokens", 1500}};
  EXPECT_EQ(RateLimitRemaining(headers), expected);
  EXPECT_TRUE(RateLimitRemaining(Headers{}).empty());
}

}  // namespace
}  // namespace sightline::genai
