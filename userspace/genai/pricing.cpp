#include "genai/pricing.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace sightline::genai {
namespace {

using nlohmann::json;

constexpr double kPerMillion = 1e6;
constexpr std::uintmax_t kMaxFileBytes = 64u << 20;  // LiteLLM's full table is ~1 MB

// Our provider names (gen_ai_provider_name) and LiteLLM's, for "<prefix>/<model>" keys
// and litellm_provider values.
struct ProviderName {
  std::string_view ours, litellm;
};
constexpr ProviderName kProviders[] = {
    {"openai", "openai"},
    {"azure.ai.openai", "azure"},
    {"anthropic", "anthropic"},
    {"gcp.gemini", "gemini"},
    {"gcp.vertex_ai", "vertex_ai"},
    {"mistral_ai", "mistral"},
    {"groq", "groq"},
    {"x_ai", "xai"},
    {"deepseek", "deepseek"},
};

std::string_view LiteLlmPrefix(std::string_view provider) {
  for (const auto& p : kProviders) {
    if (p.ours == provider) return p.litellm;
  }
  return provider;
}

std::string ProviderFromLiteLlm(std::string_view litellm) {
  // LiteLLM splits some providers by API family: "vertex_ai-language-models",
  // "text-completion-openai", "azure_text".
  if (litellm.starts_with("vertex_ai")) return "gcp.vertex_ai";
  if (litellm == "text-completion-openai") return "openai";
  if (litellm == "azure_text") return "azure.ai.openai";
  for (const auto& p : kProviders) {
    if (p.litellm == litellm) return std::string(p.ours);
  }
  return std::string(litellm);
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Whether `s` ends with `-` followed by digits in the groups given ({4,2,2} is
// "-YYYY-MM-DD"); returns the length of that suffix, or 0.
size_t DigitSuffix(std::string_view s, std::initializer_list<size_t> groups) {
  size_t len = 0;
  for (size_t g : groups) len += 1 + g;
  if (s.size() <= len) return 0;
  std::string_view tail = s.substr(s.size() - len);
  size_t pos = 0;
  for (size_t g : groups) {
    if (tail[pos] != '-' || !AllDigits(tail.substr(pos + 1, g))) return 0;
    pos += 1 + g;
  }
  return len;
}

// `model` without its last snapshot suffix, or nullopt when it has none.
std::optional<std::string_view> StripSnapshotSuffix(std::string_view model) {
  if (size_t at = model.rfind('@'); at != std::string_view::npos && at > 0) {
    return model.substr(0, at);  // Vertex: "claude-sonnet-4-5@20250929", "gemini-1.0-pro@001"
  }
  if (model.ends_with("-latest") && model.size() > 7) return model.substr(0, model.size() - 7);
  for (auto groups : {std::initializer_list<size_t>{4, 2, 2}, {8}, {4}, {3}}) {
    if (size_t n = DigitSuffix(model, groups)) return model.substr(0, model.size() - n);
  }
  return std::nullopt;
}

// Names to try for one model, most specific first.
std::vector<std::string> Candidates(std::string_view provider, std::string_view model) {
  std::vector<std::string> out;
  std::string_view name = model;
  if (size_t slash = model.rfind('/'); slash != std::string_view::npos) {
    out.emplace_back(model);
    name = model.substr(slash + 1);
  }
  std::string_view prefix = LiteLlmPrefix(provider);
  for (std::optional<std::string_view> n = name; n && !n->empty(); n = StripSnapshotSuffix(*n)) {
    if (!prefix.empty()) out.push_back(std::string(prefix) + "/" + std::string(*n));
    out.emplace_back(*n);
  }
  return out;
}

bool SameProvider(const PriceEntry& e, std::string_view provider) {
  return e.provider.empty() || provider.empty() || e.provider == provider;
}

// ---- Loading ----

struct Failure {
  std::string message;
};

std::string Quoted(std::string_view s) { return json(std::string(s)).dump(); }

// A price field: nullopt when absent (or null in LiteLLM's file), else a finite
// non-negative number; anything else throws.
std::optional<double> PriceField(const json& obj, const std::string& key,
                                 const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0) {
    throw Failure{where + ": " + Quoted(key) + " must be a non-negative number, got " + it->dump()};
  }
  return it->get<double>();
}

// Fills the optional cache prices of `p` from `read_key` and `creation_key`, over `scale`.
void CachePrices(const json& obj, const std::string& where, double scale, const char* read_key,
                 const char* creation_key, Price* p) {
  if (auto v = PriceField(obj, read_key, where)) {
    p->cache_read = *v / scale;
    p->has_cache_read = true;
  }
  if (auto v = PriceField(obj, creation_key, where)) {
    p->cache_creation = *v / scale;
    p->has_cache_creation = true;
  }
}

void CheckKeys(const json& obj, std::initializer_list<std::string_view> allowed,
               const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (auto a : allowed) known = known || a == key;
    if (!known) throw Failure{where + ": unknown key " + Quoted(key)};
  }
}

double RequiredPrice(const json& obj, const char* key, const std::string& where) {
  auto v = PriceField(obj, key, where);
  if (!v) throw Failure{where + ": " + Quoted(key) + " is required (USD per 1M tokens)"};
  return *v / kPerMillion;
}

PriceEntry OurEntry(const std::string& model, const json& obj, const std::string& source) {
  const std::string where = "model " + Quoted(model);
  if (!obj.is_object()) throw Failure{where + ": must be an object"};
  CheckKeys(obj, {"provider", "input", "cache_read", "cache_creation", "output", "long_context"},
            where);
  PriceEntry e;
  e.model = model;
  e.source = source;
  if (auto it = obj.find("provider"); it != obj.end()) {
    if (!it->is_string()) throw Failure{where + ": \"provider\" must be a string"};
    e.provider = it->get<std::string>();
  }
  e.base.input = RequiredPrice(obj, "input", where);
  e.base.output = RequiredPrice(obj, "output", where);
  CachePrices(obj, where, kPerMillion, "cache_read", "cache_creation", &e.base);
  if (auto it = obj.find("long_context"); it != obj.end()) {
    const std::string lc_where = where + ": \"long_context\"";
    if (!it->is_object()) throw Failure{lc_where + ": must be an object"};
    CheckKeys(*it, {"threshold", "input", "cache_read", "cache_creation", "output"}, lc_where);
    auto t = it->find("threshold");
    if (t == it->end() || !t->is_number_unsigned() || t->get<uint64_t>() == 0) {
      throw Failure{lc_where + ": \"threshold\" must be a positive integer (input tokens)"};
    }
    e.long_context_threshold = t->get<uint64_t>();
    e.long_context = e.base;
    if (auto v = PriceField(*it, "input", lc_where)) e.long_context.input = *v / kPerMillion;
    if (auto v = PriceField(*it, "output", lc_where)) e.long_context.output = *v / kPerMillion;
    CachePrices(*it, lc_where, kPerMillion, "cache_read", "cache_creation", &e.long_context);
  }
  return e;
}

void ParseOurs(const json& root, const std::string& source, PricingTable::Entries* out) {
  CheckKeys(root, {"comment", "models"}, "top level");
  for (const auto& [model, obj] : root["models"].items()) {
    if (model.empty()) throw Failure{"a model name is empty"};
    (*out)[model] = OurEntry(model, obj, source);
  }
}

// "input_cost_per_token_above_200k_tokens" -> 200000 when `key` is `field` + that suffix.
std::optional<uint64_t> AboveThreshold(std::string_view key, std::string_view field) {
  constexpr std::string_view kAbove = "_above_", kTokens = "k_tokens";
  if (!key.starts_with(field)) return std::nullopt;
  key.remove_prefix(field.size());
  if (!key.starts_with(kAbove) || !key.ends_with(kTokens)) return std::nullopt;
  std::string_view n = key.substr(kAbove.size(), key.size() - kAbove.size() - kTokens.size());
  if (!AllDigits(n) || n.size() > 9) return std::nullopt;
  return std::stoull(std::string(n)) * 1000;
}

constexpr std::string_view kLiteLlmInput = "input_cost_per_token",
                           kLiteLlmOutput = "output_cost_per_token",
                           kLiteLlmCacheRead = "cache_read_input_token_cost",
                           kLiteLlmCacheCreation = "cache_creation_input_token_cost";

std::optional<PriceEntry> LiteLlmEntry(const std::string& model, const json& obj,
                                       const std::string& source) {
  const std::string where = "model " + Quoted(model);
  if (!obj.is_object()) throw Failure{where + ": must be an object"};
  auto input = PriceField(obj, std::string(kLiteLlmInput), where);
  auto output = PriceField(obj, std::string(kLiteLlmOutput), where);
  if (!input && !output) return std::nullopt;  // not priced per token
  PriceEntry e;
  e.model = model;
  e.source = source;
  if (auto it = obj.find("litellm_provider"); it != obj.end() && it->is_string()) {
    e.provider = ProviderFromLiteLlm(it->get<std::string>());
  }
  // LiteLLM's schema: a cost it leaves out is zero.
  e.base.input = input.value_or(0);
  e.base.output = output.value_or(0);
  CachePrices(obj, where, 1, kLiteLlmCacheRead.data(), kLiteLlmCacheCreation.data(), &e.base);

  // One long-context tier: the lowest threshold any token cost names.
  for (const auto& [key, value] : obj.items()) {
    for (auto field : {kLiteLlmInput, kLiteLlmOutput, kLiteLlmCacheRead, kLiteLlmCacheCreation}) {
      auto n = AboveThreshold(key, field);
      if (n && !value.is_null() && (!e.long_context_threshold || *n < *e.long_context_threshold)) {
        e.long_context_threshold = n;
      }
    }
  }
  if (e.long_context_threshold) {
    std::string suffix = "_above_" + std::to_string(*e.long_context_threshold / 1000) + "k_tokens";
    e.long_context = e.base;
    if (auto v = PriceField(obj, std::string(kLiteLlmInput) + suffix, where)) {
      e.long_context.input = *v;
    }
    if (auto v = PriceField(obj, std::string(kLiteLlmOutput) + suffix, where)) {
      e.long_context.output = *v;
    }
    CachePrices(obj, where, 1, (std::string(kLiteLlmCacheRead) + suffix).c_str(),
                (std::string(kLiteLlmCacheCreation) + suffix).c_str(), &e.long_context);
  }
  return e;
}

void ParseLiteLlm(const json& root, const std::string& source, PricingTable::Entries* out) {
  size_t priced = 0;
  for (const auto& [model, obj] : root.items()) {
    if (model == "sample_spec") continue;
    if (auto e = LiteLlmEntry(model, obj, source)) {
      (*out)[model] = std::move(*e);
      ++priced;
    }
  }
  if (priced == 0) throw Failure{"no model with a per-token price (input_cost_per_token)"};
}

bool LooksLikeLiteLlm(const json& root) {
  if (root.contains("sample_spec")) return true;
  for (const auto& [model, obj] : root.items()) {
    if (obj.is_object() && (obj.contains(kLiteLlmInput) || obj.contains(kLiteLlmOutput) ||
                            obj.contains("litellm_provider"))) {
      return true;
    }
  }
  return false;
}

// Parses `text` into `out`, replacing entries by model name. Throws Failure.
void ParseInto(std::string_view text, const std::string& source, PricingTable::Entries* out) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    if (size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw Failure{"not valid JSON: " + what};
  }
  if (!root.is_object()) throw Failure{"must be a JSON object"};
  if (auto it = root.find("models"); it != root.end() && it->is_object()) {
    ParseOurs(root, source, out);
  } else if (LooksLikeLiteLlm(root)) {
    ParseLiteLlm(root, source, out);
  } else {
    throw Failure{
        "neither sightline's format (a \"models\" object) nor LiteLLM's (model objects with "
        "input_cost_per_token)"};
  }
}

std::optional<std::string> ReadFile(const std::string& path, std::string* text) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec) return "cannot read: " + ec.message();
  if (!std::filesystem::is_regular_file(status)) return std::string("not a regular file");
  if (std::filesystem::file_size(path, ec) > kMaxFileBytes) {
    return "larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("cannot read: ") + std::strerror(errno);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return std::string("cannot read: ") + std::strerror(errno);
  *text = std::move(buf).str();
  return std::nullopt;
}

// Per 1M tokens, without trailing zeros: 0.075, 2.5, 10.
std::string PerMillion(double per_token) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", per_token * kPerMillion);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

bool IsLongContext(const PriceEntry& e, const TokenCounts& t) {
  return e.long_context_threshold && t.input > *e.long_context_threshold;
}

const Price& PriceFor(const PriceEntry& e, const TokenCounts& t) {
  return IsLongContext(e, t) ? e.long_context : e.base;
}

double Cost(const PriceEntry& e, const TokenCounts& t) {
  const Price& p = PriceFor(e, t);
  uint64_t cached = t.cache_read + t.cache_creation;
  uint64_t uncached = t.input > cached ? t.input - cached : 0;
  return static_cast<double>(uncached) * p.input +
         static_cast<double>(t.cache_read) * p.CacheReadPrice() +
         static_cast<double>(t.cache_creation) * p.CacheCreationPrice() +
         static_cast<double>(t.output) * p.output;
}

PricingTable PricingTable::Embedded() {
  std::string error;
  auto table = Parse(EmbeddedPricingJson(), "embedded", &error);
  // The embedded table is tested; failing here is a build defect.
  if (!table) throw std::logic_error("embedded price table: " + error);
  return std::move(*table);
}

std::optional<PricingTable> PricingTable::Parse(std::string_view json_text,
                                                const std::string& source, std::string* error) {
  PricingTable table;
  try {
    ParseInto(json_text, source, &table.entries_);
  } catch (const Failure& f) {
    *error = source + ": " + f.message;
    return std::nullopt;
  }
  return table;
}

std::optional<PricingTable> PricingTable::WithOverrides(const std::string& path,
                                                        std::string* error) {
  std::string text;
  if (auto err = ReadFile(path, &text)) {
    *error = path + ": " + *err;
    return std::nullopt;
  }
  PricingTable table = Embedded();
  try {
    ParseInto(text, path, &table.entries_);
  } catch (const Failure& f) {
    *error = path + ": " + f.message;
    return std::nullopt;
  }
  return table;
}

std::optional<PricingTable> PricingTable::Load(const std::string& override_path,
                                               std::string* error) {
  if (override_path.empty()) return Embedded();
  return WithOverrides(override_path, error);
}

const PriceEntry* PricingTable::Find(std::string_view model) const {
  auto it = entries_.find(model);
  return it == entries_.end() ? nullptr : &it->second;
}

const PriceEntry* PricingTable::Lookup(std::string_view provider, std::string_view response_model,
                                       std::string_view request_model) const {
  std::vector<std::string> names;
  for (auto model : {response_model, request_model}) {
    if (model.empty()) continue;
    for (auto& n : Candidates(provider, model)) names.push_back(std::move(n));
  }
  // An entry of another provider only when no entry of this one matches.
  for (bool same_provider : {true, false}) {
    for (const auto& n : names) {
      const PriceEntry* e = Find(n);
      if (e && (!same_provider || SameProvider(*e, provider))) return e;
    }
  }
  return nullptr;
}

std::string FormatPricingReport(std::string_view model, const PriceEntry& e, const TokenCounts& t) {
  const Price& p = PriceFor(e, t);
  std::string tier;
  if (!e.long_context_threshold) {
    tier = "base";
  } else if (IsLongContext(e, t)) {
    tier = "long context (input above " + std::to_string(*e.long_context_threshold) + " tokens)";
  } else {
    tier =
        "base (long context above " + std::to_string(*e.long_context_threshold) + " input tokens)";
  }
  uint64_t cached = t.cache_read + t.cache_creation;
  char cost[64];
  std::snprintf(cost, sizeof cost, "%.9f", Cost(e, t));
  std::string out;
  out += "model:   " + std::string(model) + "\n";
  out += "entry:   " + e.model + " (provider " + (e.provider.empty() ? "any" : e.provider) +
         ", source " + e.source + ")\n";
  out += "tier:    " + tier + "\n";
  out += "prices:  USD per 1M tokens: input " + PerMillion(p.input) + ", cache read " +
         PerMillion(p.CacheReadPrice()) + (p.has_cache_read ? "" : " (input price)") +
         ", cache creation " + PerMillion(p.CacheCreationPrice()) +
         (p.has_cache_creation ? "" : " (input price)") + ", output " + PerMillion(p.output) + "\n";
  out += "tokens:  input " + std::to_string(t.input) + " (uncached " +
         std::to_string(t.input > cached ? t.input - cached : 0) + ", cache read " +
         std::to_string(t.cache_read) + ", cache creation " + std::to_string(t.cache_creation) +
         "), output " + std::to_string(t.output) + "\n";
  out += "cost:    " + std::string(cost) + " USD\n";
  return out;
}

int RunPricingCommand(const std::string& pricing_file, std::string_view provider,
                      std::string_view model, const TokenCounts& t, std::FILE* out,
                      std::FILE* err) {
  std::string error;
  auto table = PricingTable::Load(pricing_file, &error);
  if (!table) {
    std::fprintf(err, "sightline: --pricing-file: %s\n", error.c_str());
    return 2;
  }
  const PriceEntry* e = table->Lookup(provider, model, "");
  if (!e) {
    std::string for_provider = provider.empty() ? "" : " (provider " + std::string(provider) + ")";
    std::fprintf(err,
                 "sightline: no price for model '%.*s'%s in the %s price table; add it with "
                 "--pricing-file\n",
                 static_cast<int>(model.size()), model.data(), for_provider.c_str(),
                 pricing_file.empty() ? "embedded" : "embedded + override");
    return 1;
  }
  std::fputs(FormatPricingReport(model, *e, t).c_str(), out);
  return 0;
}

}  // namespace sightline::genai
