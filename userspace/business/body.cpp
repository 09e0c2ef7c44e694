#include "business/body.h"

namespace sightline::business {

void BodyCapture::Start(std::string_view content_type, std::string_view content_encoding,
                        std::optional<uint64_t> expected, size_t max_bytes) {
  *this = BodyCapture();
  started_ = true;
  expected_ = expected;
  max_bytes_ = max_bytes;
  json_ = IsJsonContentType(content_type);
  if (!json_) return;
  const genai::Encoding encoding = genai::ParseContentEncoding(content_encoding);
  if (encoding == genai::Encoding::kUnsupported) {
    decode_failed_ = true;
  } else if (encoding != genai::Encoding::kIdentity) {
    // Bounded like the plain body: a small compressed body may expand a lot.
    decoder_ = genai::Decoder::Make(encoding, max_bytes_);
  }
}

void BodyCapture::Feed(std::string_view bytes) {
  fed_ += bytes.size();
  if (!json_ || too_large_ || incomplete_ || decode_failed_ || bytes.empty()) return;
  if (decoder_) {
    if (!decoder_->Feed(bytes, &bytes_)) decode_failed_ = true;
    if (decoder_->truncated()) too_large_ = true;
  } else if (bytes_.size() + bytes.size() > max_bytes_) {
    too_large_ = true;
  } else {
    bytes_.append(bytes);
  }
  if (too_large_ || decode_failed_) Drop();
}

void BodyCapture::Gap(uint64_t n) {
  fed_ += n;
  incomplete_ = true;
  Drop();
}

void BodyCapture::Finish(uint64_t counted) {
  if (!started_ || parsed_) return;
  // A body cut by lost bytes the HTTP layer could not skip, or one whose
  // framing broke, ends short of what its head announced.
  if (counted != fed_ || (expected_ && *expected_ != counted)) incomplete_ = true;
  if (decoder_ && json_ && !incomplete_ && !too_large_ && !decode_failed_) {
    if (!decoder_->Finish(&bytes_)) decode_failed_ = true;
    if (decoder_->truncated()) too_large_ = true;
  }
  if (incomplete_ || too_large_ || decode_failed_) Drop();
}

void BodyCapture::Drop() {
  std::string().swap(bytes_);
  decoder_.reset();
}

const nlohmann::json* BodyCapture::Document(Reason* why) {
  if (!parsed_) {
    parsed_ = true;
    if (!started_ || (fed_ == 0 && !incomplete_)) {
      error_ = Reason::kNoBody;
    } else if (!json_) {
      error_ = Reason::kNotJson;
    } else if (incomplete_) {
      error_ = Reason::kBodyIncomplete;
    } else if (decode_failed_) {
      error_ = Reason::kDecodeFailed;
    } else if (too_large_) {
      error_ = Reason::kBodyTooLarge;
    } else {
      doc_ = nlohmann::json::parse(bytes_, nullptr, /*allow_exceptions=*/false);
      if (doc_.is_discarded()) error_ = Reason::kInvalidJson;
    }
    Drop();
  }
  if (error_) {
    *why = *error_;
    return nullptr;
  }
  return &doc_;
}

}  // namespace sightline::business
