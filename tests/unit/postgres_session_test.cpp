// PostgreSQL session: real captures (pgbench in its three query modes,
// pipelines, psql) fed whole, byte by byte, cut at every offset and from
// mid-life with an unknown side; synthetic exchanges for what a capture
// cannot show (SSL accepted, gaps, huge or hostile input, limits).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "db_capture.h"
#include "protocols/postgres/session.h"
#include "protocols/postgres/sql.h"

namespace sightline::postgres {
namespace {

using db::Operation;
using db::Side;
using db::Stream;

using db::testing::Chunk;
using db::testing::LoadCapture;
using db::testing::Recorder;
using db::testing::StreamOf;
using db::testing::TotalBytes;

Recorder Replay(const std::vector<Chunk>& chunks, Side side, Side as = Side::kUnknown,
                size_t cut = SIZE_MAX, size_t step = SIZE_MAX, size_t skip = 0) {
  return db::testing::ReplayCapture<Session>(chunks, side, as, cut, step, skip, 8192u);
}

struct Expected {
  std::string name;
  std::string error_type;
};

std::string Describe(const std::vector<Operation>& ops) {
  std::string out;
  for (const Operation& op : ops) {
    out += op.name + (op.error_type.empty() ? "" : "/" + op.error_type) +
           (op.answered ? "" : "(unanswered)") + " ";
  }
  return out;
}

void ExpectOps(const Recorder& r, const std::vector<Expected>& want) {
  ASSERT_EQ(r.ops.size(), want.size()) << Describe(r.ops);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.ops[i].name, want[i].name) << i << ": " << Describe(r.ops);
    EXPECT_EQ(r.ops[i].error_type, want[i].error_type) << i;
    EXPECT_TRUE(r.ops[i].answered) << i;
    EXPECT_EQ(r.ops[i].system, db::System::kPostgres);
    EXPECT_EQ(r.ops[i].db_namespace, "postgres");
  }
  EXPECT_TRUE(r.errors.empty()) << r.errors.front();
}

const std::vector<Expected> kTpcb = {{"BEGIN", ""},  {"UPDATE", ""}, {"SELECT", ""}, {"UPDATE", ""},
                                     {"UPDATE", ""}, {"INSERT", ""}, {"END", ""}};

std::vector<Expected> Twice(const std::vector<Expected>& v) {
  std::vector<Expected> out = v;
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

struct CaptureCase {
  const char* file;
  std::vector<Expected> ops;
};

const std::vector<CaptureCase>& Captures() {
  static const std::vector<CaptureCase> cases = {
      {"postgres_pgbench_simple.txt", Twice(kTpcb)},
      {"postgres_pgbench_prepared.txt", Twice(kTpcb)},
      {"postgres_pgbench_extended.txt", Twice(kTpcb)},
      {"postgres_pipeline.txt", {{"SELECT", ""}, {"SELECT", ""}, {"SELECT", ""}}},
      // The third Execute was skipped by the server after the error.
      {"postgres_pipeline_error.txt", {{"SELECT", ""}, {"SELECT", "22012"}}},
      {"postgres_psql.txt",
       {{"CREATE", ""},
        {"SELECT", ""},
        {"INSERT", ""},
        {"SELECT", ""},
        {"SELECT", "42P01"},
        {"SELECT", ""},
        {"SELECT", "42P01"},  // the statement after it never ran
        {"COPY", ""},         // the empty query before it is no operation
        {"COPY", ""},
        {"DO", ""},
        {"LISTEN", ""},
        {"NOTIFY", ""},
        {"SELECT", ""},
        {"WITH", ""},
        {"DROP", ""}}},
  };
  return cases;
}

TEST(PostgresSession, CapturesWholeAsClientAndServer) {
  for (const CaptureCase& c : Captures()) {
    SCOPED_TRACE(c.file);
    const auto chunks = LoadCapture(c.file);
    ExpectOps(Replay(chunks, Side::kClient), c.ops);
    const Recorder server = Replay(chunks, Side::kServer);
    ExpectOps(server, c.ops);
    for (const Operation& op : server.ops) EXPECT_EQ(op.side, Side::kServer);
  }
}

TEST(PostgresSession, CapturesByteByByte) {
  for (const CaptureCase& c : Captures()) {
    SCOPED_TRACE(c.file);
    ExpectOps(Replay(LoadCapture(c.file), Side::kClient, Side::kUnknown, SIZE_MAX, 1), c.ops);
  }
}

TEST(PostgresSession, CapturesCutAtEveryOffset) {
  for (const CaptureCase& c : Captures()) {
    SCOPED_TRACE(c.file);
    const auto chunks = LoadCapture(c.file);
    const size_t total = TotalBytes(chunks);
    for (size_t cut = 1; cut < total; ++cut) {
      const Recorder r = Replay(chunks, Side::kClient, Side::kUnknown, cut);
      ASSERT_EQ(r.ops.size(), c.ops.size()) << "cut at " << cut;
      for (size_t i = 0; i < c.ops.size(); ++i) {
        ASSERT_EQ(r.ops[i].name, c.ops[i].name) << "cut at " << cut;
        ASSERT_EQ(r.ops[i].error_type, c.ops[i].error_type) << "cut at " << cut;
      }
      ASSERT_TRUE(r.errors.empty()) << "cut at " << cut;
    }
  }
}

TEST(PostgresSession, SimpleQueryDetails) {
  const Recorder r = Replay(LoadCapture("postgres_pgbench_simple.txt"), Side::kClient);
  ASSERT_EQ(r.ops.size(), 14u);
  // Chunk 5 (index 4) carries BEGIN; 6 its reply; 7 the first UPDATE.
  EXPECT_EQ(r.ops[0].query_summary, "BEGIN");
  EXPECT_EQ(r.ops[0].request_start_ns, 5000u);
  EXPECT_EQ(r.ops[0].request_end_ns, 5000u);
  EXPECT_EQ(r.ops[0].response_start_ns, 6000u);
  EXPECT_EQ(r.ops[0].response_end_ns, 6000u);
  EXPECT_EQ(r.ops[1].query_summary,
            "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?");
  EXPECT_EQ(r.ops[1].request_start_ns, 7000u);
  EXPECT_EQ(r.ops[1].response_end_ns, 8000u);
  EXPECT_EQ(r.ops[5].query_summary,
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, "
            "CURRENT_TIMESTAMP)");
  EXPECT_EQ(r.ops[6].query_summary, "END");
}

TEST(PostgresSession, ExtendedQueryDetails) {
  const Recorder r = Replay(LoadCapture("postgres_pgbench_prepared.txt"), Side::kClient);
  ASSERT_EQ(r.ops.size(), 14u);
  EXPECT_EQ(r.ops[1].query_summary,
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2");
  const Recorder pipe = Replay(LoadCapture("postgres_pipeline_error.txt"), Side::kClient);
  ASSERT_EQ(pipe.ops.size(), 2u);
  EXPECT_EQ(pipe.ops[1].query_summary, "SELECT ?/?");
  // One write carried the whole pipeline, one read all the replies.
  EXPECT_EQ(pipe.ops[1].request_start_ns, 5000u);
  EXPECT_EQ(pipe.ops[1].response_end_ns, 6000u);
}

TEST(PostgresSession, MultiStatementSummaries) {
  const Recorder r = Replay(LoadCapture("postgres_psql.txt"), Side::kClient);
  ASSERT_EQ(r.ops.size(), 15u);
  EXPECT_EQ(r.ops[1].query_summary, "SELECT ? AS a");
  EXPECT_EQ(r.ops[2].query_summary, "INSERT INTO t_cap VALUES (?, ?)");
  EXPECT_EQ(r.ops[3].query_summary, "SELECT ? AS d");
  EXPECT_EQ(r.ops[12].query_summary, "(SELECT ?)");
}

TEST(PostgresSession, MidLifeUnknownSideInfersFromTraffic) {
  // Start after the startup exchange (4 chunks): no database name known.
  for (const Side as : {Side::kClient, Side::kServer}) {
    const auto chunks = LoadCapture("postgres_pgbench_extended.txt");
    const Recorder r = Replay(chunks, Side::kUnknown, as, SIZE_MAX, SIZE_MAX, 4);
    ASSERT_EQ(r.ops.size(), 14u) << Describe(r.ops);
    for (size_t i = 0; i < 14; ++i) {
      EXPECT_EQ(r.ops[i].name, kTpcb[i % 7].name);
      EXPECT_EQ(r.ops[i].side, as);
      EXPECT_EQ(r.ops[i].db_namespace, "");
    }
    EXPECT_TRUE(r.errors.empty());
  }
}

TEST(PostgresSession, UnknownSideFromStartupPacket) {
  const Recorder r =
      Replay(LoadCapture("postgres_pgbench_simple.txt"), Side::kUnknown, Side::kServer);
  ExpectOps(r, Twice(kTpcb));
}

TEST(PostgresSession, CopyFromStdinSpansTheCopyData) {
  const Recorder r = Replay(LoadCapture("postgres_psql.txt"), Side::kClient);
  ASSERT_EQ(r.ops.size(), 15u);
  const Operation& copy = r.ops[7];
  EXPECT_EQ(copy.query_summary, "COPY t_cap (id, name) FROM STDIN");
  EXPECT_EQ(copy.request_start_ns, 16000u);   // the Query
  EXPECT_EQ(copy.response_start_ns, 17000u);  // CopyInResponse
  EXPECT_EQ(copy.request_end_ns, 18000u);     // CopyData + CopyDone
  EXPECT_EQ(copy.response_end_ns, 19000u);    // CommandComplete
}

// ---------------------------------------------------------------------------
// Synthetic exchanges

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string Msg(char type, const std::string& body) {
  return std::string(1, type) + Be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

std::string Query(const std::string& sql) { return Msg('Q', sql + '\0'); }
std::string Complete(const std::string& tag) { return Msg('C', tag + '\0'); }
std::string Error(const std::string& code) {
  return Msg('E', std::string("SERROR\0VERROR\0C", 15) + code + std::string("\0Mboom\0\0", 8));
}
const std::string kReady = Msg('Z', "I");

std::string Startup(const std::string& params) {
  const std::string body = Be32(196608) + params + '\0';
  return Be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

TEST(PostgresSession, StartupDatabaseDefaultsToUser) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Startup(std::string("user\0alice\0", 11)), 1, r);
  s.OnData(Stream::kIngress, Msg('R', Be32(0)) + kReady, 2, r);
  s.OnData(Stream::kEgress, Query("select 1"), 3, r);
  s.OnData(Stream::kIngress, Complete("SELECT 1") + kReady, 4, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_EQ(r.ops[0].db_namespace, "alice");
  EXPECT_EQ(r.ops[0].name, "SELECT");
}

TEST(PostgresSession, SslAcceptedTurnsOpaqueRefusedGoesOn) {
  const std::string ssl = Be32(8) + Be32(80877103);
  {
    Session s(Side::kClient);
    Recorder r;
    s.OnData(Stream::kEgress, ssl, 1, r);
    s.OnData(Stream::kIngress, "S", 2, r);
    EXPECT_TRUE(s.opaque());
    s.OnData(Stream::kEgress, "\x16\x03\x01 garbage", 3, r);
    EXPECT_TRUE(r.errors.empty());
  }
  {
    Session s(Side::kServer);
    Recorder r;
    s.OnData(Stream::kIngress, ssl, 1, r);
    s.OnData(Stream::kEgress, "N", 2, r);
    EXPECT_FALSE(s.opaque());
    s.OnData(Stream::kIngress, Startup(std::string("user\0u\0database\0shop\0", 21)), 3, r);
    s.OnData(Stream::kIngress, Query("DELETE FROM t WHERE id = 7"), 4, r);
    s.OnData(Stream::kEgress, Complete("DELETE 1") + kReady, 5, r);
    ASSERT_EQ(r.ops.size(), 1u);
    EXPECT_EQ(r.ops[0].db_namespace, "shop");
    EXPECT_EQ(r.ops[0].query_summary, "DELETE FROM t WHERE id = ?");
    EXPECT_EQ(r.ops[0].side, Side::kServer);
  }
}

TEST(PostgresSession, ParseErrorBeforeExecuteBecomesAnOperation) {
  Session s(Side::kClient);
  Recorder r;
  // Prepare only (as pgbench -M prepared does): Parse + Sync, then a bad one.
  s.OnData(Stream::kEgress, Msg('P', std::string("s1\0SELEC 1\0\0\0", 14)) + Msg('S', ""), 1, r);
  s.OnData(Stream::kIngress, Error("42601") + kReady, 2, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_EQ(r.ops[0].name, "SELEC");
  EXPECT_EQ(r.ops[0].error_type, "42601");
  EXPECT_EQ(r.ops[0].request_start_ns, 1u);
  EXPECT_EQ(r.ops[0].response_end_ns, 2u);
}

TEST(PostgresSession, ServerMessagesAreNotReplies) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Query("SELECT 1"), 1, r);
  s.OnData(Stream::kIngress,
           Msg('N', std::string("SNOTICE\0C00000\0Mhi\0\0", 21)) +
               Msg('S', std::string("TimeZone\0UTC\0", 13)) +
               Msg('A', Be32(7) + std::string("c\0p\0", 4)) + Complete("SELECT 1") + kReady,
           2, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_TRUE(r.errors.empty());
}

TEST(PostgresSession, LargeDataRowsAreNotBuffered) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Query("SELECT big FROM t"), 1, r);
  const std::string row =
      Msg('D', std::string("\0\1", 2) + Be32(1 << 20) + std::string(1 << 20, 'x'));
  for (size_t i = 0; i < row.size(); i += 4096) {
    s.OnData(Stream::kIngress, std::string_view(row).substr(i, 4096), 2, r);
    ASSERT_LE(s.buffered_bytes(), 4096u);
  }
  s.OnData(Stream::kIngress, Complete("SELECT 1") + kReady, 3, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_EQ(r.ops[0].response_start_ns, 2u);
  EXPECT_EQ(r.ops[0].response_end_ns, 3u);
}

TEST(PostgresSession, GapInsideBodyKeepsPairingGapInHeaderDoesNot) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Query("SELECT 1"), 1, r);
  const std::string row = Msg('D', std::string(1000, 'x'));
  s.OnData(Stream::kIngress, row.substr(0, 100), 2, r);
  s.OnGap(Stream::kIngress, 800, 3, r);
  s.OnData(Stream::kIngress, row.substr(900) + Complete("SELECT 1") + kReady, 4, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_TRUE(r.ops[0].answered);
  EXPECT_TRUE(r.errors.empty());

  s.OnData(Stream::kEgress, Query("SELECT 2"), 5, r);
  s.OnData(Stream::kIngress, row.substr(0, 3), 6, r);  // inside the header
  s.OnGap(Stream::kIngress, 10, 7, r);
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_FALSE(r.ops[1].answered);
  EXPECT_EQ(r.errors, std::vector<std::string>{"gap"});
  // The next chunk starting a message resynchronises the replies.
  s.OnData(Stream::kEgress, Query("SELECT 3"), 8, r);
  s.OnData(Stream::kIngress, Complete("SELECT 1") + kReady, 9, r);
  ASSERT_EQ(r.ops.size(), 3u);
  EXPECT_TRUE(r.ops[2].answered);
}

TEST(PostgresSession, HugeQueryIsCutAndReported) {
  Session s(Side::kClient);
  Recorder r;
  const std::string sql = "INSERT INTO t VALUES ('" + std::string(200000, 'a') + "')";
  const std::string q = Query(sql);
  for (size_t i = 0; i < q.size(); i += 1000) {
    s.OnData(Stream::kEgress, std::string_view(q).substr(i, 1000), 1, r);
    ASSERT_LE(s.buffered_bytes(), 64u * 1024 + 1024);
  }
  s.OnData(Stream::kIngress, Complete("INSERT 0 1") + kReady, 2, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_EQ(r.ops[0].name, "INSERT");
  EXPECT_EQ(r.ops[0].query_summary, "INSERT INTO t VALUES (?");
  EXPECT_EQ(r.errors, std::vector<std::string>{"message_too_large"});
}

TEST(PostgresSession, ImpossibleTypeOrLengthIsInvalid) {
  for (const std::string& bad :
       {std::string("\x01\0\0\0\x05X", 6), std::string("Q\xff\xff\xff\xff", 5),
        std::string("Q\0\0\0\x02", 5)}) {
    Session s(Side::kClient);
    Recorder r;
    s.OnData(Stream::kEgress, Query("SELECT 1"), 1, r);
    s.OnData(Stream::kEgress, bad, 2, r);
    EXPECT_TRUE(s.opaque());
    EXPECT_EQ(r.errors, std::vector<std::string>{"invalid_message"});
    ASSERT_EQ(r.ops.size(), 1u);  // the waiting query comes out unanswered
    EXPECT_FALSE(r.ops[0].answered);
    s.OnData(Stream::kIngress, Complete("SELECT 1") + kReady, 3, r);
    EXPECT_EQ(r.ops.size(), 1u);
  }
}

TEST(PostgresSession, TooManyPendingDropsOldest) {
  Limits limits;
  limits.max_pending = 4;
  Session s(Side::kClient, limits);
  Recorder r;
  for (int i = 0; i < 6; ++i) s.OnData(Stream::kEgress, Query("SELECT 1"), 1, r);
  EXPECT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.ops.size(), 2u);
  s.OnClose(2, r);
  EXPECT_EQ(r.ops.size(), 6u);
  for (const Operation& op : r.ops) EXPECT_FALSE(op.answered);
}

TEST(PostgresSession, HostileInputNeverCrashesAndStaysBounded) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    for (const Side side : {Side::kClient, Side::kServer, Side::kUnknown}) {
      Session s(side);
      Recorder r;
      for (int i = 0; i < 20; ++i) {
        std::string junk(rng() % 300, '\0');
        for (char& c : junk) c = static_cast<char>(rng());
        if (rng() % 3 == 0 && junk.size() > 5) junk[0] = "QPBECDZTS"[rng() % 9];
        const Stream st = rng() % 2 ? Stream::kEgress : Stream::kIngress;
        if (rng() % 10 == 0) {
          s.OnGap(st, rng() % 5000, i, r);
        } else {
          s.OnData(st, junk, i, r);
        }
        ASSERT_LE(s.buffered_bytes(), 70u * 1024);
      }
      s.OnClose(100, r);
    }
  }
}

// ---------------------------------------------------------------------------
// SQL text helpers

TEST(PostgresSql, SplitsOnTopLevelSemicolonsOnly) {
  const auto v = SplitStatements(
      "SELECT 'a;b'; /* c; */ SELECT $x$ ; $x$; -- d;\nSELECT \"q;\" ;; ; SELECT E'\\';'");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0], "SELECT 'a;b'");
  EXPECT_EQ(v[1], " /* c; */ SELECT $x$ ; $x$");
  EXPECT_EQ(v[2], " -- d;\nSELECT \"q;\" ");
  EXPECT_EQ(v[3], " SELECT E'\\';'");
  EXPECT_TRUE(SplitStatements(" ; -- x\n").empty());
}

TEST(PostgresSql, NamesAndSummaries) {
  EXPECT_EQ(StatementName("  /* x */ -- y\n ((select 1))"), "SELECT");
  EXPECT_EQ(StatementName("with x as (select 1) select *"), "WITH");
  EXPECT_EQ(StatementName("end;"), "END");
  EXPECT_EQ(StatementName("  42"), "");
  EXPECT_EQ(SummarizeStatement("SELECT  *\n FROM t1 WHERE a = 'x''y' AND b = 1.5e3 AND c = $1;"),
            "SELECT * FROM t1 WHERE a = ? AND b = ? AND c = $1");
  EXPECT_EQ(SummarizeStatement("select E'\\'' , x'ff', $$body$$, \"Col 1\" -- tail"),
            "select ? , ?, ?, \"Col 1\"");
  const std::string longer = SummarizeStatement("SELECT " + std::string(1000, 'c'));
  EXPECT_EQ(longer.size(), kMaxSummaryBytes);
  // Cut on a character boundary: 'é' is two bytes.
  std::string accents = "SELECT ";
  for (int i = 0; i < 200; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(SummarizeStatement(accents).size(), kMaxSummaryBytes - 1);
}

}  // namespace
}  // namespace sightline::postgres
