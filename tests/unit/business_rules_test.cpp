// Business rule files: the shipped example and a good file parse into what
// they say; every kind of bad file is refused with its line and a message
// that names what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "business/rules.h"

namespace {

namespace business = sightline::business;
using business::MetricType;
using business::SideMatch;
using business::Source;

std::string Error(const std::string& yaml) {
  std::string error;
  auto set = business::ParseRules(yaml, &error);
  EXPECT_FALSE(set.has_value()) << yaml;
  return error;
}

TEST(BusinessRules, ShippedExampleLoads) {
  const auto path = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                    "deploy" / "business" / "business-rules.yaml";
  std::string error;
  auto set = business::LoadRules(path.string(), &error);
  ASSERT_TRUE(set.has_value()) << error;
  std::vector<std::string> names;
  for (const auto& r : set->rules) {
    names.push_back(r.name);
    // Identifiers are never labels in the shipped rules.
    for (const auto& l : r.labels) {
      EXPECT_NE(l.name, "campaign_id");
      EXPECT_NE(l.name, "user_id");
      EXPECT_TRUE(!l.values.empty() || l.max_values <= business::kDefaultMaxValues) << l.name;
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"campaigns_created_total", "ads_published_total",
                                             "video_generations_total", "prediction_accuracy",
                                             "roas_value"}));
  EXPECT_EQ(set->max_body_bytes, 65536u);
}

TEST(BusinessRules, GoodFileParsesEveryField) {
  std::string error;
  auto set = business::ParseRules(R"(max_body_bytes: 1024
max_in_flight: 16
metrics:
  - name: orders_total
    type: counter
    help: Orders placed
    match:
      method: [POST, PUT]
      route: /api/shops/{shop}/orders
      status: [201, 4xx, 200-202]
      side: any
      service: '^shop-.*$'
    labels:
      shop: {from: route, param: shop, max_values: 5}
      channel: {from: query, param: ch, values: [web, app]}
      tenant: {from: request_header, header: X-Tenant}
      region: {from: response_header, header: X-Region}
      kind: {from: request_body, pointer: /kind}
    value: {from: response_body, pointer: /items/0/count}
  - name: queue_depth
    type: gauge
    match: {route: /api/queue}
    value: {from: response_header, header: X-Depth}
)",
                                  &error);
  ASSERT_TRUE(set.has_value()) << error;
  EXPECT_EQ(set->max_body_bytes, 1024u);
  EXPECT_EQ(set->max_in_flight, 16u);
  ASSERT_EQ(set->rules.size(), 2u);
  const business::Rule& r = set->rules[0];
  EXPECT_EQ(r.line, 4);
  EXPECT_EQ(r.type, MetricType::kCounter);
  EXPECT_EQ(r.help, "Orders placed");
  EXPECT_EQ(r.methods, (std::vector<std::string>{"POST", "PUT"}));
  EXPECT_EQ(r.route, "/api/shops/{shop}/orders");
  EXPECT_EQ(r.side, SideMatch::kAny);
  EXPECT_TRUE(r.StatusMatches(201));
  EXPECT_TRUE(r.StatusMatches(404));
  EXPECT_TRUE(r.StatusMatches(202));
  EXPECT_FALSE(r.StatusMatches(203));
  EXPECT_FALSE(r.StatusMatches(500));
  ASSERT_TRUE(r.service.has_value());
  ASSERT_EQ(r.labels.size(), 5u);
  EXPECT_EQ(r.labels[0].name, "shop");
  EXPECT_EQ(r.labels[0].from.source, Source::kRoute);
  EXPECT_EQ(r.labels[0].max_values, 5u);
  EXPECT_EQ(r.labels[1].values, (std::vector<std::string>{"web", "app"}));
  EXPECT_EQ(r.labels[2].from.key, "x-tenant");  // header names compare lowercased
  EXPECT_EQ(r.labels[3].from.source, Source::kResponseHeader);
  EXPECT_EQ(r.labels[4].max_values, business::kDefaultMaxValues);
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(r.value->pointer.to_string(), "/items/0/count");
  EXPECT_TRUE(r.Uses(Source::kRequestBody));
  EXPECT_TRUE(r.Uses(Source::kResponseBody));

  const business::Rule& g = set->rules[1];
  EXPECT_EQ(g.type, MetricType::kGauge);
  EXPECT_EQ(g.help, "Business metric queue_depth");
  EXPECT_TRUE(g.methods.empty());
  EXPECT_EQ(g.side, SideMatch::kServer);  // the default
  EXPECT_TRUE(g.StatusMatches(204));      // default 2xx
  EXPECT_FALSE(g.StatusMatches(302));
  EXPECT_FALSE(g.Uses(Source::kRequestBody));
}

TEST(BusinessRules, StatusAnyMatchesEverything) {
  std::string error;
  auto set = business::ParseRules(
      "metrics:\n  - {name: a_total, type: counter, match: {route: /a, status: any}}\n", &error);
  ASSERT_TRUE(set.has_value()) << error;
  EXPECT_TRUE(set->rules[0].StatusMatches(503));
}

struct BadCase {
  const char* yaml;
  const char* error;
};

TEST(BusinessRules, BadFilesNameTheLineAndTheProblem) {
  const BadCase cases[] = {
      {"metrics: [\n", "line 2: not valid YAML"},
      {"- a\n- b\n", "line 1: the file must be a map with a 'metrics' list"},
      {"metric:\n  - name: a_total\n", "line 1: top level: unknown key 'metric'"},
      {"max_body_bytes: 1\n", "line 1: 'metrics' is missing"},
      {"metrics: []\n", "line 1: metrics: must be a non-empty list of rules"},
      {"max_body_bytes: lots\nmetrics:\n  - {name: a_total, type: counter, match: {route: /a}}\n",
       "line 1: max_body_bytes: must be a whole number between 1 and 16777216, got 'lots'"},
      {"metrics:\n  - name: 9lives_total\n    type: counter\n    match: {route: /a}\n",
       "line 2: metrics[0].name: '9lives_total' is not a valid Prometheus metric name"},
      {"metrics:\n  - name: http_orders_total\n    type: counter\n    match: {route: /a}\n",
       "line 2: metrics[0].name: 'http_orders_total' uses the prefix http_"},
      {"metrics:\n  - name: sightline_x_total\n    type: counter\n    match: {route: /a}\n",
       "uses the prefix sightline_"},
      {"metrics:\n  - {name: a_total, type: counter, match: {route: /a}}\n"
       "  - {name: a_total, type: counter, match: {route: /b}}\n",
       "line 3: metrics[1].name: 'a_total' is defined twice"},
      {"metrics:\n  - name: orders\n    type: counter\n    match: {route: /a}\n",
       "line 2: metrics[0] (orders): a counter's name ends in _total"},
      {"metrics:\n  - name: depth_total\n    type: gauge\n    match: {route: /a}\n",
       "a gauge's name must not end in it"},
      {"metrics:\n  - name: a_total\n    type: histogram\n    match: {route: /a}\n",
       "line 3: metrics[0] (a_total).type: 'histogram' is not counter or gauge"},
      {"metrics:\n  - name: a_total\n    type: counter\n", "line 2: metrics[0] (a_total): 'match'"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {method: POST}\n",
       "line 4: metrics[0] (a_total).match: 'route' is missing"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: api/a}\n",
       "line 4: metrics[0] (a_total).match.route: route pattern \"api/a\" must start with '/'"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a, method: post}\n",
       "'post' is not an HTTP method in capitals"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a, status: 6xx}\n",
       "line 4: metrics[0] (a_total).match.status: '6xx' is not a status"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a, side: both}\n",
       "'both' is not server, client or any"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a, service: '(x'}\n",
       "match.service: invalid regular expression '(x'"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a, methd: GET}\n",
       "line 4: metrics[0] (a_total).match: unknown key 'methd'"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      platform: {from: body, pointer: /p}\n",
       "line 6: metrics[0] (a_total).labels.platform.from: 'body' is not one of"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      platform: {from: request_body, pointer: platform}\n",
       "line 6: metrics[0] (a_total).labels.platform.pointer: 'platform' is not a JSON pointer"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      platform: {from: request_body}\n",
       "labels.platform: from: request_body needs 'pointer'"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      platform: {from: request_body, pointer: /p, header: X}\n",
       "'header' does not apply to from: request_body"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: \"/a/{id}\"}\n    "
       "labels:\n"
       "      shop: {from: route, param: shop}\n",
       "line 6: metrics[0] (a_total).labels.shop.param: route '/a/{id}' has no parameter {shop}"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      service_name: {from: query, param: s}\n",
       "line 6: metrics[0] (a_total).labels.service_name: 'service_name' is set by sightline"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      k8s_namespace_name: {from: query, param: s}\n",
       "line 6: metrics[0] (a_total).labels.k8s_namespace_name: 'k8s_namespace_name' is set by "
       "sightline"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      bad-name: {from: query, param: s}\n",
       "'bad-name' is not a valid label name"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      p: {from: query, param: s, values: [a, b], max_values: 3}\n",
       "give either 'values' (an allow-list) or 'max_values', not both"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      p: {from: query, param: s, max_values: 0}\n",
       "line 6: metrics[0] (a_total).labels.p.max_values: must be a whole number between 1 and "
       "1000"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      p: {from: query, param: s, values: [a, a]}\n",
       "'a' is listed twice"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    labels:\n"
       "      p: {from: query, param: s, values: [a, other]}\n",
       "'other' is reserved for values outside the list"},
      {"metrics:\n  - name: depth\n    type: gauge\n    match: {route: /a}\n",
       "line 2: metrics[0] (depth): a gauge needs 'value'"},
      {"metrics:\n  - name: depth\n    type: gauge\n    match: {route: /a}\n"
       "    value: {from: response_body, pointer: /d, values: [a]}\n",
       "line 5: metrics[0] (depth).value: unknown key 'values'"},
      {"metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n    lables: {}\n",
       "line 5: metrics[0]: unknown key 'lables'"},
  };
  for (const BadCase& c : cases) {
    const std::string error = Error(c.yaml);
    EXPECT_NE(error.find(c.error), std::string::npos)
        << "file:\n"
        << c.yaml << "\nerror: " << error << "\nexpected to contain: " << c.error;
  }
}

TEST(BusinessRules, TooManyRulesAndLabels) {
  std::string many = "metrics:\n";
  for (size_t i = 0; i <= business::kMaxRules; ++i) {
    many += "  - {name: m" + std::to_string(i) + "_total, type: counter, match: {route: /a}}\n";
  }
  EXPECT_NE(Error(many).find("at most 64 rules"), std::string::npos);
  std::string labels =
      "metrics:\n  - name: a_total\n    type: counter\n    match: {route: /a}\n"
      "    labels:\n";
  for (int i = 0; i < 9; ++i)
    labels += "      l" + std::to_string(i) + ": {from: query, param: q}\n";
  EXPECT_NE(Error(labels).find("line 6: metrics[0] (a_total).labels: at most 8 labels"),
            std::string::npos);
}

TEST(BusinessRules, LoadRulesPrefixesThePath) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sightline-business-rules-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "metrics:\n  - name: a_total\n    type: counter\n    match: {route: x}\n";
  std::string error;
  EXPECT_FALSE(business::LoadRules(path.string(), &error).has_value());
  EXPECT_EQ(error.rfind(path.string() + ":4: metrics[0] (a_total).match.route:", 0), 0u) << error;
  std::filesystem::remove(path);
  EXPECT_FALSE(business::LoadRules(path.string(), &error).has_value());
  EXPECT_EQ(error, path.string() + ": cannot be read");
}

TEST(BusinessRules, MetricNames) {
  EXPECT_FALSE(business::CheckMetricName("campaigns_created_total").has_value());
  EXPECT_FALSE(business::CheckMetricName("shop:orders_total").has_value());
  EXPECT_TRUE(business::CheckMetricName("").has_value());
  EXPECT_TRUE(business::CheckMetricName("a-b").has_value());
  EXPECT_TRUE(business::CheckMetricName("__a").has_value());
  EXPECT_TRUE(business::CheckMetricName("gen_ai_calls_total").has_value());
  EXPECT_TRUE(business::CheckMetricName("db_rows_total").has_value());
  EXPECT_TRUE(business::CheckMetricName("process_x").has_value());
}

}  // namespace
