// One HTTP message body as a business rule reads it: kept only when its
// Content-Type is JSON, decompressed when content-coded, bounded by
// max_body_bytes, and parsed once, at the end, only when every byte of it was
// seen. Whatever keeps a body from being read is a Reason, counted by the
// caller: a value is never guessed from part of a body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "business/extract.h"
#include "genai/decode.h"

namespace sightline::business {

class BodyCapture {
 public:
  BodyCapture() = default;
  BodyCapture(BodyCapture&&) = default;
  BodyCapture& operator=(BodyCapture&&) = default;

  // From the message head. `expected` is its Content-Length, when it has one.
  void Start(std::string_view content_type, std::string_view content_encoding,
             std::optional<uint64_t> expected, size_t max_bytes);
  // Body bytes, de-chunked, in order, in any slicing.
  void Feed(std::string_view bytes);
  // n bytes of the body passed uncaptured.
  void Gap(uint64_t n);
  // The message ended; `counted` is the body size the HTTP layer counted
  // (gaps included), so bytes that never reached Feed are noticed.
  void Finish(uint64_t counted);
  // Frees what is held: the rule that needed the body no longer applies.
  void Drop();

  bool started() const { return started_; }
  // The parsed body, or nullptr with *why set. Parses on the first call.
  const nlohmann::json* Document(Reason* why);

 private:
  bool started_ = false;
  bool json_ = false;
  bool too_large_ = false;
  bool incomplete_ = false;
  bool decode_failed_ = false;
  bool parsed_ = false;
  std::optional<uint64_t> expected_;
  uint64_t fed_ = 0;  // bytes handed to Feed or passed as gaps, before decoding
  size_t max_bytes_ = 0;
  std::unique_ptr<genai::Decoder> decoder_;
  std::string bytes_;  // decoded, at most max_bytes_
  std::optional<Reason> error_;
  nlohmann::json doc_;
};

}  // namespace sightline::business
