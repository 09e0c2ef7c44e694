#include "genai/decode.h"

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <optional>

namespace sightline::genai {
namespace {

// Output is produced through this much stack at a time.
constexpr size_t kScratchBytes = 16 * 1024;
// Input is handed to the libraries in slices no larger (zlib counts in uInt).
constexpr size_t kMaxSliceBytes = size_t{1} << 30;
// RFC 9659: HTTP's zstd window is at most 8 MiB.
constexpr int kZstdWindowLogMax = 23;

constexpr std::string_view kTrailingData = "trailing data after end of stream";

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

Encoding ParseOneCoding(std::string_view coding) {
  if (EqualsIgnoreCase(coding, "gzip") || EqualsIgnoreCase(coding, "x-gzip")) {
    return Encoding::kGzip;
  }
  if (EqualsIgnoreCase(coding, "deflate")) return Encoding::kDeflate;
  if (EqualsIgnoreCase(coding, "br")) return Encoding::kBrotli;
  if (EqualsIgnoreCase(coding, "zstd")) return Encoding::kZstd;
  if (EqualsIgnoreCase(coding, "identity")) return Encoding::kIdentity;
  return Encoding::kUnsupported;
}

class IdentityDecoder final : public Decoder {
 public:
  explicit IdentityDecoder(size_t max_output) : Decoder(Encoding::kIdentity, max_output) {}

 protected:
  bool Decode(std::string_view in, std::string* out) override {
    Emit(in.data(), in.size(), out);
    return true;
  }
  bool Complete() const override { return true; }
};

// zlib's inflate, shared by gzip and deflate.
class InflateDecoder : public Decoder {
 protected:
  using Decoder::Decoder;
  ~InflateDecoder() override {
    if (ready_) inflateEnd(&z_);
  }

  bool Init(int window_bits) {
    z_ = {};
    if (inflateInit2(&z_, window_bits) != Z_OK) return Fail("out of memory");
    ready_ = true;
    return true;
  }

  // Inflates `in` until it is consumed or the stream ends (ended_ turns
  // true). Returns what is left of `in` after the end of the stream (empty
  // when it did not end), nullopt once the data is corrupt.
  std::optional<std::string_view> Inflate(std::string_view in, std::string* out) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    std::array<unsigned char, kScratchBytes> scratch;
    while (true) {
      z_.next_out = scratch.data();
      z_.avail_out = static_cast<uInt>(scratch.size());
      int rc = inflate(&z_, Z_NO_FLUSH);
      Emit(scratch.data(), scratch.size() - z_.avail_out, out);
      switch (rc) {
        case Z_STREAM_END:
          ended_ = true;
          return std::string_view(reinterpret_cast<const char*>(z_.next_in), z_.avail_in);
        case Z_OK:
          // Output space left over means every input byte was used.
          if (z_.avail_in == 0 && z_.avail_out != 0) return std::string_view();
          continue;
        case Z_BUF_ERROR:  // no progress possible: all input used, output flushed
          return std::string_view();
        case Z_NEED_DICT:
          Fail("preset dictionary not supported");
          return std::nullopt;
        case Z_MEM_ERROR:
          Fail("out of memory");
          return std::nullopt;
        default:
          Fail(z_.msg != nullptr ? z_.msg : "invalid compressed data");
          return std::nullopt;
      }
    }
  }

  z_stream z_{};
  bool ready_ = false;
  bool ended_ = false;
};

class GzipDecoder final : public InflateDecoder {
 public:
  explicit GzipDecoder(size_t max_output) : InflateDecoder(Encoding::kGzip, max_output) {}

 protected:
  bool Decode(std::string_view in, std::string* out) override {
    if (!ready_ && !Init(16 + MAX_WBITS)) return false;  // gzip wrapper only
    while (!in.empty()) {
      if (ended_) {  // the next member starts here
        inflateReset(&z_);
        ended_ = false;
      }
      std::optional<std::string_view> rest = Inflate(in, out);
      if (!rest) return false;
      in = *rest;
    }
    return true;
  }
  bool Complete() const override { return ended_; }
};

class DeflateDecoder final : public InflateDecoder {
 public:
  explicit DeflateDecoder(size_t max_output) : InflateDecoder(Encoding::kDeflate, max_output) {}

 protected:
  bool Decode(std::string_view in, std::string* out) override {
    if (!ready_) {
      // The first two bytes tell zlib from raw deflate.
      size_t take = std::min(in.size(), 2 - head_.size());
      head_.append(in.substr(0, take));
      in.remove_prefix(take);
      if (head_.size() < 2) return true;
      if (!Init(IsZlibHeader(head_) ? MAX_WBITS : -MAX_WBITS)) return false;
      std::string head = std::move(head_);
      head_.clear();
      if (!Run(head, out)) return false;
    }
    return Run(in, out);
  }
  bool Complete() const override { return ended_; }

 private:
  static bool IsZlibHeader(std::string_view head) {
    auto cmf = static_cast<unsigned char>(head[0]);
    auto flg = static_cast<unsigned char>(head[1]);
    return (cmf & 0x0f) == Z_DEFLATED && (cmf >> 4) <= 7 && (cmf * 256 + flg) % 31 == 0;
  }

  bool Run(std::string_view in, std::string* out) {
    if (in.empty()) return true;
    if (ended_) return Fail(kTrailingData);
    std::optional<std::string_view> rest = Inflate(in, out);
    if (!rest) return false;
    if (!rest->empty()) return Fail(kTrailingData);
    return true;
  }

  std::string head_;  // first bytes, until there are two
};

class BrotliDecoder final : public Decoder {
 public:
  explicit BrotliDecoder(size_t max_output)
      : Decoder(Encoding::kBrotli, max_output),
        state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDecoder() override {
    if (state_ != nullptr) BrotliDecoderDestroyInstance(state_);
  }

 protected:
  bool Decode(std::string_view in, std::string* out) override {
    if (state_ == nullptr) return Fail("out of memory");
    if (ended_) return Fail(kTrailingData);
    auto next_in = reinterpret_cast<const uint8_t*>(in.data());
    size_t avail_in = in.size();
    std::array<uint8_t, kScratchBytes> scratch;
    while (true) {
      uint8_t* next_out = scratch.data();
      size_t avail_out = scratch.size();
      BrotliDecoderResult rc = BrotliDecoderDecompressStream(state_, &avail_in, &next_in,
                                                             &avail_out, &next_out, nullptr);
      Emit(scratch.data(), scratch.size() - avail_out, out);
      switch (rc) {
        case BROTLI_DECODER_RESULT_SUCCESS:
          ended_ = true;
          return avail_in == 0 ? true : Fail(kTrailingData);
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
          return true;  // every input byte was used
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
          continue;
        default: {
          // The library names its errors tersely: "PADDING_1", "CL_SPACE", ...
          const char* name = BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state_));
          return Fail("invalid brotli data (" + std::string(name != nullptr ? name : "?") + ")");
        }
      }
    }
  }
  bool Complete() const override { return ended_; }

 private:
  BrotliDecoderState* state_;
  bool ended_ = false;
};

class ZstdDecoder final : public Decoder {
 public:
  explicit ZstdDecoder(size_t max_output)
      : Decoder(Encoding::kZstd, max_output), ctx_(ZSTD_createDCtx()) {
    if (ctx_ != nullptr) ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, kZstdWindowLogMax);
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(ctx_); }

 protected:
  bool Decode(std::string_view in, std::string* out) override {
    if (ctx_ == nullptr) return Fail("out of memory");
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    std::array<char, kScratchBytes> scratch;
    while (true) {
      ZSTD_outBuffer output{scratch.data(), scratch.size(), 0};
      size_t rc = ZSTD_decompressStream(ctx_, &output, &input);
      if (ZSTD_isError(rc)) return Fail(ZSTD_getErrorName(rc));
      Emit(scratch.data(), output.pos, out);
      frame_done_ = rc == 0;  // a frame ended, everything flushed
      // Output space left over means the decoder flushed all it could.
      if (input.pos == input.size && output.pos < output.size) return true;
    }
  }
  bool Complete() const override { return frame_done_; }

 private:
  ZSTD_DCtx* ctx_;
  bool frame_done_ = false;
};

}  // namespace

Encoding ParseContentEncoding(std::string_view value) {
  Encoding result = Encoding::kIdentity;
  int codings = 0;
  while (true) {
    size_t comma = value.find(',');
    std::string_view coding = TrimOws(value.substr(0, comma));
    if (!coding.empty()) {
      Encoding e = ParseOneCoding(coding);
      if (e == Encoding::kUnsupported) return e;
      if (e != Encoding::kIdentity) {
        if (++codings > 1) return Encoding::kUnsupported;
        result = e;
      }
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return result;
}

std::string_view EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kIdentity:
      return "identity";
    case Encoding::kGzip:
      return "gzip";
    case Encoding::kDeflate:
      return "deflate";
    case Encoding::kBrotli:
      return "br";
    case Encoding::kZstd:
      return "zstd";
    case Encoding::kUnsupported:
      break;
  }
  return "unsupported";
}

std::unique_ptr<Decoder> Decoder::Make(Encoding encoding, size_t max_output) {
  switch (encoding) {
    case Encoding::kIdentity:
      return std::make_unique<IdentityDecoder>(max_output);
    case Encoding::kGzip:
      return std::make_unique<GzipDecoder>(max_output);
    case Encoding::kDeflate:
      return std::make_unique<DeflateDecoder>(max_output);
    case Encoding::kBrotli:
      return std::make_unique<BrotliDecoder>(max_output);
    case Encoding::kZstd:
      return std::make_unique<ZstdDecoder>(max_output);
    case Encoding::kUnsupported:
      break;
  }
  return nullptr;
}

Decoder::Decoder(Encoding encoding, size_t max_output)
    : encoding_(encoding), max_output_(max_output) {}

Decoder::~Decoder() = default;

bool Decoder::Feed(std::string_view in, std::string* out) {
  if (state_ == State::kFailed) return false;
  if (in.empty()) return true;
  if (state_ == State::kFinished) return Fail("input after Finish");
  saw_input_ = true;
  while (!in.empty()) {
    std::string_view slice = in.substr(0, kMaxSliceBytes);
    in.remove_prefix(slice.size());
    if (!Decode(slice, out)) return false;
  }
  return true;
}

bool Decoder::Finish(std::string* /*out*/) {
  if (state_ == State::kFailed) return false;
  if (state_ == State::kRunning) {
    if (saw_input_ && !Complete()) return Fail("truncated input");
    state_ = State::kFinished;
  }
  return true;
}

void Decoder::Emit(const void* data, size_t size, std::string* out) {
  decoded_bytes_ += size;
  uint64_t room = max_output_ - appended_bytes_;
  size_t take = static_cast<size_t>(std::min<uint64_t>(size, room));
  if (take > 0) out->append(static_cast<const char*>(data), take);
  appended_bytes_ += take;
  dropped_bytes_ += size - take;
}

bool Decoder::Fail(std::string_view why) {
  state_ = State::kFailed;
  error_.assign(why);
  return false;
}

}  // namespace sightline::genai
