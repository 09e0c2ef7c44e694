#include "protocols/http1/body.h"

#include <algorithm>

namespace sightline::http1 {
namespace {

// 15 hex digits (2^60 bytes) is beyond any real chunk and keeps the
// accumulator far from overflow.
constexpr size_t kMaxChunkSizeDigits = 15;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bytes allowed in chunk extensions and trailer lines: no NUL, no CTL
// other than HTAB (CR is handled by the state machine).
bool IsLineChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7f);
}

}  // namespace

BodyDecoder::BodyDecoder(BodyFraming framing, size_t max_line_bytes)
    : kind_(framing.kind), max_line_bytes_(max_line_bytes) {
  switch (framing.kind) {
    case BodyKind::kNone:
      state_ = State::kDone;
      break;
    case BodyKind::kContentLength:
      remaining_ = framing.length;
      state_ = remaining_ == 0 ? State::kDone : State::kFixed;
      break;
    case BodyKind::kChunked:
      state_ = State::kChunkSize;
      break;
    case BodyKind::kUntilClose:
      state_ = State::kUntilClose;
      break;
  }
}

BodyDecoder::Result BodyDecoder::Feed(std::string_view input, std::string* data) {
  switch (state_) {
    case State::kDone:
      return {ParseStatus::kComplete, ParseError::kNone, 0};
    case State::kFailed:
      return {ParseStatus::kInvalid, ParseError::kBadChunk, 0};
    case State::kFixed: {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(remaining_, input.size()));
      remaining_ -= take;
      body_bytes_ += take;
      if (data) data->append(input.substr(0, take));
      if (remaining_ > 0)
        return {ParseStatus::kNeedMore, ParseError::kNone, take};
      state_ = State::kDone;
      return {ParseStatus::kComplete, ParseError::kNone, take};
    }
    case State::kUntilClose:
      body_bytes_ += input.size();
      if (data) data->append(input);
      return {ParseStatus::kNeedMore, ParseError::kNone, input.size()};
    default:
      return FeedChunked(input, data);
  }
}

BodyDecoder::Result BodyDecoder::Fail(size_t consumed) {
  state_ = State::kFailed;
  return {ParseStatus::kInvalid, ParseError::kBadChunk, consumed};
}

void BodyDecoder::EndSizeLine() {
  line_bytes_ = 0;
  size_digits_ = 0;
  state_ = remaining_ == 0 ? State::kTrailerStart : State::kChunkData;
}

BodyDecoder::Result BodyDecoder::FeedChunked(std::string_view input, std::string* data) {
  size_t i = 0;
  while (i < input.size()) {
    const char c = input[i];
    switch (state_) {
      case State::kChunkSize: {
        const int v = HexValue(c);
        if (v >= 0) {
          if (size_digits_ == kMaxChunkSizeDigits) return Fail(i);
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
          ++size_digits_;
          ++line_bytes_;
          ++i;
          continue;
        }
        if (size_digits_ == 0) return Fail(i);
        if (c == ' ' || c == '\t') {
          state_ = State::kChunkSizeWs;
        } else if (c == ';') {
          state_ = State::kChunkExt;
        } else if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (c == '\n') {
          EndSizeLine();
        } else {
          return Fail(i);
        }
        ++i;
        continue;
      }
      case State::kChunkSizeWs:
        if (c == ';') {
          state_ = State::kChunkExt;
        } else if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (c == '\n') {
          EndSizeLine();
        } else if (c != ' ' && c != '\t') {
          return Fail(i);
        }
        ++i;
        continue;
      case State::kChunkExt:
        if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (c == '\n') {
          EndSizeLine();
        } else if (!IsLineChar(c) || ++line_bytes_ > max_line_bytes_) {
          return Fail(i);
        }
        ++i;
        continue;
      case State::kChunkSizeLf:
        if (c != '\n') return Fail(i);
        EndSizeLine();
        ++i;
        continue;
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(
            std::min<uint64_t>(remaining_, input.size() - i));
        remaining_ -= take;
        body_bytes_ += take;
        if (data) data->append(input.substr(i, take));
        i += take;
        if (remaining_ == 0) state_ = State::kChunkDataCr;
        continue;
      }
      case State::kChunkDataCr:
        if (c == '\r') {
          state_ = State::kChunkDataLf;
        } else if (c == '\n') {
          state_ = State::kChunkSize;
        } else {
          return Fail(i);
        }
        ++i;
        continue;
      case State::kChunkDataLf:
        if (c != '\n') return Fail(i);
        state_ = State::kChunkSize;
        ++i;
        continue;
      case State::kTrailerStart:
        if (c == '\n') {
          state_ = State::kDone;
          return {ParseStatus::kComplete, ParseError::kNone, i + 1};
        }
        if (c == '\r') {
          state_ = State::kTrailerLf;
          ++i;
          continue;
        }
        // A trailer field line; it begins with a field name.
        if (c == ' ' || c == '\t' || c == ':') return Fail(i);
        state_ = State::kTrailerLine;
        continue;
      case State::kTrailerLine:
        if (c == '\n') {
          state_ = State::kTrailerStart;
        } else if ((c != '\r' && !IsLineChar(c)) ||
                   ++line_bytes_ > max_line_bytes_) {
          return Fail(i);
        }
        ++i;
        continue;
      case State::kTrailerLf:
        if (c != '\n') return Fail(i);
        state_ = State::kDone;
        return {ParseStatus::kComplete, ParseError::kNone, i + 1};
      default:
        // kDone, kFailed, kFixed and kUntilClose never reach the chunked loop.
        return Fail(i);
    }
  }
  return {ParseStatus::kNeedMore, ParseError::kNone, input.size()};
}

bool BodyDecoder::Skip(uint64_t n) {
  if (n == 0) return true;
  switch (state_) {
    case State::kUntilClose:
      body_bytes_ += n;
      return true;
    case State::kFixed:
    case State::kChunkData:
      if (n > remaining_) return false;
      remaining_ -= n;
      body_bytes_ += n;
      if (remaining_ == 0) {
        state_ = state_ == State::kFixed ? State::kDone : State::kChunkDataCr;
      }
      return true;
    default:
      return false;
  }
}

bool BodyDecoder::Close() {
  if (state_ == State::kUntilClose) state_ = State::kDone;
  return state_ == State::kDone;
}

}  // namespace sightline::http1
