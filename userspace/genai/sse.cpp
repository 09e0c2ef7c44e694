#include "genai/sse.h"

namespace sightline::genai {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
// Longer names are none of the known ones ("data", "event"), so not kept.
constexpr size_t kMaxKnownName = 5;
// Buffers grown past this for one event are released once it is dispatched.
constexpr size_t kKeptCapacity = 64 * 1024;

void Release(std::string* s) {
  s->clear();
  if (s->capacity() > kKeptCapacity) std::string().swap(*s);
}

}  // namespace

SseParser::SseParser(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

void SseParser::Feed(std::string_view bytes, const Handler& on_event) {
  while (!bom_decided_ && !bytes.empty()) {
    if (bytes.front() == kBom[bom_matched_]) {
      bytes.remove_prefix(1);
      bom_decided_ = ++bom_matched_ == kBom.size();  // a whole BOM: skipped
    } else {
      bom_decided_ = true;  // not a BOM: what looked like one is content
      Parse(kBom.substr(0, bom_matched_), on_event);
    }
  }
  Parse(bytes, on_event);
}

void SseParser::Finish(const Handler& on_event) {
  if (!bom_decided_) Parse(kBom.substr(0, bom_matched_), on_event);
  if (line_ == LineState::kName) BeginField();  // a last "name" line without a value
  Dispatch(on_event);
  bom_matched_ = 0;
  bom_decided_ = false;
  line_ = LineState::kStart;
  skip_lf_ = false;
  name_.clear();
  name_too_long_ = false;
  field_ = Field::kIgnored;
}

void SseParser::Parse(std::string_view bytes, const Handler& on_event) {
  size_t i = 0;
  while (i < bytes.size()) {
    switch (line_) {
      case LineState::kStart: {
        char c = bytes[i];
        if (skip_lf_) {
          skip_lf_ = false;
          if (c == '\n') {
            ++i;
            continue;
          }
        }
        if (c == '\r' || c == '\n') {  // a blank line
          skip_lf_ = c == '\r';
          ++i;
          Dispatch(on_event);
        } else if (c == ':') {  // a comment
          field_ = Field::kIgnored;
          line_ = LineState::kValue;
          ++i;
        } else {
          name_.clear();
          name_too_long_ = false;
          line_ = LineState::kName;
        }
        break;
      }
      case LineState::kName: {
        size_t end = bytes.find_first_of(":\r\n", i);
        std::string_view part = bytes.substr(i, end == std::string_view::npos ? end : end - i);
        if (!name_too_long_) {
          if (name_.size() + part.size() > kMaxKnownName) {
            name_too_long_ = true;
            name_.clear();
          } else {
            name_.append(part);
          }
        }
        if (end == std::string_view::npos) return;
        i = end;
        BeginField();
        if (bytes[i] == ':') {
          line_ = LineState::kValueStart;
        } else {  // "name" alone: an empty value
          skip_lf_ = bytes[i] == '\r';
          line_ = LineState::kStart;
        }
        ++i;
        break;
      }
      case LineState::kValueStart:
        if (bytes[i] == ' ') ++i;
        line_ = LineState::kValue;
        break;
      case LineState::kValue: {
        size_t end = bytes.find_first_of("\r\n", i);
        AppendValue(bytes.substr(i, end == std::string_view::npos ? end : end - i));
        if (end == std::string_view::npos) return;
        skip_lf_ = bytes[end] == '\r';
        line_ = LineState::kStart;
        i = end + 1;
        break;
      }
    }
  }
}

void SseParser::BeginField() {
  field_ = Field::kIgnored;
  if (name_too_long_) return;
  if (name_ == "data") {
    field_ = Field::kData;
    if (has_data_) AppendValue("\n");  // joins data lines
    has_data_ = true;
  } else if (name_ == "event") {
    field_ = Field::kEvent;
    event_.clear();
  }
}

void SseParser::AppendValue(std::string_view value) {
  if (field_ == Field::kIgnored || oversized_ || value.empty()) return;
  if (data_.size() + event_.size() + value.size() > max_event_bytes_) {
    oversized_ = true;
    Release(&data_);
    Release(&event_);
    return;
  }
  (field_ == Field::kData ? data_ : event_).append(value);
}

void SseParser::Dispatch(const Handler& on_event) {
  if (has_data_) {
    if (oversized_) {
      ++oversized_events_;
    } else {
      on_event(event_, data_);
    }
  }
  Release(&data_);
  Release(&event_);
  has_data_ = false;
  oversized_ = false;
}

}  // namespace sightline::genai
