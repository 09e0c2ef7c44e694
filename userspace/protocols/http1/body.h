// Incremental HTTP/1.x body decoder: finds where a body ends and counts its
// decoded (de-chunked) bytes, handing them out only when asked to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/http1/parser.h"

namespace sightline::http1 {

class BodyDecoder {
 public:
  struct Result {
    ParseStatus status = ParseStatus::kNeedMore;
    ParseError error = ParseError::kNone;  // kBadChunk when kInvalid
    size_t consumed = 0;  // bytes of the input that belong to the body
  };

  // A decoder for an absent body: already done.
  BodyDecoder() = default;
  // `max_line_bytes` bounds a chunk-size line (extensions included) and the
  // whole trailer section.
  explicit BodyDecoder(BodyFraming framing,
                       size_t max_line_bytes = kDefaultMaxHeadBytes);

  // Feeds the next bytes of the stream. kComplete: the body ended within
  // `input` after `consumed` bytes (the rest belongs to the next message).
  // kNeedMore: all of `input` was body and more is expected. kInvalid: the
  // chunked framing is broken; the decoder stays failed. With `data`, the
  // decoded body bytes within `input` (chunk framing removed) are appended.
  Result Feed(std::string_view input, std::string* data = nullptr);

  // Accounts for `n` bytes that passed but were not captured. Possible only
  // where the remaining length is known to cover them: inside a
  // Content-Length body, inside the data of one chunk, or anywhere in a body
  // that runs until close. Returns false (and changes nothing) otherwise; the
  // stream position is then lost.
  bool Skip(uint64_t n);

  // The connection closed. Returns true when that completes the body (it ran
  // until close, or had already ended), false when the body was cut short.
  bool Close();

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  BodyKind kind() const { return kind_; }
  // Decoded body bytes so far, skipped bytes included.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State : uint8_t {
    kDone,
    kFailed,
    kFixed,  // Content-Length: remaining_ bytes left
    kUntilClose,
    kChunkSize,    // hex digits of a chunk-size line
    kChunkSizeWs,  // whitespace after the digits
    kChunkExt,     // ";name=value" extensions up to the line end
    kChunkSizeLf,  // CR seen, LF expected
    kChunkData,    // remaining_ data bytes left in this chunk
    kChunkDataCr,  // CRLF (or LF) after the data
    kChunkDataLf,
    kTrailerStart,  // start of a trailer line, or the final empty line
    kTrailerLine,
    kTrailerLf,  // CR of the final empty line seen
  };

  // Runs the chunked state machine over `input`.
  Result FeedChunked(std::string_view input, std::string* data);
  Result Fail(size_t consumed);
  void EndSizeLine();

  BodyKind kind_ = BodyKind::kNone;
  State state_ = State::kDone;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  size_t line_bytes_ = 0;  // of the current size line, or the trailers
  size_t size_digits_ = 0;
  size_t max_line_bytes_ = kDefaultMaxHeadBytes;
};

}  // namespace sightline::http1
