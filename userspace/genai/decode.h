// Body decompression for AI API accounting: a response body's Content-Encoding
// (gzip, deflate, br, zstd) undone incrementally as the captured, de-chunked
// bytes arrive, with a bound on the output that is kept. Pure: no I/O, no
// logging, no globals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sightline::genai {

enum class Encoding : uint8_t { kIdentity, kGzip, kDeflate, kBrotli, kZstd, kUnsupported };

// Content-Encoding header value -> encoding. Case-insensitive, optional
// whitespace (spaces, tabs) around each coding ignored. "gzip" and "x-gzip" ->
// kGzip, "deflate" -> kDeflate, "br" -> kBrotli, "zstd" -> kZstd, "identity"
// and "" -> kIdentity. In a comma-separated list, empty elements and
// "identity" are dropped; two or more codings left (stacked: "gzip, br") ->
// kUnsupported, as is any other coding ("compress", "x-bzip2", ...).
Encoding ParseContentEncoding(std::string_view value);

// "identity", "gzip", "deflate", "br", "zstd", "unsupported".
std::string_view EncodingName(Encoding encoding);

// Streaming decoder for one body. Feed it the body's bytes in any slicing: the
// output (and every result below) does not depend on where the input is split.
//
// Formats:
// - gzip: RFC 1952, CRC-32 and length trailers checked. Concatenated members
//   are decoded one after the other (as gzip(1) does); bytes after a member
//   that do not start another member are corrupt input.
// - deflate: zlib-wrapped (RFC 1950, Adler-32 checked) or raw (RFC 1951), told
//   apart by the first two bytes: a valid zlib header (method 8, window <= 32
//   KiB, header check a multiple of 31) means zlib, anything else raw. Servers
//   send both under this name. A preset dictionary is corrupt input here.
// - br: RFC 7932.
// - zstd: RFC 8878 frames, one or more (skippable frames included); a frame
//   whose window exceeds 8 MiB is refused (RFC 9659 caps HTTP's at that), so
//   a decoder never needs more memory than that.
// - identity: passed through, only bounded.
// Bytes after the end of a deflate or br stream are corrupt input ("trailing
// data after end of stream"). A body with no bytes at all is a complete, empty
// stream whatever its encoding (servers send empty bodies with a
// Content-Encoding, e.g. on 204 and 304).
//
// Not thread-safe; one decoder per body.
class Decoder {
 public:
  // `max_output` bounds the decoded bytes appended over the decoder's whole
  // life (SIZE_MAX for no bound). nullptr for kUnsupported.
  static std::unique_ptr<Decoder> Make(Encoding encoding, size_t max_output);

  virtual ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes the next bytes of the body and appends their output to *out (not
  // null). Returns false once the input is corrupt: error() says why, and
  // every later Feed or Finish returns false and appends nothing. Some output
  // decoded before the corruption may have been appended; how much, and the
  // error's wording, can depend on the slicing for br and zstd (they hand out
  // whole blocks), never for gzip and deflate. Whether the input is corrupt
  // never depends on the slicing.
  // Output beyond max_output is not appended: truncated() turns true and
  // dropped_bytes() counts what was cut, while decoding goes on consuming the
  // input, so the end of the stream and corruption are still found. Empty
  // `in` is a no-op. Feeding after Finish is an error ("input after Finish").
  bool Feed(std::string_view in, std::string* out);

  // The input ended. Returns true when it was one or more complete streams as
  // described above (or no bytes at all), false when it was cut short (error()
  // = "truncated input") or had failed before. Appends to *out whatever output
  // the end releases (none for the formats above, which hand out everything
  // in Feed). Calling it again returns the same result.
  bool Finish(std::string* out);

  Encoding encoding() const { return encoding_; }
  bool failed() const { return state_ == State::kFailed; }
  // Some output was dropped for max_output.
  bool truncated() const { return dropped_bytes_ > 0; }
  uint64_t dropped_bytes() const { return dropped_bytes_; }
  // Every decoded byte so far, appended or dropped: the body's decoded size.
  uint64_t decoded_bytes() const { return decoded_bytes_; }
  // Empty until Feed or Finish returned false.
  const std::string& error() const { return error_; }

 protected:
  Decoder(Encoding encoding, size_t max_output);

  // Decodes non-empty `in` (at most 1 GiB), handing every output byte to
  // Emit. Returns false after Fail() when the input is corrupt.
  virtual bool Decode(std::string_view in, std::string* out) = 0;
  // True when the non-empty input decoded so far ends a complete stream.
  virtual bool Complete() const = 0;

  // Appends up to the output bound, counts the rest as dropped.
  void Emit(const void* data, size_t size, std::string* out);
  // Records the error; returns false.
  bool Fail(std::string_view why);

 private:
  enum class State : uint8_t { kRunning, kFinished, kFailed };

  Encoding encoding_;
  State state_ = State::kRunning;
  bool saw_input_ = false;
  size_t max_output_;
  uint64_t appended_bytes_ = 0;
  uint64_t dropped_bytes_ = 0;
  uint64_t decoded_bytes_ = 0;
  std::string error_;
};

}  // namespace sightline::genai
