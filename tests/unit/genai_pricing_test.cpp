#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "config/options.h"
#include "genai/pricing.h"
#include "temp_dir.h"

namespace sightline::genai {
namespace {

constexpr double kUsd = 1e-9;

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string EntryName(const PriceEntry* e) { return e ? e->model : "(none)"; }

TEST(GenAiPricing, EmbeddedTableIsGenaiMdPrices) {
  struct Row {
    const char* model;
    const char* provider;
    double cost;
  };
  // input 100k (70k uncached, 20k cache read, 10k cache creation), output 5k, in USD.
  const Row rows[] = {
      {"gpt-4o", "openai", 0.275},
      {"gpt-4o-2024-05-13", "openai", 0.575},
      {"gpt-4o-mini", "openai", 0.0165},
      {"gpt-4.1", "openai", 0.21},
      {"gpt-5", "openai", 0.1525},
      {"gpt-5-mini", "openai", 0.0305},
      {"o3", "openai", 0.21},
      {"text-embedding-3-small", "openai", 0.002},
      {"claude-sonnet-4-5", "anthropic", 0.3285},
      {"claude-haiku-4-5", "anthropic", 0.1095},
      {"claude-opus-4-1", "anthropic", 1.6425},
      {"gemini-2.5-pro", "gcp.gemini", 0.1525},
      {"gemini-2.5-flash", "gcp.gemini", 0.0371},
  };
  const TokenCounts usage{
      .input = 100000, .cache_read = 20000, .cache_creation = 10000, .output = 5000};
  PricingTable table = PricingTable::Embedded();
  ASSERT_EQ(table.size(), std::size(rows));
  for (const auto& row : rows) {
    SCOPED_TRACE(row.model);
    const PriceEntry* e = table.Find(row.model);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->provider, row.provider);
    EXPECT_EQ(e->source, "embedded");
    EXPECT_NEAR(Cost(*e, usage), row.cost, kUsd);
  }
  // Only gemini-2.5-pro has a long-context tier.
  for (const auto& [name, e] : table.entries()) {
    EXPECT_EQ(e.long_context_threshold.has_value(), name == "gemini-2.5-pro") << name;
  }
}

TEST(GenAiPricing, AbsentCachePricesAreTheInputPrice) {
  PricingTable table = PricingTable::Embedded();
  const PriceEntry* e = table.Find("gpt-4o-2024-05-13");
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->base.has_cache_read);
  EXPECT_FALSE(e->base.has_cache_creation);
  EXPECT_NEAR(e->base.CacheReadPrice(), 5e-6, 1e-15);
  // OpenAI has no cache-write price: cache_write_tokens cost the input price.
  const PriceEntry* gpt4o = table.Find("gpt-4o");
  ASSERT_NE(gpt4o, nullptr);
  EXPECT_NEAR(Cost(*gpt4o, {.input = 1000, .cache_creation = 1000}), 0.0025, kUsd);
}

TEST(GenAiPricing, AnthropicUsageWithCacheReadAndCreation) {
  // Anthropic reports input_tokens without the cache; normalised input includes it.
  const uint64_t input_tokens = 1200, cache_read = 30000, cache_creation = 5000;
  TokenCounts t{.input = input_tokens + cache_read + cache_creation,
                .cache_read = cache_read,
                .cache_creation = cache_creation,
                .output = 800,
                .reasoning = 500};
  PricingTable table = PricingTable::Embedded();
  const PriceEntry* e =
      table.Lookup("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->model, "claude-sonnet-4-5");
  // 1200 x 3 + 30000 x 0.30 + 5000 x 3.75 + 800 x 15 per 1M; reasoning is inside output.
  EXPECT_NEAR(Cost(*e, t), 0.04335, kUsd);
}

TEST(GenAiPricing, GeminiProLongContextAboveTwoHundredThousand) {
  PricingTable table = PricingTable::Embedded();
  const PriceEntry* e = table.Lookup("gcp.gemini", "gemini-2.5-pro", "");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->long_context_threshold, 200000u);

  TokenCounts at{.input = 200000, .output = 1000};
  EXPECT_FALSE(IsLongContext(*e, at));
  EXPECT_NEAR(Cost(*e, at), 0.26, kUsd);  // 200000 x 1.25 + 1000 x 10

  TokenCounts above{.input = 200001, .output = 1000};
  EXPECT_TRUE(IsLongContext(*e, above));
  EXPECT_NEAR(Cost(*e, above), 0.5150025, kUsd);  // 200001 x 2.50 + 1000 x 15

  // The tier names no cache price: cached tokens keep the base one.
  TokenCounts cached{.input = 300000, .cache_read = 100000, .output = 2000};
  EXPECT_NEAR(Cost(*e, cached), 0.5425, kUsd);  // 200000 x 2.50 + 100000 x 0.125 + 2000 x 15
}

TEST(GenAiPricing, DatedSnapshotsFallBackToTheirBase) {
  PricingTable table = PricingTable::Embedded();
  const std::pair<const char*, const char*> cases[] = {
      {"gpt-4o-2024-08-06", "gpt-4o"},
      {"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"},  // its own entry
      {"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
      {"gpt-4.1-2025-04-14", "gpt-4.1"},
      {"o3-2025-04-16", "o3"},
      {"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
      {"claude-haiku-4-5-latest", "claude-haiku-4-5"},
      {"claude-opus-4-1@20250805", "claude-opus-4-1"},
      {"gemini-2.5-flash-001", "gemini-2.5-flash"},
  };
  for (const auto& [model, want] : cases) {
    EXPECT_EQ(EntryName(table.Lookup("", model, "")), want) << model;
  }
}

TEST(GenAiPricing, ResponseModelFirstThenRequestModel) {
  PricingTable table = PricingTable::Embedded();
  EXPECT_EQ(EntryName(table.Lookup("openai", "gpt-4o-mini-2024-07-18", "gpt-4o")), "gpt-4o-mini");
  EXPECT_EQ(EntryName(table.Lookup("openai", "", "gpt-4o")), "gpt-4o");
  EXPECT_EQ(EntryName(table.Lookup("openai", "my-deployment", "gpt-5-mini")), "gpt-5-mini");
}

TEST(GenAiPricing, ProviderPrefixes) {
  PricingTable table = PricingTable::Embedded();
  EXPECT_EQ(EntryName(table.Lookup("gcp.gemini", "models/gemini-2.5-pro", "")), "gemini-2.5-pro");
  EXPECT_EQ(EntryName(table.Lookup("", "openai/gpt-4o", "")), "gpt-4o");
  EXPECT_EQ(
      EntryName(table.Lookup("gcp.vertex_ai", "publishers/google/models/gemini-2.5-flash", "")),
      "gemini-2.5-flash");
  EXPECT_EQ(EntryName(table.Lookup("anthropic", "anthropic/claude-opus-4-1-20250805", "")),
            "claude-opus-4-1");
}

TEST(GenAiPricing, UnknownModelIsNull) {
  PricingTable table = PricingTable::Embedded();
  EXPECT_EQ(table.Lookup("openai", "gpt-4", ""), nullptr);
  EXPECT_EQ(table.Lookup("groq", "llama-3.3-70b-versatile", ""), nullptr);
  EXPECT_EQ(table.Lookup("openai", "gpt-4o-", ""), nullptr);
  EXPECT_EQ(table.Lookup("openai", "models/", ""), nullptr);
  EXPECT_EQ(table.Lookup("openai", "", ""), nullptr);
  EXPECT_EQ(table.Lookup("openai", "2024-08-06", ""), nullptr);
}

class GenAiPricingFileTest : public sightline::testing::TempDirTest {
 protected:
  GenAiPricingFileTest() : TempDirTest("genai-pricing") {}

  // Loads `text` as an override file; expects failure and returns the error.
  std::string Error(const std::string& text) {
    std::string path = Write("bad.json", Bytes(text));
    std::string error;
    EXPECT_FALSE(PricingTable::WithOverrides(path, &error).has_value()) << text;
    EXPECT_NE(error.find(path), std::string::npos) << error;
    return error;
  }
};

TEST_F(GenAiPricingFileTest, OurFormatOverridesAndAdds) {
  std::string path = Write("prices.json", Bytes(R"({
    "comment": "negotiated prices",
    "models": {
      "gpt-4o": {"provider": "openai", "input": 2.0, "cache_read": 1.0, "output": 8.0},
      "azure/gpt-4o": {"provider": "azure.ai.openai", "input": 2.75, "output": 11},
      "house-model": {"input": 0.5, "cache_creation": 0.6, "output": 1.5,
                      "long_context": {"threshold": 1000, "input": 1.0, "cache_read": 0.2}}
    }
  })"));
  std::string error;
  auto table = PricingTable::WithOverrides(path, &error);
  ASSERT_TRUE(table.has_value()) << error;
  EXPECT_EQ(table->size(), 15u);

  const PriceEntry* gpt4o = table->Lookup("openai", "gpt-4o-2024-08-06", "gpt-4o");
  ASSERT_NE(gpt4o, nullptr);
  EXPECT_EQ(gpt4o->model, "gpt-4o");
  EXPECT_EQ(gpt4o->source, path);
  EXPECT_NEAR(Cost(*gpt4o, {.input = 1000, .cache_read = 500, .output = 200}), 0.0031, kUsd);
  // The dated entry is still the embedded one.
  EXPECT_EQ(table->Find("gpt-4o-2024-05-13")->source, "embedded");

  // LiteLLM-style provider keys: Azure's own entry, else the model's under another provider.
  EXPECT_EQ(EntryName(table->Lookup("azure.ai.openai", "gpt-4o-2024-11-20", "")), "azure/gpt-4o");
  EXPECT_EQ(EntryName(table->Lookup("azure.ai.openai", "gpt-4.1", "")), "gpt-4.1");
  EXPECT_EQ(EntryName(table->Lookup("openai", "gpt-4o-2024-11-20", "")), "gpt-4o");

  const PriceEntry* house = table->Lookup("", "house-model", "");
  ASSERT_NE(house, nullptr);
  EXPECT_EQ(house->provider, "");
  // Below the threshold: 600 x 0.5 + 100 x 0.5 (no cache-read price) + 100 x 0.6 + 10 x 1.5.
  EXPECT_NEAR(Cost(*house, {.input = 800, .cache_read = 100, .cache_creation = 100, .output = 10}),
              0.000425, kUsd);
  // Above: input 1.0, cache read 0.2, cache creation and output kept from the base.
  EXPECT_NEAR(
      Cost(*house, {.input = 2000, .cache_read = 1000, .cache_creation = 500, .output = 10}),
      0.001015, kUsd);
}

TEST_F(GenAiPricingFileTest, LiteLlmFormat) {
  // A few entries in the schema of LiteLLM's model_prices_and_context_window.json.
  std::string path = Write("model_prices_and_context_window.json", Bytes(R"({
    "sample_spec": {
      "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it.",
      "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
      "litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "chat"
    },
    "gpt-4o": {
      "max_input_tokens": 128000, "input_cost_per_token": 2.4e-06,
      "output_cost_per_token": 9.6e-06, "cache_read_input_token_cost": 1.2e-06,
      "litellm_provider": "openai", "mode": "chat", "supports_vision": true
    },
    "gemini/gemini-2.5-pro": {
      "input_cost_per_token": 1.25e-06, "input_cost_per_token_above_200k_tokens": 2.5e-06,
      "output_cost_per_token": 1e-05, "output_cost_per_token_above_200k_tokens": 1.5e-05,
      "cache_read_input_token_cost": 1.25e-07,
      "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
      "litellm_provider": "gemini", "mode": "chat"
    },
    "claude-sonnet-4-5-20250929": {
      "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
      "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07,
      "litellm_provider": "anthropic", "mode": "chat"
    },
    "text-embedding-3-large": {
      "input_cost_per_token": 1.3e-07, "output_cost_per_token": 0.0,
      "litellm_provider": "openai", "mode": "embedding"
    },
    "dall-e-3": {"input_cost_per_pixel": 4.0e-08, "litellm_provider": "openai",
                 "mode": "image_generation"}
  })"));
  std::string error;
  auto table = PricingTable::WithOverrides(path, &error);
  ASSERT_TRUE(table.has_value()) << error;
  EXPECT_EQ(table->size(), 13u + 3u);  // gpt-4o replaced; dall-e-3, sample_spec skipped
  EXPECT_EQ(table->Find("sample_spec"), nullptr);
  EXPECT_EQ(table->Find("dall-e-3"), nullptr);

  const PriceEntry* gpt4o = table->Lookup("openai", "gpt-4o-2024-08-06", "");
  ASSERT_NE(gpt4o, nullptr);
  EXPECT_EQ(gpt4o->source, path);
  EXPECT_EQ(gpt4o->provider, "openai");
  EXPECT_NEAR(Cost(*gpt4o, {.input = 1000, .cache_read = 500, .output = 200}), 0.00372, kUsd);

  const PriceEntry* gemini = table->Lookup("gcp.gemini", "gemini-2.5-pro", "");
  ASSERT_NE(gemini, nullptr);
  EXPECT_EQ(gemini->model, "gemini/gemini-2.5-pro");
  EXPECT_EQ(gemini->provider, "gcp.gemini");
  EXPECT_EQ(gemini->long_context_threshold, 200000u);
  // 200000 x 2.50 + 100000 x 0.25 + 2000 x 15 per 1M.
  EXPECT_NEAR(Cost(*gemini, {.input = 300000, .cache_read = 100000, .output = 2000}), 0.555, kUsd);
  // No Vertex entry: the unprefixed entry of another provider applies.
  EXPECT_EQ(EntryName(table->Lookup("gcp.vertex_ai", "gemini-2.5-pro", "")), "gemini-2.5-pro");

  const PriceEntry* claude = table->Lookup("anthropic", "claude-sonnet-4-5-20250929", "");
  ASSERT_NE(claude, nullptr);
  EXPECT_EQ(claude->model, "claude-sonnet-4-5-20250929");
  EXPECT_EQ(claude->source, path);
  EXPECT_NEAR(
      Cost(*claude, {.input = 36200, .cache_read = 30000, .cache_creation = 5000, .output = 800}),
      0.04335, kUsd);

  const PriceEntry* embedding = table->Lookup("openai", "text-embedding-3-large", "");
  ASSERT_NE(embedding, nullptr);
  EXPECT_NEAR(Cost(*embedding, {.input = 10000}), 0.0013, kUsd);
}

TEST_F(GenAiPricingFileTest, MalformedFilesAreErrorsNamingTheProblem) {
  auto has = [](const std::string& error, const std::string& part) {
    return error.find(part) != std::string::npos;
  };
  std::string e = Error(R"({"models": {"gpt-4o": {"input": 2.5,)");
  EXPECT_TRUE(has(e, "not valid JSON")) << e;
  EXPECT_TRUE(has(e, "line 1")) << e;

  e = Error(R"({"models": {"gpt-4o": {"input": 2.5}}})");
  EXPECT_TRUE(has(e, R"(model "gpt-4o": "output" is required)")) << e;

  e = Error(R"({"models": {"gpt-4o": {"input": -1, "output": 10}}})");
  EXPECT_TRUE(has(e, R"("input" must be a non-negative number, got -1)")) << e;

  e = Error(R"({"models": {"gpt-4o": {"input": "2.5", "output": 10}}})");
  EXPECT_TRUE(has(e, R"("input" must be a non-negative number, got "2.5")")) << e;

  e = Error(R"({"models": {"gpt-4o": {"inptu": 2.5, "input": 2.5, "output": 10}}})");
  EXPECT_TRUE(has(e, R"(model "gpt-4o": unknown key "inptu")")) << e;

  e = Error(R"({"models": {"g": {"input": 1, "output": 1, "long_context": {"input": 2}}}})");
  EXPECT_TRUE(has(e, R"("threshold" must be a positive integer)")) << e;

  e = Error(R"({"models": {"g": 3}})");
  EXPECT_TRUE(has(e, R"(model "g": must be an object)")) << e;

  e = Error(R"({"modles": {"gpt-4o": {"input": 2.5, "output": 10}}})");
  EXPECT_TRUE(has(e, "neither sightline's format")) << e;

  e = Error(R"([1, 2])");
  EXPECT_TRUE(has(e, "must be a JSON object")) << e;

  e = Error(R"({"gpt-4o": {"input_cost_per_token": "cheap", "litellm_provider": "openai"}})");
  EXPECT_TRUE(has(e, R"(model "gpt-4o": "input_cost_per_token" must be a non-negative)")) << e;

  e = Error(R"({"sample_spec": {}, "dall-e-3": {"input_cost_per_pixel": 4e-08}})");
  EXPECT_TRUE(has(e, "no model with a per-token price")) << e;

  std::string error;
  EXPECT_FALSE(PricingTable::WithOverrides((dir_ / "missing.json").string(), &error));
  EXPECT_TRUE(has(error, "missing.json: cannot read: No such file or directory")) << error;
  EXPECT_FALSE(PricingTable::WithOverrides(dir_.string(), &error));
  EXPECT_TRUE(has(error, "not a regular file")) << error;
}

TEST(GenAiPricing, EmbeddedJsonIsOurFormat) {
  std::string error;
  auto table = PricingTable::Parse(EmbeddedPricingJson(), "embedded", &error);
  ASSERT_TRUE(table.has_value()) << error;
  EXPECT_EQ(table->size(), 13u);
}

TEST(GenAiPricing, CommandReport) {
  PricingTable table = PricingTable::Embedded();
  TokenCounts t{.input = 1000, .output = 200};
  EXPECT_EQ(FormatPricingReport("gpt-4o", *table.Find("gpt-4o"), t),
            "model:   gpt-4o\n"
            "entry:   gpt-4o (provider openai, source embedded)\n"
            "tier:    base\n"
            "prices:  USD per 1M tokens: input 2.5, cache read 1.25, cache creation 2.5 (input "
            "price), output 10\n"
            "tokens:  input 1000 (uncached 1000, cache read 0, cache creation 0), output 200\n"
            "cost:    0.004500000 USD\n");

  TokenCounts big{.input = 250000, .cache_read = 50000, .output = 100};
  EXPECT_EQ(FormatPricingReport("models/gemini-2.5-pro", *table.Find("gemini-2.5-pro"), big),
            "model:   models/gemini-2.5-pro\n"
            "entry:   gemini-2.5-pro (provider gcp.gemini, source embedded)\n"
            "tier:    long context (input above 200000 tokens)\n"
            "prices:  USD per 1M tokens: input 2.5, cache read 0.125, cache creation 2.5 (input "
            "price), output 15\n"
            "tokens:  input 250000 (uncached 200000, cache read 50000, cache creation 0), output "
            "100\n"
            "cost:    0.507750000 USD\n");
}

// Runs the built binary; returns its exit code and fills stdout + stderr.
int RunSightline(const std::string& args, std::string* output) {
  std::string command = std::string(SIGHTLINE_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(command.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  output->clear();
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(GenAiPricing, CommandLine) {
  std::string out;
  EXPECT_EQ(RunSightline("pricing gpt-4o --input 1000 --output 200", &out), 0);
  EXPECT_EQ(out,
            "model:   gpt-4o\n"
            "entry:   gpt-4o (provider openai, source embedded)\n"
            "tier:    base\n"
            "prices:  USD per 1M tokens: input 2.5, cache read 1.25, cache creation 2.5 (input "
            "price), output 10\n"
            "tokens:  input 1000 (uncached 1000, cache read 0, cache creation 0), output 200\n"
            "cost:    0.004500000 USD\n");

  EXPECT_EQ(RunSightline("pricing claude-sonnet-4-5-20250929 --provider anthropic --input 36200 "
                         "--cache-read 30000 --cache-creation 5000 --output 800",
                         &out),
            0);
  EXPECT_NE(out.find("entry:   claude-sonnet-4-5 (provider anthropic, source embedded)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("cost:    0.043350000 USD\n"), std::string::npos) << out;

  EXPECT_EQ(RunSightline("pricing no-such-model --input 10", &out), 1);
  EXPECT_EQ(out,
            "sightline: no price for model 'no-such-model' in the embedded price table; add it "
            "with --pricing-file\n");

  EXPECT_EQ(RunSightline("pricing gpt-4o --input -5", &out), 2);
  EXPECT_NE(out.find("--input"), std::string::npos) << out;

  EXPECT_EQ(RunSightline("pricing gpt-4o --input 10 --cache-read 20", &out), 2);
  EXPECT_NE(out.find("--cache-read + --cache-creation: must not exceed --input"), std::string::npos)
      << out;
}

TEST_F(GenAiPricingFileTest, CommandLineWithPricingFile) {
  std::string good =
      Write("good.json", Bytes(R"({"models": {"gpt-4o": {"input": 5, "output": 20}}})"));
  std::string bad = Write("bad.json", Bytes(R"({"models": {"gpt-4o": {"input": 5}}})"));
  std::string out;
  EXPECT_EQ(RunSightline("pricing gpt-4o --input 1000 --output 200 --pricing-file " + good, &out),
            0);
  EXPECT_NE(out.find("entry:   gpt-4o (provider any, source " + good + ")\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("cost:    0.009000000 USD\n"), std::string::npos) << out;

  EXPECT_EQ(RunSightline("pricing gpt-4o --pricing-file " + bad, &out), 2);
  EXPECT_EQ(out, "sightline: invalid configuration: --pricing-file: " + bad +
                     ": model \"gpt-4o\": \"output\" is required (USD per 1M tokens)\n");
}

TEST_F(GenAiPricingFileTest, ParseValidatesPricingFile) {
  std::string bad = Write("bad.json", Bytes("{"));
  const char* argv[] = {"sightline", "--pricing-file", bad.c_str()};
  auto r = config::Parse(3, argv);
  EXPECT_EQ(r.command, config::Command::kExit);
  EXPECT_EQ(r.exit_code, 2);

  std::string good = Write("good.json", Bytes(R"({"models": {}})"));
  const char* argv2[] = {"sightline", "pricing", "gpt-5",          "--provider", "openai",
                         "--input",   "10",      "--pricing-file", good.c_str()};
  r = config::Parse(9, argv2);
  ASSERT_EQ(r.command, config::Command::kPricing);
  EXPECT_EQ(r.options.pricing_file, good);
  EXPECT_EQ(r.pricing.model, "gpt-5");
  EXPECT_EQ(r.pricing.provider, "openai");
  EXPECT_EQ(r.pricing.input, 10u);
}

}  // namespace
}  // namespace sightline::genai
