// Masking of access-log values: a table of real-shaped secrets that must
// never come out, wherever they hide (header, query, path, free text), and
// look-alikes that must come out unchanged.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "logs/mask.h"

namespace {

using sightline::logs::Masker;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sightline-logs-mask-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Secrets of every built-in shape.
const std::vector<std::string> kSecrets = {
    "sk-proj-4fJ9aQ2xLmN7pR0tUvWyZ1bC3dE5gH8k",
    "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed-AbCdEf",
    "sk-live-abcdef0123456789ABCDEF",
    "sk_live_51Hb2c3D4e5F6g7H8i9J0k",
    "AKIAIOSFODNN7EXAMPLE",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-1234567890-abcdefghij",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "jane.doe+ads@example.co.uk",
    "4111111111111111",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
};

// Strings that look a little like secrets and are none.
const std::vector<std::string> kLookAlikes = {
    "4111111111111112",  // a 16-digit order id failing Luhn
    "skip-this",
    "task-123",
    "sk-short",
    "AKIA-not-a-key",
    "user@localhost",
    "v1.2.3",
    "12345678901234567890123",  // too long for a card
    "desk-0123456789abcdef0123456789",
    "eyJust.kidding",
};

TEST(LogsMask, SecretsNeverComeOutAnywhere) {
  Masker m;
  for (const std::string& secret : kSecrets) {
    SCOPED_TRACE(secret);
    const std::vector<std::string> outputs = {
        m.Text(secret),
        m.Text("prefix " + secret + " suffix"),
        m.Text("\"" + secret + "\""),
        m.Target("/api/items/" + secret + "/view"),
        m.Target("/search?q=" + secret + "&page=2"),
        m.Target("/search?note=x," + secret),
        m.Header("x-forwarded-for", secret),
        m.Header("user-agent", "curl/8.0 (" + secret + ")"),
        m.Text("10.0.0.1:443 " + secret),
    };
    for (const std::string& out : outputs) {
      EXPECT_EQ(out.find(secret), std::string::npos) << out;
      EXPECT_NE(out.find("***"), std::string::npos) << out;
    }
  }
}

TEST(LogsMask, WholeValueReplacedInContext) {
  Masker m;
  EXPECT_EQ(m.Text("key sk-live-abcdef0123456789ABCDEF used"), "key *** used");
  EXPECT_EQ(m.Text("mail jane.doe+ads@example.co.uk."), "mail ***.");
  EXPECT_EQ(m.Text("to=a%40b.example"), "to=***");
  EXPECT_EQ(m.Text("card 4111-1111-1111-1111, thanks"), "card ***, thanks");
  EXPECT_EQ(m.Text("https://bob:hunter2@db.example.com/x"), "https://bob:***/x");
  EXPECT_EQ(m.Target("/login?user=bob&password=hunter2&next=/home"),
            "/login?user=bob&password=***&next=/home");
  EXPECT_EQ(m.Target("/cb?token=sk-live-abcdef0123456789ABCDEF&email=a@b.example"),
            "/cb?token=***&email=***");
}

TEST(LogsMask, SensitiveQueryParametersByName) {
  Masker m;
  for (std::string name : {"token", "TOKEN", "key", "api_key", "apikey", "password", "Password",
                           "secret", "client_secret", "signature", "X-Amz-Signature", "sig",
                           "access_token", "refresh_token", "auth", "x-api-key"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(m.Target("/p?" + name + "=plain-value-42&a=1"), "/p?" + name + "=***&a=1");
  }
  for (std::string name : {"monkey", "keyboard", "author", "tokens_used", "page", "q"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(m.Target("/p?" + name + "=plain-value-42"), "/p?" + name + "=plain-value-42");
  }
}

TEST(LogsMask, SensitiveHeadersByName) {
  Masker m;
  for (std::string name : {"Authorization", "cookie", "Set-Cookie", "X-Api-Key", "api-key",
                           "x-goog-api-key", "Proxy-Authorization", "X-Auth-Token"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(m.Header(name, "Bearer abc"), "***");
  }
  EXPECT_EQ(m.Header("user-agent", "curl/8.5.0"), "curl/8.5.0");
  EXPECT_EQ(m.Header("accept", "application/json"), "application/json");
}

TEST(LogsMask, LookAlikesStayIntact) {
  Masker m;
  for (const std::string& s : kLookAlikes) {
    SCOPED_TRACE(s);
    EXPECT_EQ(m.Text(s), s);
    EXPECT_EQ(m.Text("id " + s + " ok"), "id " + s + " ok");
    EXPECT_EQ(m.Target("/orders/" + s), "/orders/" + s);
  }
  // Digits inside hex ids and longer numbers are not cards.
  EXPECT_EQ(m.Text("4bf92f3577b34da6a3ce929d0e0e4736"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(m.Text("a4111111111111111"), "a4111111111111111");
  EXPECT_EQ(m.Text("duration 1234567890123 ns"), "duration 1234567890123 ns");  // fails Luhn
}

TEST(LogsMask, Luhn) {
  EXPECT_TRUE(Masker::LuhnValid("4111111111111111"));
  EXPECT_TRUE(Masker::LuhnValid("4111 1111 1111 1111"));
  EXPECT_TRUE(Masker::LuhnValid("79927398713"));
  EXPECT_FALSE(Masker::LuhnValid("4111111111111112"));
  EXPECT_FALSE(Masker::LuhnValid("79927398710"));
}

TEST(LogsMask, UserPatternsExtendTheRules) {
  Masker m({"cust-[0-9]{6}", "internal-[a-z]+"});
  EXPECT_EQ(m.Text("order for cust-123456 via internal-billing"), "order for *** via ***");
  EXPECT_EQ(m.Target("/c/cust-654321?x=1"), "/c/***?x=1");
  EXPECT_EQ(m.Text("cust-12"), "cust-12");
  EXPECT_TRUE(Masker::ValidatePatterns({"ok", "(unclosed"}).has_value());
  EXPECT_FALSE(Masker::ValidatePatterns({"ok", "[a-z]+"}).has_value());
}

TEST(LogsMask, PatternFile) {
  TempDir dir;
  const std::string path = dir.path + "/mask.txt";
  {
    std::ofstream f(path);
    f << "# tenant ids\n\ntenant-[0-9]+\n";
  }
  std::string error;
  auto patterns = Masker::LoadPatternFile(path, &error);
  ASSERT_TRUE(patterns) << error;
  EXPECT_EQ(*patterns, std::vector<std::string>{"tenant-[0-9]+"});
  EXPECT_EQ(Masker(*patterns).Text("for tenant-42"), "for ***");
  {
    std::ofstream f(path);
    f << "(bad\n";
  }
  EXPECT_FALSE(Masker::LoadPatternFile(path, &error));
  EXPECT_NE(error.find("mask.txt"), std::string::npos);
}

}  // namespace
