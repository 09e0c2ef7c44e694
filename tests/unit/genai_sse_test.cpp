// SSE parser: the streams of OpenAI (chat completions and responses),
// Anthropic and Gemini, with "\n", "\r\n" and "\r" line ends and with or
// without their last blank line, fed whole, split at every byte boundary, as
// every incomplete prefix followed by the rest and one byte at a time; the
// WHATWG field rules one by one; the event size bound; and decompression
// composed with parsing.
#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "genai/decode.h"
#include "genai/sse.h"

namespace sightline::genai {
namespace {

using namespace std::literals;

struct Event {
  std::string event;
  std::string data;
  bool operator==(const Event&) const = default;
};

void PrintTo(const Event& e, std::ostream* os) {
  *os << "{\"" << e.event << "\", \"" << e.data << "\"}";
}

// Feeds `wire` cut at `cuts` (ascending offsets), then finishes.
std::vector<Event> ParseCut(std::string_view wire, const std::vector<size_t>& cuts,
                            size_t max_event_bytes = 1 << 20, uint64_t* oversized = nullptr) {
  SseParser parser(max_event_bytes);
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : wire.size();
    parser.Feed(wire.substr(start, end - start), on_event);
    EXPECT_LE(parser.buffered_bytes(), max_event_bytes);
    start = end;
  }
  parser.Finish(on_event);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
  if (oversized != nullptr) *oversized = parser.oversized_events();
  return events;
}

std::vector<Event> Parse(std::string_view wire, size_t max_event_bytes = 1 << 20,
                         uint64_t* oversized = nullptr) {
  return ParseCut(wire, {}, max_event_bytes, oversized);
}

std::vector<Event> ParseBytewise(std::string_view wire, size_t max_event_bytes = 1 << 20,
                                 uint64_t* oversized = nullptr) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return ParseCut(wire, cuts, max_event_bytes, oversized);
}

// Every '\n' in `wire` becomes `line_end`.
std::string WithLineEnds(std::string_view wire, std::string_view line_end) {
  std::string out;
  for (char c : wire) {
    if (c == '\n') {
      out += line_end;
    } else {
      out += c;
    }
  }
  return out;
}

// --- Provider streams ----------------------------------------------------------

struct Stream {
  const char* name;
  std::vector<Event> events;
};

// The stream as the provider writes it: optional "event:" line, one "data:"
// line, a blank line.
std::string Wire(const Stream& stream) {
  std::string wire;
  for (const Event& e : stream.events) {
    if (!e.event.empty()) wire += "event: " + e.event + "\n";
    wire += "data: " + e.data + "\n\n";
  }
  return wire;
}

Stream OpenAiChat() {
  const std::string head =
      R"({"id":"chatcmpl-Cq3aF9kLmN2pQ7rS1tUvW4xY","object":"chat.completion.chunk",)"
      R"("created":1767225601,"model":"gpt-4o-mini-2024-07-18","service_tier":"default",)"
      R"("system_fingerprint":"fp_51db84afab",)";
  return {
      "openai_chat",
      {
          {"", head + R"("choices":[{"index":0,"delta":{"role":"assistant","content":"",)"
                      R"("refusal":null},"logprobs":null,"finish_reason":null}],"usage":null})"},
          {"", head + R"("choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,)"
                      R"("finish_reason":null}],"usage":null})"},
          {"", head + R"("choices":[{"index":0,"delta":{"content":"! How can I help?\n"},)"
                      R"("logprobs":null,"finish_reason":null}],"usage":null})"},
          {"", head + R"("choices":[{"index":0,"delta":{},"logprobs":null,)"
                      R"("finish_reason":"stop"}],"usage":null})"},
          {"", head + R"("choices":[],"usage":{"prompt_tokens":19,"completion_tokens":8,)"
                      R"("total_tokens":27,"prompt_tokens_details":{"cached_tokens":0,)"
                      R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,)"
                      R"("audio_tokens":0,"accepted_prediction_tokens":0,)"
                      R"("rejected_prediction_tokens":0}}})"},
          {"", "[DONE]"},
      }};
}

Stream OpenAiResponses() {
  const std::string response =
      R"({"id":"resp_68b2c0ffee4a81909d3e5f7a","object":"response","created_at":1767225602,)"
      R"("model":"gpt-4.1-2025-04-14","output":[],"parallel_tool_calls":true,)";
  return {
      "openai_responses",
      {
          {"response.created", R"({"type":"response.created","sequence_number":0,"response":)" +
                                   response + R"("status":"in_progress","usage":null}})"},
          {"response.in_progress",
           R"({"type":"response.in_progress","sequence_number":1,"response":)" + response +
               R"("status":"in_progress","usage":null}})"},
          {"response.output_item.added",
           R"({"type":"response.output_item.added","sequence_number":2,"output_index":0,)"
           R"("item":{"id":"msg_68b2c1","type":"message","status":"in_progress","content":[],)"
           R"("role":"assistant"}})"},
          {"response.content_part.added",
           R"({"type":"response.content_part.added","sequence_number":3,"item_id":"msg_68b2c1",)"
           R"("output_index":0,"content_index":0,"part":{"type":"output_text",)"
           R"("annotations":[],"text":""}})"},
          {"response.output_text.delta",
           R"({"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_68b2c1",)"
           R"("output_index":0,"content_index":0,"delta":"Hi","logprobs":[]})"},
          {"response.output_text.delta",
           R"({"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_68b2c1",)"
           R"("output_index":0,"content_index":0,"delta":" there.","logprobs":[]})"},
          {"response.output_text.done",
           R"({"type":"response.output_text.done","sequence_number":6,"item_id":"msg_68b2c1",)"
           R"("output_index":0,"content_index":0,"text":"Hi there.","logprobs":[]})"},
          {"response.completed",
           R"({"type":"response.completed","sequence_number":7,"response":)" + response +
               R"("status":"completed","usage":{"input_tokens":12,"input_tokens_details":)"
               R"({"cached_tokens":0},"output_tokens":4,"output_tokens_details":)"
               R"({"reasoning_tokens":0},"total_tokens":16}}})"},
      }};
}

Stream Anthropic() {
  return {
      "anthropic",
      {
          {"message_start",
           R"({"type":"message_start","message":{"id":"msg_01KpQz7vXw3Yb5Nc8Ld2Fh6J",)"
           R"("type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",)"
           R"("content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,)"
           R"("cache_creation_input_tokens":0,"cache_read_input_tokens":2048,)"
           R"("cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},)"
           R"("output_tokens":1,"service_tier":"standard"}}})"},
          {"content_block_start",
           R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
          {"ping", R"({"type": "ping"})"},
          {"content_block_delta",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta",)"
           R"("text":"Hello"}})"},
          {"content_block_delta",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta",)"
           R"("text":", world: a colon, then\ttab"}})"},
          {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
          {"message_delta",
           R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
           R"("usage":{"input_tokens":25,"cache_creation_input_tokens":0,)"
           R"("cache_read_input_tokens":2048,"output_tokens":15}})"},
          {"message_stop", R"({"type":"message_stop"})"},
      }};
}

Stream Gemini() {
  const std::string tail =
      R"("modelVersion":"gemini-2.5-flash","responseId":"k3xQaPz2Lr6Bz7IPs9mW8Ac"})";
  return {"gemini",
          {
              {"", R"({"candidates":[{"content":{"parts":[{"text":"The"}],"role":"model"},)"
                   R"("index":0}],"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8,)"
                   R"("promptTokensDetails":[{"modality":"TEXT","tokenCount":8}]},)" +
                       tail},
              {"", R"({"candidates":[{"content":{"parts":[{"text":" sky is blue."}],)"
                   R"("role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,)"
                   R"("totalTokenCount":8,"promptTokensDetails":[{"modality":"TEXT",)"
                   R"("tokenCount":8}]},)" +
                       tail},
              {"", R"({"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},)"
                   R"("finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,)"
                   R"("candidatesTokenCount":6,"totalTokenCount":40,"thoughtsTokenCount":26,)"
                   R"("promptTokensDetails":[{"modality":"TEXT","tokenCount":8}]},)" +
                       tail},
          }};
}

const std::vector<Stream>& Streams() {
  static const std::vector<Stream> streams = {OpenAiChat(), OpenAiResponses(), Anthropic(),
                                              Gemini()};
  return streams;
}

struct LineEnd {
  const char* name;
  std::string_view bytes;
};
constexpr LineEnd kLineEnds[] = {{"lf", "\n"}, {"crlf", "\r\n"}, {"cr", "\r"}};

// How the stream ends: as written, without its last blank line, or without
// any line end after the last data (all of them need Finish).
enum class Tail { kComplete, kNoBlankLine, kNoLineEnd };

using StreamParam = std::tuple<size_t /*stream*/, size_t /*line end*/, Tail>;

class GenAiSseStreamTest : public ::testing::TestWithParam<StreamParam> {
 protected:
  const Stream& stream() const { return Streams()[std::get<0>(GetParam())]; }

  std::string wire() const {
    std::string lf = Wire(stream());
    Tail tail = std::get<2>(GetParam());
    if (tail != Tail::kComplete) lf.pop_back();
    if (tail == Tail::kNoLineEnd) lf.pop_back();
    return WithLineEnds(lf, kLineEnds[std::get<1>(GetParam())].bytes);
  }
};

TEST_P(GenAiSseStreamTest, ParsesWhole) { EXPECT_EQ(Parse(wire()), stream().events); }

TEST_P(GenAiSseStreamTest, ParsesOneByteAtATime) {
  EXPECT_EQ(ParseBytewise(wire()), stream().events);
}

TEST_P(GenAiSseStreamTest, ParsesSplitAtEveryByteBoundary) {
  std::string w = wire();
  for (size_t cut = 0; cut <= w.size(); ++cut) {
    ASSERT_EQ(ParseCut(w, {cut}), stream().events) << "cut at " << cut;
  }
}

TEST_P(GenAiSseStreamTest, ParsesInThreeSlices) {
  std::string w = wire();
  for (size_t a = 0; a <= w.size(); a += 13) {
    for (size_t b = a; b <= w.size(); b += 101) {
      ASSERT_EQ(ParseCut(w, {a, b}), stream().events) << "cuts at " << a << ", " << b;
    }
  }
}

// Each event is dispatched as soon as the blank line ending it has arrived,
// never before: a parser fed any incomplete prefix has dispatched exactly the
// events ended within it, and the rest completes the stream.
TEST_P(GenAiSseStreamTest, EveryIncompletePrefixThenTheRest) {
  std::string w = wire();
  // Where each event ended: the input length at its dispatch, byte by byte.
  std::vector<size_t> ends;
  {
    SseParser parser;
    size_t fed = 0;
    auto on_event = [&](std::string_view, std::string_view) { ends.push_back(fed); };
    for (char c : w) {
      ++fed;
      parser.Feed(std::string_view(&c, 1), on_event);
    }
    fed = w.size() + 1;  // dispatched by Finish
    parser.Finish(on_event);
  }
  ASSERT_EQ(ends.size(), stream().events.size());
  for (size_t i = 0; i < ends.size(); ++i) {
    if (ends[i] > w.size()) {
      // Only the last event, only when the stream lacks its blank line.
      EXPECT_EQ(i + 1, ends.size());
      EXPECT_NE(std::get<2>(GetParam()), Tail::kComplete);
      continue;
    }
    // A blank line: two line-end bytes (CR or LF) just before the dispatch.
    ASSERT_GE(ends[i], 2u);
    EXPECT_NE("\r\n"sv.find(w[ends[i] - 1]), std::string_view::npos) << ends[i];
    EXPECT_NE("\r\n"sv.find(w[ends[i] - 2]), std::string_view::npos) << ends[i];
  }

  for (size_t len = 0; len < w.size(); ++len) {
    SseParser parser;
    std::vector<Event> events;
    auto on_event = [&](std::string_view event, std::string_view data) {
      events.push_back({std::string(event), std::string(data)});
    };
    parser.Feed(std::string_view(w).substr(0, len), on_event);
    size_t ended = 0;
    while (ended < ends.size() && ends[ended] <= len) ++ended;
    ASSERT_EQ(events, std::vector<Event>(stream().events.begin(),
                                         stream().events.begin() + static_cast<ptrdiff_t>(ended)))
        << "prefix of " << len;
    parser.Feed(std::string_view(w).substr(len), on_event);
    parser.Finish(on_event);
    ASSERT_EQ(events, stream().events) << "prefix of " << len << " then the rest";
  }
}

TEST_P(GenAiSseStreamTest, ParserIsReusableAfterFinish) {
  std::string w = wire();
  SseParser parser;
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  for (int round = 0; round < 3; ++round) {
    events.clear();
    parser.Feed(w, on_event);
    parser.Finish(on_event);
    EXPECT_EQ(events, stream().events) << "round " << round;
  }
  EXPECT_EQ(parser.oversized_events(), 0u);
}

std::string StreamParamName(const ::testing::TestParamInfo<StreamParam>& info) {
  static const char* const kTails[] = {"complete", "no_blank_line", "no_line_end"};
  return std::string(Streams()[std::get<0>(info.param)].name) + "_" +
         kLineEnds[std::get<1>(info.param)].name + "_" +
         kTails[static_cast<int>(std::get<2>(info.param))];
}

INSTANTIATE_TEST_SUITE_P(
    GenAiSse, GenAiSseStreamTest,
    ::testing::Combine(::testing::Range<size_t>(0, 4), ::testing::Range<size_t>(0, 3),
                       ::testing::Values(Tail::kComplete, Tail::kNoBlankLine, Tail::kNoLineEnd)),
    StreamParamName);

// --- The field rules ---------------------------------------------------------

struct RuleCase {
  std::string wire;  // with '\n' line ends, also run with "\r\n" and "\r"
  std::vector<Event> events;
};

// Runs every case whole, byte by byte and split at every boundary, in each
// line-end style unless `as_is`.
void ExpectRules(const std::vector<RuleCase>& cases, bool as_is = false) {
  for (const RuleCase& c : cases) {
    for (const LineEnd& end : kLineEnds) {
      if (as_is && end.bytes != "\n") continue;
      std::string w = WithLineEnds(c.wire, end.bytes);
      SCOPED_TRACE(::testing::PrintToString(w));
      EXPECT_EQ(Parse(w), c.events);
      EXPECT_EQ(ParseBytewise(w), c.events);
      for (size_t cut = 0; cut <= w.size(); ++cut) {
        EXPECT_EQ(ParseCut(w, {cut}), c.events) << "cut at " << cut;
      }
    }
  }
}

TEST(GenAiSseTest, DataLines) {
  ExpectRules({
      {"data: x\n\n", {{"", "x"}}},
      {"data:x\n\n", {{"", "x"}}},      // the space is optional
      {"data:  x\n\n", {{"", " x"}}},   // only one is stripped
      {"data:\tx\n\n", {{"", "\tx"}}},  // a tab is not
      {"data: x \n\n", {{"", "x "}}},   // trailing spaces stay
      {"data:\n\n", {{"", ""}}},        // empty data is still an event
      {"data: \n\n", {{"", ""}}},
      {"data\n\n", {{"", ""}}},  // no colon: the whole line is the name
      {"data: a\ndata: b\n\n", {{"", "a\nb"}}},
      {"data: a\ndata:\ndata: c\n\n", {{"", "a\n\nc"}}},
      {"data:\ndata:\n\n", {{"", "\n"}}},
      {"data: a\ndata\n\n", {{"", "a\n"}}},
      {"data: a:b: c\n\n", {{"", "a:b: c"}}},  // only the first colon splits
      {"data: {\"k\": [1, 2]}\n\n", {{"", "{\"k\": [1, 2]}"}}},
      {"data: [DONE]\n\n", {{"", "[DONE]"}}},
      {"data: x\0y\xff\xfe\n\n"s, {{"", "x\0y\xff\xfe"s}}},  // bytes as they came
      {"data: x\n\ndata: y\n\n", {{"", "x"}, {"", "y"}}},
      {"\n\n\ndata: x\n\n\n\n", {{"", "x"}}},  // extra blank lines dispatch nothing
  });
}

TEST(GenAiSseTest, EventTypes) {
  ExpectRules({
      {"event: e\ndata: x\n\n", {{"e", "x"}}},
      {"data: x\nevent: e\n\n", {{"e", "x"}}},  // in any order
      {"event:e\ndata: x\n\n", {{"e", "x"}}},
      {"event: a\nevent: b\ndata: x\n\n", {{"b", "x"}}},  // the last wins
      {"event: a b \ndata: x\n\n", {{"a b ", "x"}}},
      {"event:\ndata: x\n\n", {{"", "x"}}},
      {"event\ndata: x\n\n", {{"", "x"}}},
      {"event: message\ndata: x\n\n", {{"message", "x"}}},
      // An event without data is not dispatched, and its type does not leak.
      {"event: ping\n\n", {}},
      {"event: a\n\ndata: x\n\n", {{"", "x"}}},
      {"event: a\ndata: x\n\nevent: b\ndata: y\n\ndata: z\n\n",
       {{"a", "x"}, {"b", "y"}, {"", "z"}}},
  });
}

TEST(GenAiSseTest, IgnoredLines) {
  ExpectRules({
      {": keep-alive\n\n", {}},
      {":\n\n", {}},
      {": data: x\n\n", {}},
      {": OPENROUTER PROCESSING\n\ndata: x\n\n", {{"", "x"}}},
      {"data: a\n: comment\ndata: b\n\n", {{"", "a\nb"}}},
      {"id: 1\nretry: 1000\ndata: x\n\n", {{"", "x"}}},
      {"id: 1\n\n", {}},
      {"retry: 10\n\n", {}},
      {"foo: bar\ndata: x\nbar\n\n", {{"", "x"}}},
      {"Data: x\n\nDATA: y\n\nEvent: e\ndata: z\n\n", {{"", "z"}}},  // case-sensitive
      {"data : x\n\n", {}},
      {" data: x\n\n", {}},
      {"dat: x\n\ndatax: y\n\n", {}},
      {"eventually: x\ndata: y\n\n", {{"", "y"}}},
      {"data_and_more_than_that: x\n\n", {}},
  });
}

TEST(GenAiSseTest, ByteOrderMark) {
  const std::string bom = "\xEF\xBB\xBF";
  ExpectRules({
      {bom + "data: x\n\n", {{"", "x"}}},
      {bom + ": comment\ndata: x\n\n", {{"", "x"}}},
      // Only one, only at the start.
      {bom + bom + "data: x\n\n", {}},
      {"data: x\n\n" + bom + "data: y\n\n", {{"", "x"}}},
      {"data: " + bom + "x\n\n", {{"", bom + "x"}}},
      // Part of a BOM is not one: its bytes stay in the field name.
      {bom.substr(0, 2) + "data: x\n\n", {}},
      {bom.substr(0, 1) + "data: x\n\n", {}},
      {bom.substr(0, 2) + "\n\ndata: y\n\n", {{"", "y"}}},
      {bom, {}},
      {bom.substr(0, 2), {}},
      {bom.substr(0, 1), {}},
  });
}

TEST(GenAiSseTest, LineEnds) {
  ExpectRules(
      {
          {"data: a\r\ndata: b\rdata: c\n\r\n", {{"", "a\nb\nc"}}},  // mixed
          {"data: a\n\r", {{"", "a"}}},                              // LF then CR: two ends
          {"data: a\r\r", {{"", "a"}}},
          {"data: a\r\n\r\n\r\ndata: b\r\r\n", {{"", "a"}, {"", "b"}}},
      },
      /*as_is=*/true);
}

TEST(GenAiSseTest, DispatchesAtTheBlankLineNotBefore) {
  SseParser parser;
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  parser.Feed("event: e\ndata: a\n", on_event);
  EXPECT_TRUE(events.empty());
  parser.Feed("data: b", on_event);
  EXPECT_TRUE(events.empty());
  parser.Feed("\r", on_event);
  EXPECT_TRUE(events.empty());
  parser.Feed("\n", on_event);  // ends the line "data: b" with the CR: not a blank line
  EXPECT_TRUE(events.empty());
  parser.Feed("\r", on_event);  // a blank line, dispatched before its LF comes
  EXPECT_EQ(events, (std::vector<Event>{{"e", "a\nb"}}));
  parser.Feed("\n", on_event);  // the LF of that CRLF: nothing more
  parser.Feed("\n", on_event);  // another blank line, with nothing to dispatch
  parser.Finish(on_event);
  EXPECT_EQ(events, (std::vector<Event>{{"e", "a\nb"}}));
}

TEST(GenAiSseTest, FinishDispatchesTheLastEventAndResets) {
  ExpectRules({
      {"data: x", {{"", "x"}}},
      {"data: x\n", {{"", "x"}}},
      {"data", {{"", ""}}},
      {"data:", {{"", ""}}},
      {"data: ", {{"", ""}}},
      {"data: a\ndata: b", {{"", "a\nb"}}},
      {"event: e\ndata: x", {{"e", "x"}}},
      {"data: x\nevent: e", {{"e", "x"}}},
      {"data: x\nevent", {{"", "x"}}},
      {"data: x\n\ndata: y", {{"", "x"}, {"", "y"}}},
      {"data: x\n:", {{"", "x"}}},
      {"event: e", {}},
      {": comment", {}},
      {"dat", {}},
      {"", {}},
  });

  SseParser parser;
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  parser.Feed("event: e\ndata: x\r", on_event);
  parser.Finish(on_event);
  parser.Finish(on_event);  // nothing left to dispatch
  EXPECT_EQ(events, (std::vector<Event>{{"e", "x"}}));
  // A new stream: no event type carried over, a "\n" first is its own blank
  // line (not the end of the CR before Finish), and a BOM is skipped again.
  parser.Feed("\xEF\xBB\xBF\ndata: y\n\n", on_event);
  EXPECT_EQ(events, (std::vector<Event>{{"e", "x"}, {"", "y"}}));
  // An unfinished line does not leak into the next stream either.
  parser.Feed("data: z\ndat", on_event);
  parser.Finish(on_event);
  parser.Feed("a: w\n\n", on_event);
  EXPECT_EQ(events, (std::vector<Event>{{"e", "x"}, {"", "y"}, {"", "z"}}));
}

// --- The event size bound ------------------------------------------------------

TEST(GenAiSseTest, OversizedEventIsCountedAndTheNextOnesParsed) {
  struct Case {
    std::string wire;
    std::vector<Event> events;
    uint64_t oversized;
  };
  const size_t max = 16;
  const std::string x16(16, 'x');
  const std::string x17(17, 'x');
  const std::vector<Case> cases = {
      {"data: " + x16 + "\n\ndata: ok\n\n", {{"", x16}, {"", "ok"}}, 0},
      {"data: " + x17 + "\n\ndata: ok\n\n", {{"", "ok"}}, 1},
      // Joining newlines count.
      {"data: 12345678\ndata: 1234567\n\n", {{"", "12345678\n1234567"}}, 0},
      {"data: 12345678\ndata: 12345678\n\ndata: ok\n\n", {{"", "ok"}}, 1},
      {"data: 12345678\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\n\n",
       {{"", "12345678\n\n\n\n\n\n\n\n"}},
       0},
      {"data: 12345678\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\ndata:\n\n", {}, 1},
      // So does the event type.
      {"event: abcd\ndata: 123456789012\n\n", {{"abcd", "123456789012"}}, 0},
      {"event: abcd\ndata: 1234567890123\n\nevent: e\ndata: ok\n\n", {{"e", "ok"}}, 1},
      {"data: 1234567890123\nevent: abcd\n\ndata: ok\n\n", {{"", "ok"}}, 1},
      // Once over, the event stays dropped.
      {"event: " + x17 + "\nevent: a\ndata: x\n\ndata: ok\n\n", {{"", "ok"}}, 1},
      // Without data it would not have been dispatched: not counted.
      {"event: " + x17 + "\n\ndata: ok\n\n", {{"", "ok"}}, 0},
      // Ignored lines do not count, however long.
      {": " + std::string(100, 'c') + "\ndata: ok\n\n", {{"", "ok"}}, 0},
      {"id: " + std::string(100, '1') + "\ndata: ok\n\n", {{"", "ok"}}, 0},
      {std::string(100, 'f') + ": v\ndata: ok\n\n", {{"", "ok"}}, 0},
      // Several, and one at the end dispatched by Finish.
      {"data: " + x17 + "\n\ndata: a\n\ndata: " + x17 + "\n\ndata: b\n\ndata: " + x17,
       {{"", "a"}, {"", "b"}},
       3},
  };
  for (const Case& c : cases) {
    for (const LineEnd& end : kLineEnds) {
      std::string w = WithLineEnds(c.wire, end.bytes);
      SCOPED_TRACE(::testing::PrintToString(w));
      uint64_t oversized = 0;
      EXPECT_EQ(Parse(w, max, &oversized), c.events);
      EXPECT_EQ(oversized, c.oversized);
      EXPECT_EQ(ParseBytewise(w, max, &oversized), c.events);
      EXPECT_EQ(oversized, c.oversized);
      for (size_t cut = 0; cut <= w.size(); ++cut) {
        EXPECT_EQ(ParseCut(w, {cut}, max, &oversized), c.events) << "cut at " << cut;
        EXPECT_EQ(oversized, c.oversized) << "cut at " << cut;
      }
    }
  }
}

TEST(GenAiSseTest, HugeEventKeepsMemoryBounded) {
  const size_t max = 1 << 20;
  SseParser parser(max);
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  parser.Feed("data: first\n\nevent: big\ndata: ", on_event);
  const std::string chunk(4096, 'y');
  for (int i = 0; i < 2560; ++i) {  // a 10 MiB line
    parser.Feed(chunk, on_event);
    ASSERT_LE(parser.buffered_bytes(), max);
  }
  parser.Feed("\ndata: more\n\ndata: last\n\n", on_event);
  parser.Finish(on_event);
  EXPECT_EQ(events, (std::vector<Event>{{"", "first"}, {"", "last"}}));
  EXPECT_EQ(parser.oversized_events(), 1u);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(GenAiSseTest, EventAtTheBoundIsKeptWhole) {
  const size_t max = 1 << 20;
  std::string data(max - 5, 'z');
  uint64_t oversized = 0;
  std::vector<Event> events = Parse("event: large\ndata: " + data + "\n\n", max, &oversized);
  EXPECT_EQ(oversized, 0u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "large");
  EXPECT_EQ(events[0].data, data);
  events = Parse("event: large\ndata: " + data + "z\n\n", max, &oversized);
  EXPECT_EQ(oversized, 1u);
  EXPECT_TRUE(events.empty());
}

// Random streams from the syntax's own pieces: whatever they mean, the events
// and the oversized count do not depend on the slicing.
TEST(GenAiSseTest, RandomStreamsParseTheSameHoweverSliced) {
  static const char* const kPieces[] = {"data", "event", "id",   "retry", "dat",    ":",
                                        ": ",   " ",     "\r",   "\n",    "\r\n",   "x",
                                        "yz",   "\xEF",  "\xBB", "\xBF",  "message"};
  std::mt19937 rng(20260101);
  for (int round = 0; round < 400; ++round) {
    std::string wire;
    size_t pieces = rng() % 60;
    for (size_t i = 0; i < pieces; ++i) wire += kPieces[rng() % std::size(kPieces)];
    SCOPED_TRACE(::testing::PrintToString(wire));
    const size_t max = 1 + rng() % 12;
    uint64_t whole_oversized = 0;
    std::vector<Event> whole = Parse(wire, max, &whole_oversized);
    uint64_t oversized = 0;
    EXPECT_EQ(ParseBytewise(wire, max, &oversized), whole);
    EXPECT_EQ(oversized, whole_oversized);
    std::vector<size_t> cuts;
    for (size_t i = 1; i < wire.size(); ++i) {
      if (rng() % 4 == 0) cuts.push_back(i);
    }
    EXPECT_EQ(ParseCut(wire, cuts, max, &oversized), whole);
    EXPECT_EQ(oversized, whole_oversized);
    for (const Event& e : whole) EXPECT_LE(e.event.size() + e.data.size(), max);
    if (HasFailure()) return;
  }
}

// --- Decompression, then SSE ---------------------------------------------------

std::string Compress(Encoding encoding, std::string_view in) {
  std::string out;
  if (encoding == Encoding::kGzip || encoding == Encoding::kDeflate) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, encoding == Encoding::kGzip ? 16 + 15 : 15, 8,
                           Z_DEFAULT_STRATEGY),
              Z_OK);
    out.resize(deflateBound(&z, in.size()));
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
  } else if (encoding == Encoding::kBrotli) {
    size_t size = BrotliEncoderMaxCompressedSize(in.size());
    out.resize(size);
    EXPECT_TRUE(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, in.size(),
                                      reinterpret_cast<const uint8_t*>(in.data()), &size,
                                      reinterpret_cast<uint8_t*>(out.data())));
    out.resize(size);
  } else if (encoding == Encoding::kZstd) {
    out.resize(ZSTD_compressBound(in.size()));
    out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  }
  return out;
}

// Body bytes in two slices -> decoder -> parser, the way a response is read.
std::vector<Event> DecodeAndParse(Encoding encoding, std::string_view body, size_t cut) {
  std::unique_ptr<Decoder> decoder = Decoder::Make(encoding, 1 << 20);
  SseParser parser;
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  for (std::string_view slice : {body.substr(0, cut), body.substr(cut)}) {
    std::string decoded;
    EXPECT_TRUE(decoder->Feed(slice, &decoded)) << decoder->error();
    parser.Feed(decoded, on_event);
  }
  std::string rest;
  EXPECT_TRUE(decoder->Finish(&rest)) << decoder->error();
  parser.Feed(rest, on_event);
  parser.Finish(on_event);
  return events;
}

TEST(GenAiSseTest, ComposesWithDecompressionSplitAtEveryBoundary) {
  for (const Stream& stream : Streams()) {
    std::string wire = Wire(stream);
    for (Encoding encoding : {Encoding::kGzip, Encoding::kDeflate, Encoding::kBrotli,
                              Encoding::kZstd, Encoding::kIdentity}) {
      std::string body = encoding == Encoding::kIdentity ? wire : Compress(encoding, wire);
      ASSERT_FALSE(body.empty());
      for (size_t cut = 0; cut <= body.size(); ++cut) {
        ASSERT_EQ(DecodeAndParse(encoding, body, cut), stream.events)
            << stream.name << " " << EncodingName(encoding) << " cut at " << cut;
      }
    }
  }
}

TEST(GenAiSseTest, ComposesWithGzipFedOneByteAtATime) {
  std::string wire = WithLineEnds(Wire(Anthropic()), "\r\n");
  std::string body = Compress(Encoding::kGzip, wire);
  std::unique_ptr<Decoder> decoder = Decoder::Make(Encoding::kGzip, 1 << 20);
  SseParser parser;
  std::vector<Event> events;
  auto on_event = [&](std::string_view event, std::string_view data) {
    events.push_back({std::string(event), std::string(data)});
  };
  for (char c : body) {
    std::string decoded;
    ASSERT_TRUE(decoder->Feed(std::string_view(&c, 1), &decoded));
    parser.Feed(decoded, on_event);
  }
  std::string rest;
  EXPECT_TRUE(decoder->Finish(&rest));
  parser.Feed(rest, on_event);
  parser.Finish(on_event);
  EXPECT_EQ(events, Anthropic().events);
}

}  // namespace
}  // namespace sightline::genai
