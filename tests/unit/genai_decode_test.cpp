// Body decompression: payloads compressed here with the real libraries (zlib's
// gzip, zlib and raw deflate; brotli; zstd) decode back exactly whole, split
// at every byte boundary and one byte at a time; concatenated gzip members and
// zstd frames; corrupt input (specific cases and every single-byte
// corruption), truncated input, trailing data, the output bound and empty
// input.
#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "genai/decode.h"

namespace sightline::genai {
namespace {

using namespace std::literals;

constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

// --- Compressors -------------------------------------------------------------

// window_bits as deflateInit2 takes them: 16+w gzip, w zlib, -w raw.
std::string Deflate(std::string_view in, int window_bits, int level = Z_DEFAULT_COMPRESSION) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Gzip(std::string_view in) { return Deflate(in, 16 + 15); }
std::string Zlib(std::string_view in) { return Deflate(in, 15); }
std::string RawDeflate(std::string_view in) { return Deflate(in, -15); }

std::string Brotli(std::string_view in, int quality = 5) {
  size_t size = BrotliEncoderMaxCompressedSize(in.size());
  if (size == 0) size = in.size() + 1024;
  std::string out(size, '\0');
  EXPECT_EQ(BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, in.size(),
                                  reinterpret_cast<const uint8_t*>(in.data()), &size,
                                  reinterpret_cast<uint8_t*>(out.data())),
            BROTLI_TRUE);
  out.resize(size);
  return out;
}

std::string Zstd(std::string_view in, int level = 3) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t size = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  EXPECT_FALSE(ZSTD_isError(size)) << ZSTD_getErrorName(size);
  out.resize(size);
  return out;
}

// A frame ending in an XXH64 content checksum.
std::string ZstdChecksummed(std::string_view in) {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t size = ZSTD_compress2(ctx, out.data(), out.size(), in.data(), in.size());
  EXPECT_FALSE(ZSTD_isError(size)) << ZSTD_getErrorName(size);
  out.resize(size);
  ZSTD_freeCCtx(ctx);
  return out;
}

// --- Payloads ----------------------------------------------------------------

struct Payload {
  const char* name;
  std::string bytes;
};

std::string ChatCompletionJson() {
  return R"({"id":"chatcmpl-Cq2x7TnYbF0aR1kQ9zLwPe4Hs8Vd","object":"chat.completion",)"
         R"("created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,)"
         R"("message":{"role":"assistant","content":"Sightline counts tokens on the wire: )"
         R"(it reads the plaintext where the program hands it to its TLS library, )"
         R"(undoes the chunked framing and the Content-Encoding, then parses the JSON.",)"
         R"("refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],)"
         R"("usage":{"prompt_tokens":1234,"completion_tokens":56,"total_tokens":1290,)"
         R"("prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},)"
         R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
         R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
         R"("service_tier":"default","system_fingerprint":"fp_7c1a9e02b3"})";
}

// Incompressible: encoders fall back to stored blocks.
std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Compressible but not trivially: words drawn at random.
std::string RandomWords(size_t n, uint32_t seed) {
  static const char* const kWords[] = {
      "token", "usage", "model", "stream", "delta", "choice", "content", "cache", "input", "output",
      "{",     "}",     "\"",    ":",      ",",     "\n",     " ",       "42",    "1729"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) s += kWords[rng() % std::size(kWords)];
  s.resize(n);
  return s;
}

// Far larger than the decoders' scratch buffer, but tiny once compressed.
std::string RepetitiveStream(size_t n) {
  std::string line = "data: {\"type\":\"ping\"}\n\n";
  std::string s;
  while (s.size() < n) s += line;
  s.resize(n);
  return s;
}

const std::vector<Payload>& Payloads() {
  static const std::vector<Payload> payloads = {
      {"empty", ""},
      {"one_byte", "x"},
      {"short", "hello"},
      {"binary_short", "\0\xff\r\n\x1f\x8b"s},
      {"json", ChatCompletionJson()},
      {"random_bytes", RandomBytes(3000, 1)},
      {"random_words", RandomWords(5000, 2)},
      {"large_repetitive", RepetitiveStream(200 * 1024)},
  };
  return payloads;
}

// --- Codecs under test -------------------------------------------------------

struct Codec {
  const char* name;
  Encoding encoding;
  std::function<std::string(std::string_view)> compress;
  // Checked by a checksum: a corruption can never decode to other bytes.
  bool checksummed;
};

void PrintTo(const Codec& codec, std::ostream* os) { *os << codec.name; }

const std::vector<Codec>& Codecs() {
  static const std::vector<Codec> codecs = {
      {"identity", Encoding::kIdentity, [](std::string_view s) { return std::string(s); }, false},
      {"gzip", Encoding::kGzip, Gzip, true},
      {"gzip_level1", Encoding::kGzip, [](std::string_view s) { return Deflate(s, 16 + 15, 1); },
       true},
      {"gzip_level9_small_window", Encoding::kGzip,
       [](std::string_view s) { return Deflate(s, 16 + 9, 9); }, true},
      {"deflate_zlib", Encoding::kDeflate, Zlib, true},
      {"deflate_zlib_small_window", Encoding::kDeflate,
       [](std::string_view s) { return Deflate(s, 10); }, true},
      {"deflate_raw", Encoding::kDeflate, RawDeflate, false},
      {"deflate_raw_level1", Encoding::kDeflate,
       [](std::string_view s) { return Deflate(s, -15, 1); }, false},
      {"br", Encoding::kBrotli, [](std::string_view s) { return Brotli(s); }, false},
      {"br_quality11", Encoding::kBrotli, [](std::string_view s) { return Brotli(s, 11); }, false},
      {"br_quality0", Encoding::kBrotli, [](std::string_view s) { return Brotli(s, 0); }, false},
      {"zstd", Encoding::kZstd, [](std::string_view s) { return Zstd(s); }, false},
      {"zstd_level19", Encoding::kZstd, [](std::string_view s) { return Zstd(s, 19); }, false},
      {"zstd_checksum", Encoding::kZstd, ZstdChecksummed, true},
  };
  return codecs;
}

// --- Helpers -----------------------------------------------------------------

struct Outcome {
  bool fed = true;  // every Feed returned true
  bool finished = false;
  std::string out;
  std::string error;
  bool truncated = false;
  uint64_t dropped = 0;
  uint64_t decoded = 0;
};

// Feeds `in` cut at `cuts` (ascending offsets), then finishes.
Outcome DecodeCut(Encoding encoding, std::string_view in, const std::vector<size_t>& cuts,
                  size_t max_output = kUnbounded) {
  std::unique_ptr<Decoder> decoder = Decoder::Make(encoding, max_output);
  Outcome o;
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : in.size();
    size_t before = o.out.size();
    bool ok = decoder->Feed(in.substr(start, end - start), &o.out);
    if (!o.fed) {
      EXPECT_EQ(o.out.size(), before) << "output after a failure";
    }
    o.fed = o.fed && ok;
    EXPECT_EQ(ok, o.fed) << "Feed succeeded after a failure";
    start = end;
  }
  o.finished = decoder->Finish(&o.out);
  o.error = decoder->error();
  o.truncated = decoder->truncated();
  o.dropped = decoder->dropped_bytes();
  o.decoded = decoder->decoded_bytes();
  return o;
}

Outcome DecodeWhole(Encoding encoding, std::string_view in, size_t max_output = kUnbounded) {
  return DecodeCut(encoding, in, {}, max_output);
}

Outcome DecodeBytewise(Encoding encoding, std::string_view in, size_t max_output = kUnbounded) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < in.size(); ++i) cuts.push_back(i);
  return DecodeCut(encoding, in, cuts, max_output);
}

void ExpectDecoded(const Outcome& o, std::string_view expected) {
  EXPECT_TRUE(o.fed) << o.error;
  EXPECT_TRUE(o.finished) << o.error;
  EXPECT_EQ(o.error, "");
  EXPECT_TRUE(o.out == expected) << "decoded " << o.out.size() << " bytes, expected "
                                 << expected.size();
  EXPECT_FALSE(o.truncated);
  EXPECT_EQ(o.dropped, 0u);
  EXPECT_EQ(o.decoded, expected.size());
}

// --- Content-Encoding --------------------------------------------------------

TEST(GenAiDecodeEncodingTest, ParsesHeaderValues) {
  struct Case {
    std::string_view value;
    Encoding expected;
  };
  const Case cases[] = {
      {"gzip", Encoding::kGzip},
      {"x-gzip", Encoding::kGzip},
      {"GZIP", Encoding::kGzip},
      {"X-Gzip", Encoding::kGzip},
      {"  gzip\t", Encoding::kGzip},
      {"deflate", Encoding::kDeflate},
      {"Deflate", Encoding::kDeflate},
      {"br", Encoding::kBrotli},
      {"BR", Encoding::kBrotli},
      {" br ", Encoding::kBrotli},
      {"zstd", Encoding::kZstd},
      {"ZStd", Encoding::kZstd},
      {"identity", Encoding::kIdentity},
      {"IDENTITY", Encoding::kIdentity},
      {"", Encoding::kIdentity},
      {"   ", Encoding::kIdentity},
      {",", Encoding::kIdentity},
      // Lists: empty elements and identity dropped, two real codings stacked.
      {"gzip,", Encoding::kGzip},
      {", br", Encoding::kBrotli},
      {"identity, gzip", Encoding::kGzip},
      {"gzip, identity", Encoding::kGzip},
      {"gzip, br", Encoding::kUnsupported},
      {"gzip,gzip", Encoding::kUnsupported},
      {"deflate, gzip", Encoding::kUnsupported},
      {"br , zstd ,", Encoding::kUnsupported},
      // Other codings, and near misses.
      {"compress", Encoding::kUnsupported},
      {"x-compress", Encoding::kUnsupported},
      {"x-deflate", Encoding::kUnsupported},
      {"bzip2", Encoding::kUnsupported},
      {"gzip2", Encoding::kUnsupported},
      {"gz", Encoding::kUnsupported},
      {"brotli", Encoding::kUnsupported},
      {"g zip", Encoding::kUnsupported},
      {"gzip;q=1", Encoding::kUnsupported},
      {"gzip, compress", Encoding::kUnsupported},
      {"\xff", Encoding::kUnsupported},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseContentEncoding(c.value), c.expected) << '"' << c.value << '"';
  }
}

TEST(GenAiDecodeEncodingTest, Names) {
  EXPECT_EQ(EncodingName(Encoding::kIdentity), "identity");
  EXPECT_EQ(EncodingName(Encoding::kGzip), "gzip");
  EXPECT_EQ(EncodingName(Encoding::kDeflate), "deflate");
  EXPECT_EQ(EncodingName(Encoding::kBrotli), "br");
  EXPECT_EQ(EncodingName(Encoding::kZstd), "zstd");
  EXPECT_EQ(EncodingName(Encoding::kUnsupported), "unsupported");
  // Every name but "unsupported" parses back.
  for (Encoding e : {Encoding::kIdentity, Encoding::kGzip, Encoding::kDeflate, Encoding::kBrotli,
                     Encoding::kZstd}) {
    EXPECT_EQ(ParseContentEncoding(EncodingName(e)), e);
  }
}

TEST(GenAiDecodeEncodingTest, MakesADecoderPerSupportedEncoding) {
  EXPECT_EQ(Decoder::Make(Encoding::kUnsupported, 100), nullptr);
  for (Encoding e : {Encoding::kIdentity, Encoding::kGzip, Encoding::kDeflate, Encoding::kBrotli,
                     Encoding::kZstd}) {
    std::unique_ptr<Decoder> decoder = Decoder::Make(e, 100);
    ASSERT_NE(decoder, nullptr);
    EXPECT_EQ(decoder->encoding(), e);
    EXPECT_FALSE(decoder->failed());
    EXPECT_FALSE(decoder->truncated());
    EXPECT_EQ(decoder->error(), "");
  }
}

// --- Every codec ---------------------------------------------------------------

class GenAiDecodeCodecTest : public ::testing::TestWithParam<Codec> {};

TEST_P(GenAiDecodeCodecTest, DecodesWhole) {
  for (const Payload& p : Payloads()) {
    SCOPED_TRACE(p.name);
    ExpectDecoded(DecodeWhole(GetParam().encoding, GetParam().compress(p.bytes)), p.bytes);
  }
}

TEST_P(GenAiDecodeCodecTest, DecodesSplitAtEveryByteBoundary) {
  for (const Payload& p : Payloads()) {
    std::string compressed = GetParam().compress(p.bytes);
    for (size_t cut = 0; cut <= compressed.size(); ++cut) {
      SCOPED_TRACE(std::string(p.name) + " cut at " + std::to_string(cut));
      ExpectDecoded(DecodeCut(GetParam().encoding, compressed, {cut}), p.bytes);
      if (HasFailure()) return;
    }
  }
}

TEST_P(GenAiDecodeCodecTest, DecodesOneByteAtATime) {
  for (const Payload& p : Payloads()) {
    SCOPED_TRACE(p.name);
    ExpectDecoded(DecodeBytewise(GetParam().encoding, GetParam().compress(p.bytes)), p.bytes);
  }
}

TEST_P(GenAiDecodeCodecTest, DecodesAcrossThreeFeedsAndEmptyFeeds) {
  const Payload& p = Payloads()[5];  // random_bytes
  std::string compressed = GetParam().compress(p.bytes);
  for (size_t a = 0; a <= compressed.size(); a += 7) {
    for (size_t b = a; b <= compressed.size(); b += 97) {
      SCOPED_TRACE("cuts at " + std::to_string(a) + ", " + std::to_string(b));
      // Cutting twice at the same offset feeds an empty slice.
      ExpectDecoded(DecodeCut(GetParam().encoding, compressed, {a, a, b, b}), p.bytes);
      if (HasFailure()) return;
    }
  }
}

TEST_P(GenAiDecodeCodecTest, NoInputAtAllIsAnEmptyBody) {
  std::unique_ptr<Decoder> decoder = Decoder::Make(GetParam().encoding, 10);
  std::string out;
  EXPECT_TRUE(decoder->Feed("", &out));
  EXPECT_TRUE(decoder->Feed({}, &out));
  EXPECT_TRUE(decoder->Finish(&out));
  EXPECT_EQ(out, "");
  EXPECT_EQ(decoder->error(), "");
  EXPECT_EQ(decoder->decoded_bytes(), 0u);
  EXPECT_TRUE(decoder->Finish(&out));  // the same answer again
  // Input after the end is refused.
  EXPECT_FALSE(decoder->Feed("x", &out));
  EXPECT_EQ(decoder->error(), "input after Finish");
  EXPECT_EQ(out, "");
  EXPECT_FALSE(decoder->Finish(&out));
}

TEST_P(GenAiDecodeCodecTest, EveryProperPrefixIsTruncated) {
  if (GetParam().encoding == Encoding::kIdentity) GTEST_SKIP() << "identity has no end marker";
  for (const Payload& p : Payloads()) {
    if (p.bytes.size() > 6000) continue;  // the large one adds nothing but time
    std::string compressed = GetParam().compress(p.bytes);
    for (size_t len = 1; len < compressed.size(); ++len) {
      SCOPED_TRACE(std::string(p.name) + " prefix of " + std::to_string(len));
      std::unique_ptr<Decoder> decoder = Decoder::Make(GetParam().encoding, kUnbounded);
      std::string out;
      EXPECT_TRUE(decoder->Feed(std::string_view(compressed).substr(0, len), &out))
          << decoder->error();
      EXPECT_TRUE(p.bytes.starts_with(out)) << "a prefix decodes to a prefix";
      EXPECT_FALSE(decoder->Finish(&out));
      EXPECT_EQ(decoder->error(), "truncated input");
      EXPECT_TRUE(decoder->failed());
      // Failed for good.
      std::string later;
      EXPECT_FALSE(decoder->Feed(std::string_view(compressed).substr(len), &later));
      EXPECT_EQ(later, "");
      EXPECT_EQ(decoder->error(), "truncated input");
      EXPECT_FALSE(decoder->Finish(&later));
      if (HasFailure()) return;
    }
  }
}

TEST_P(GenAiDecodeCodecTest, BoundsTheOutputExactly) {
  for (const Payload& p : Payloads()) {
    std::string compressed = GetParam().compress(p.bytes);
    const size_t n = p.bytes.size();
    std::vector<size_t> bounds = {0, 1, n / 2, n, n + 1, kUnbounded};
    if (n > 0) bounds.push_back(n - 1);
    if (n > 20000) bounds.push_back(16 * 1024 + 1);  // inside the second scratch buffer
    for (size_t bound : bounds) {
      SCOPED_TRACE(std::string(p.name) + " bound " + std::to_string(bound));
      size_t kept = std::min(n, bound);
      for (const Outcome& o :
           {DecodeWhole(GetParam().encoding, compressed, bound),
            DecodeCut(GetParam().encoding, compressed, {compressed.size() / 3}, bound),
            DecodeBytewise(GetParam().encoding, compressed, bound)}) {
        EXPECT_TRUE(o.fed) << o.error;
        EXPECT_TRUE(o.finished) << o.error;  // the stream was still followed to its end
        EXPECT_TRUE(o.out == p.bytes.substr(0, kept));
        EXPECT_EQ(o.truncated, n > bound);
        EXPECT_EQ(o.dropped, n - kept);
        EXPECT_EQ(o.decoded, n);
      }
    }
  }
}

TEST_P(GenAiDecodeCodecTest, BoundedDecoderStillFindsCorruption) {
  if (!GetParam().checksummed) GTEST_SKIP() << "only a checksum finds every corruption";
  std::string payload = RandomWords(5000, 3);
  std::string compressed = GetParam().compress(payload);
  // The last byte belongs to the checksum.
  compressed.back() = static_cast<char>(compressed.back() ^ 0x01);
  Outcome o = DecodeWhole(GetParam().encoding, compressed, 10);
  EXPECT_FALSE(o.fed);
  EXPECT_FALSE(o.finished);
  EXPECT_NE(o.error, "");
  // Inflate hands out what it decoded before the checksum; zstd holds a block
  // back until it is verified.
  EXPECT_TRUE(payload.substr(0, 10).starts_with(o.out));
  if (GetParam().encoding != Encoding::kZstd) {
    EXPECT_EQ(o.out, payload.substr(0, 10));
  }
}

TEST_P(GenAiDecodeCodecTest, SurvivesEverySingleByteCorruption) {
  std::string payload = ChatCompletionJson();
  std::string compressed = GetParam().compress(payload);
  const size_t bound = payload.size() + 100;
  for (size_t i = 0; i < compressed.size(); ++i) {
    for (uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
      std::string corrupt = compressed;
      corrupt[i] = static_cast<char>(corrupt[i] ^ mask);
      SCOPED_TRACE("byte " + std::to_string(i) + " ^ " + std::to_string(mask));
      Outcome whole = DecodeWhole(GetParam().encoding, corrupt, bound);
      EXPECT_LE(whole.out.size(), bound);
      if (!whole.fed || !whole.finished) {
        EXPECT_NE(whole.error, "");
      } else {
        EXPECT_EQ(whole.error, "");
        if (GetParam().checksummed) {
          EXPECT_TRUE(whole.out == payload) << "undetected corruption";
        }
      }
      // Split anywhere, the verdict is the same; so are the error and the
      // output before it, except for the block-wise br and zstd.
      Outcome split = DecodeCut(GetParam().encoding, corrupt, {i}, bound);
      EXPECT_EQ(split.fed && split.finished, whole.fed && whole.finished);
      if (whole.fed && whole.finished) {
        EXPECT_TRUE(split.out == whole.out);
      } else if (GetParam().encoding != Encoding::kBrotli &&
                 GetParam().encoding != Encoding::kZstd) {
        EXPECT_EQ(split.error, whole.error);
        EXPECT_TRUE(split.out == whole.out);
      }
      if (HasFailure()) return;
    }
  }
}

TEST_P(GenAiDecodeCodecTest, GarbageIsCorruptOrTruncated) {
  if (GetParam().encoding == Encoding::kIdentity) GTEST_SKIP() << "identity takes anything";
  for (std::string garbage : {"not compressed at all"s, RandomBytes(64, 7), "\0\0\0\0\0\0\0\0"s}) {
    for (const Outcome& o : {DecodeWhole(GetParam().encoding, garbage),
                             DecodeBytewise(GetParam().encoding, garbage)}) {
      EXPECT_FALSE(o.fed && o.finished);
      EXPECT_NE(o.error, "");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(GenAiDecode, GenAiDecodeCodecTest, ::testing::ValuesIn(Codecs()),
                         [](const ::testing::TestParamInfo<Codec>& info) {
                           return std::string(info.param.name);
                         });

// --- Specific formats and failures ------------------------------------------

// Feeds `in` whole; expects a failure in Feed with `error`, and the decoder
// failed for good.
void ExpectCorrupt(Encoding encoding, std::string_view in, std::string_view error) {
  std::unique_ptr<Decoder> decoder = Decoder::Make(encoding, kUnbounded);
  std::string out;
  EXPECT_FALSE(decoder->Feed(in, &out));
  EXPECT_TRUE(decoder->failed());
  EXPECT_EQ(decoder->error(), error);
  std::string later;
  EXPECT_FALSE(decoder->Feed("more", &later));
  EXPECT_FALSE(decoder->Feed(in, &later));
  EXPECT_EQ(later, "");
  EXPECT_FALSE(decoder->Finish(&later));
  EXPECT_EQ(later, "");
  EXPECT_EQ(decoder->error(), error);
}

TEST(GenAiDecodeGzipTest, DecodesConcatenatedMembers) {
  std::string payload = "first member, " + RandomWords(3000, 4) + " last member";
  std::string wire =
      Gzip("first member, ") + Gzip(payload.substr(14, 3000)) + Gzip("") + Gzip(" last member");
  ExpectDecoded(DecodeWhole(Encoding::kGzip, wire), payload);
  ExpectDecoded(DecodeBytewise(Encoding::kGzip, wire), payload);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    SCOPED_TRACE(cut);
    ExpectDecoded(DecodeCut(Encoding::kGzip, wire, {cut}), payload);
    if (HasFailure()) return;
  }
}

TEST(GenAiDecodeGzipTest, StreamEndsOnlyAtAMemberBoundary) {
  std::string first = Gzip("one");
  std::string second = Gzip("two");
  std::string wire = first + second;
  for (size_t len = 1; len <= wire.size(); ++len) {
    SCOPED_TRACE(len);
    Outcome o = DecodeWhole(Encoding::kGzip, std::string_view(wire).substr(0, len));
    EXPECT_TRUE(o.fed);
    bool boundary = len == first.size() || len == wire.size();
    EXPECT_EQ(o.finished, boundary);
    EXPECT_EQ(o.error, boundary ? "" : "truncated input");
    if (len >= first.size()) {
      EXPECT_TRUE(o.out.starts_with("one"));
    }
  }
}

TEST(GenAiDecodeGzipTest, Corruption) {
  std::string payload = ChatCompletionJson();
  std::string good = Gzip(payload);
  std::string bad_magic = good;
  bad_magic[1] = '\x8c';
  ExpectCorrupt(Encoding::kGzip, bad_magic, "incorrect header check");
  std::string bad_method = good;
  bad_method[2] = 7;
  ExpectCorrupt(Encoding::kGzip, bad_method, "unknown compression method");
  std::string bad_crc = good;
  bad_crc[good.size() - 8] ^= 0x01;
  ExpectCorrupt(Encoding::kGzip, bad_crc, "incorrect data check");
  std::string bad_length = good;
  bad_length[good.size() - 4] ^= 0x01;
  ExpectCorrupt(Encoding::kGzip, bad_length, "incorrect length check");
  // A zlib stream is not gzip.
  ExpectCorrupt(Encoding::kGzip, Zlib(payload), "incorrect header check");
  // Bytes after a member that do not start another one.
  ExpectCorrupt(Encoding::kGzip, good + "trailing", "incorrect header check");

  // The output before the corruption is handed out, once.
  std::unique_ptr<Decoder> decoder = Decoder::Make(Encoding::kGzip, kUnbounded);
  std::string out;
  EXPECT_FALSE(decoder->Feed(bad_crc, &out));
  EXPECT_EQ(out, payload);
}

TEST(GenAiDecodeDeflateTest, TellsZlibFromRawByTheFirstTwoBytes) {
  std::string payload = ChatCompletionJson();
  // Every zlib compression level and window writes a header recognised as zlib.
  for (int window = 9; window <= 15; ++window) {
    for (int level = 0; level <= 9; ++level) {
      SCOPED_TRACE("window " + std::to_string(window) + " level " + std::to_string(level));
      ExpectDecoded(DecodeWhole(Encoding::kDeflate, Deflate(payload, window, level)), payload);
      ExpectDecoded(DecodeCut(Encoding::kDeflate, Deflate(payload, window, level), {1}), payload);
      ExpectDecoded(DecodeWhole(Encoding::kDeflate, Deflate(payload, -window, level)), payload);
      ExpectDecoded(DecodeCut(Encoding::kDeflate, Deflate(payload, -window, level), {1}), payload);
    }
  }
}

TEST(GenAiDecodeDeflateTest, Corruption) {
  std::string payload = ChatCompletionJson();
  std::string zlib = Zlib(payload);
  std::string bad_adler = zlib;
  bad_adler.back() ^= 0x01;
  ExpectCorrupt(Encoding::kDeflate, bad_adler, "incorrect data check");
  // A valid zlib header asking for a preset dictionary (FDICT) and its id.
  ExpectCorrupt(Encoding::kDeflate, "\x78\x20\x00\x00\x00\x01\x03\x00"s,
                "preset dictionary not supported");
  // Raw deflate with the reserved block type 3.
  ExpectCorrupt(Encoding::kDeflate, "\x07\x00"s, "invalid block type");
  // A stored block whose length and its complement disagree.
  ExpectCorrupt(Encoding::kDeflate, "\x01\x05\x00\x00\x00hello"s, "invalid stored block lengths");
  ExpectCorrupt(Encoding::kDeflate, zlib + "x", "trailing data after end of stream");
  ExpectCorrupt(Encoding::kDeflate, RawDeflate(payload) + "\0"s,
                "trailing data after end of stream");
  // Gzip is neither zlib nor valid raw deflate.
  Outcome o = DecodeWhole(Encoding::kDeflate, Gzip(payload));
  EXPECT_FALSE(o.fed && o.finished);
}

TEST(GenAiDecodeDeflateTest, TrailingDataAfterTheEndIsCaughtWhereverItIsSplit) {
  std::string wire = Zlib("hello") + "!";
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    SCOPED_TRACE(cut);
    Outcome o = DecodeCut(Encoding::kDeflate, wire, {cut});
    EXPECT_FALSE(o.fed);
    EXPECT_EQ(o.error, "trailing data after end of stream");
    EXPECT_EQ(o.out, "hello");
  }
}

TEST(GenAiDecodeDeflateTest, OneByteIsTruncated) {
  for (std::string_view first : {"\x78"sv, "\x01"sv}) {
    Outcome o = DecodeWhole(Encoding::kDeflate, first);
    EXPECT_TRUE(o.fed);
    EXPECT_FALSE(o.finished);
    EXPECT_EQ(o.error, "truncated input");
  }
}

TEST(GenAiDecodeBrotliTest, Corruption) {
  std::string payload = ChatCompletionJson();
  // The empty stream is one byte: WBITS 16, ISLAST, ISLASTEMPTY, zero padding.
  ExpectDecoded(DecodeWhole(Encoding::kBrotli, "\x06"), "");
  ExpectCorrupt(Encoding::kBrotli, "\x0e", "invalid brotli data (PADDING_2)");
  ExpectCorrupt(Encoding::kBrotli, Brotli(payload) + "x", "trailing data after end of stream");
  for (size_t cut = 0; cut <= 1; ++cut) {
    Outcome o = DecodeCut(Encoding::kBrotli, "\x06x", {cut});
    EXPECT_FALSE(o.fed);
    EXPECT_EQ(o.error, "trailing data after end of stream");
  }
}

TEST(GenAiDecodeZstdTest, DecodesConcatenatedAndSkippableFrames) {
  std::string payload = "first frame, " + RandomWords(3000, 5) + " last frame";
  // A skippable frame: magic 0x184D2A50 little-endian, 4-byte length, content.
  std::string skippable =
      "\x50\x2a\x4d\x18\x03\x00\x00\x00"
      "abc"s;
  std::string wire = skippable + Zstd("first frame, ") + Zstd(payload.substr(13, 3000)) +
                     skippable + Zstd("") + ZstdChecksummed(" last frame");
  ExpectDecoded(DecodeWhole(Encoding::kZstd, wire), payload);
  ExpectDecoded(DecodeBytewise(Encoding::kZstd, wire), payload);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    SCOPED_TRACE(cut);
    ExpectDecoded(DecodeCut(Encoding::kZstd, wire, {cut}), payload);
    if (HasFailure()) return;
  }
}

TEST(GenAiDecodeZstdTest, Corruption) {
  std::string payload = ChatCompletionJson();
  ExpectCorrupt(Encoding::kZstd, "not zstd", "Unknown frame descriptor");
  std::string bad_checksum = ZstdChecksummed(payload);
  bad_checksum.back() ^= 0x01;
  ExpectCorrupt(Encoding::kZstd, bad_checksum, "Restored data doesn't match checksum");
  ExpectCorrupt(Encoding::kZstd, Zstd(payload) + "trailing", "Unknown frame descriptor");
}

TEST(GenAiDecodeZstdTest, RefusesWindowsAboveEightMebibytes) {
  // A frame header announcing a 16 MiB window (Window_Descriptor exponent 14)
  // and no content size: the decoder would have to hold 16 MiB.
  std::string wire = "\x28\xb5\x2f\xfd\x00\x70"s;
  Outcome o = DecodeWhole(Encoding::kZstd, wire);
  EXPECT_FALSE(o.fed);
  EXPECT_EQ(o.error, "Frame requires too much memory for decoding");
  // 8 MiB is accepted (the frame is then merely incomplete).
  o = DecodeWhole(Encoding::kZstd, "\x28\xb5\x2f\xfd\x00\x68"s);
  EXPECT_TRUE(o.fed) << o.error;
  EXPECT_EQ(o.error, "truncated input");
}

TEST(GenAiDecodeIdentityTest, PassesThroughWithTheBound) {
  std::unique_ptr<Decoder> decoder = Decoder::Make(Encoding::kIdentity, 5);
  std::string out;
  EXPECT_TRUE(decoder->Feed("abc", &out));
  EXPECT_TRUE(decoder->Feed("defg", &out));
  EXPECT_TRUE(decoder->Feed("h", &out));
  EXPECT_TRUE(decoder->Finish(&out));
  EXPECT_EQ(out, "abcde");
  EXPECT_TRUE(decoder->truncated());
  EXPECT_EQ(decoder->dropped_bytes(), 3u);
  EXPECT_EQ(decoder->decoded_bytes(), 8u);
}

TEST(GenAiDecodeBoundTest, CountsAcrossCallsNotTheCallersString) {
  // The bound is on what the decoder appended in total, wherever it went.
  std::string payload = RandomWords(1000, 6);
  std::string wire = Gzip(payload);
  std::unique_ptr<Decoder> decoder = Decoder::Make(Encoding::kGzip, 600);
  std::string all;
  for (size_t i = 0; i < wire.size(); i += 50) {
    std::string out = "prefix";
    EXPECT_TRUE(decoder->Feed(std::string_view(wire).substr(i, 50), &out));
    ASSERT_TRUE(out.starts_with("prefix"));
    all += out.substr(6);
  }
  EXPECT_TRUE(decoder->Finish(&all));
  EXPECT_EQ(all, payload.substr(0, 600));
  EXPECT_EQ(decoder->dropped_bytes(), 400u);
}

}  // namespace
}  // namespace sightline::genai
