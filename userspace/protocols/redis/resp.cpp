#include "protocols/redis/resp.h"

#include <algorithm>
#include <charconv>

namespace sightline::redis {
namespace {

// "$<len>", "*<count>", ":<int>" and the other framing lines are short.
constexpr size_t kMaxHeaderLine = 64;
// Simple strings, errors, doubles, big numbers and inline commands: the
// server refuses inline commands longer than this.
constexpr size_t kMaxLongLine = 64 * 1024;
// Bytes of a line kept; the rest is only counted.
constexpr size_t kLineKeep = 1024;
constexpr size_t kMaxDepth = 32;
// The server's default proto-max-bulk-len.
constexpr int64_t kMaxBulk = int64_t{512} * 1024 * 1024;
constexpr int64_t kMaxCount = int64_t{1} << 32;

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

bool LongLineType(char c) { return c == '+' || c == '-' || c == ',' || c == '('; }

}  // namespace

Reader::Reader(bool requests, size_t keep_elements, size_t keep_bytes)
    : requests_(requests), keep_elements_(keep_elements), keep_bytes_(keep_bytes) {}

void Reader::Reset() {
  value_ = Value{};
  started_ = false;
  top_begun_ = false;
  if (line_.capacity() > 2 * kLineKeep) {
    std::string().swap(line_);
  } else {
    line_.clear();
  }
  line_total_ = 0;
  bulk_left_ = 0;
  target_ = Target::kNone;
  stack_.clear();
}

size_t Reader::buffered_bytes() const {
  size_t n = line_.size() + value_.text.size() + stack_.size() * sizeof(Frame);
  for (const Element& e : value_.head) n += sizeof(Element) + e.text.size();
  return n;
}

bool Reader::SkipInsideBulk(uint64_t n) {
  if (bulk_left_ < n + 2) return false;
  bulk_left_ -= n;
  target_ = Target::kNone;  // what was kept is no longer contiguous
  return true;
}

ReadStatus Reader::Feed(std::string_view* data) {
  while (!data->empty()) {
    started_ = true;
    if (bulk_left_ > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(bulk_left_, data->size()));
      const size_t payload =
          bulk_left_ > 2 ? static_cast<size_t>(std::min<uint64_t>(bulk_left_ - 2, take)) : 0;
      if (std::string* t = TargetText(); t != nullptr && t->size() < keep_bytes_) {
        t->append(data->data(), std::min(payload, keep_bytes_ - t->size()));
      }
      for (size_t i = payload; i < take; ++i) {
        const char expect = bulk_left_ - i == 2 ? '\r' : '\n';
        if ((*data)[i] != expect) return ReadStatus::kInvalid;
      }
      bulk_left_ -= take;
      data->remove_prefix(take);
      if (bulk_left_ == 0 && End(false)) return ReadStatus::kComplete;
      continue;
    }
    const size_t nl = data->find('\n');
    const std::string_view part =
        data->substr(0, nl == std::string_view::npos ? data->size() : nl + 1);
    if (line_.size() < kLineKeep) line_.append(part.substr(0, kLineKeep - line_.size()));
    line_total_ += part.size();
    data->remove_prefix(part.size());
    const char first = line_[0];
    const bool inline_command = requests_ && stack_.empty() && !top_begun_ && first != '*';
    const size_t limit = inline_command || LongLineType(first) ? kMaxLongLine : kMaxHeaderLine;
    if (line_total_ > limit + 2) return ReadStatus::kInvalid;
    if (nl == std::string_view::npos) return ReadStatus::kNeedMore;
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const ReadStatus r = OnLine(line);
    line_.clear();
    line_total_ = 0;
    if (r != ReadStatus::kNeedMore) return r;
  }
  return ReadStatus::kNeedMore;
}

ReadStatus Reader::OnLine(std::string_view line) {
  if (requests_ && stack_.empty() && !top_begun_) {
    if (line.empty()) {  // blank lines between inline commands
      started_ = false;
      return ReadStatus::kNeedMore;
    }
    if (line[0] != '*') {
      value_.type = 'i';
      value_.text = std::string(line.substr(0, kLineKeep));
      return ReadStatus::kComplete;
    }
  }
  if (line.empty()) return ReadStatus::kInvalid;
  const char type = line[0];
  const std::string_view rest = line.substr(1);
  // A command is an array of bulk strings, nothing else.
  if (requests_ && (stack_.empty() ? type != '*' : type != '$')) return ReadStatus::kInvalid;
  int64_t n = 0;
  switch (type) {
    case '+':
    case '-':
    case ',':
    case '(':
    case '#':
    case '_':
    case ':': {
      if (type == ':' && !ParseInt(rest, &n)) return ReadStatus::kInvalid;
      if (type == '#' && rest != "t" && rest != "f") return ReadStatus::kInvalid;
      if (type == '_' && !rest.empty()) return ReadStatus::kInvalid;
      Begin(type);
      Set(type == '_', rest.substr(0, keep_bytes_), rest.size(), n);
      return End(type == '_') ? ReadStatus::kComplete : ReadStatus::kNeedMore;
    }
    case '$':
    case '!':
    case '=':
      if (!ParseInt(rest, &n)) return ReadStatus::kInvalid;
      if (n == -1 && type == '$') {
        Begin(type);
        Set(true, {}, 0, 0);
        return End(true) ? ReadStatus::kComplete : ReadStatus::kNeedMore;
      }
      if (n < 0 || n > kMaxBulk) return ReadStatus::kInvalid;
      Begin(type);
      Set(false, {}, static_cast<uint64_t>(n), 0);
      bulk_left_ = static_cast<uint64_t>(n) + 2;
      return ReadStatus::kNeedMore;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      if (!ParseInt(rest, &n)) return ReadStatus::kInvalid;
      if (n == -1 && type == '*') {
        Begin(type);
        Set(true, {}, 0, -1);
        return End(true) ? ReadStatus::kComplete : ReadStatus::kNeedMore;
      }
      if (n < 0 || n > kMaxCount || stack_.size() >= kMaxDepth) return ReadStatus::kInvalid;
      Begin(type);
      Set(false, {}, 0, n);
      const bool pairs = type == '%' || type == '|';
      const uint64_t count = static_cast<uint64_t>(n) * (pairs ? 2 : 1);
      if (count > 0) {
        stack_.push_back({count, type == '|'});
        return ReadStatus::kNeedMore;
      }
      if (type == '|') return ReadStatus::kNeedMore;  // an empty attribute
      return End(false) ? ReadStatus::kComplete : ReadStatus::kNeedMore;
    }
    default:
      return ReadStatus::kInvalid;
  }
}

void Reader::Begin(char type) {
  target_ = Target::kNone;
  if (type == '|') return;  // attributes annotate the value that follows
  if (stack_.empty()) {
    top_begun_ = true;
    value_.type = type;
    target_ = Target::kTop;
  } else if (stack_.size() == 1 && !stack_[0].attribute && value_.head.size() < keep_elements_) {
    value_.head.push_back(Element{});
    value_.head.back().type = type;
    target_ = Target::kHead;
  }
}

void Reader::Set(bool null, std::string_view text, uint64_t length, int64_t integer) {
  if (target_ == Target::kTop) {
    value_.null = null;
    value_.text = std::string(text);
    value_.integer = integer;
  } else if (target_ == Target::kHead) {
    Element& e = value_.head.back();
    e.null = null;
    e.text = std::string(text);
    e.length = length;
    e.integer = integer;
  }
}

std::string* Reader::TargetText() {
  if (target_ == Target::kTop) return &value_.text;
  if (target_ == Target::kHead) return &value_.head.back().text;
  return nullptr;
}

bool Reader::End(bool null) {
  target_ = Target::kNone;
  while (!stack_.empty()) {
    Frame& f = stack_.back();
    if (stack_.size() == 1 && !f.attribute) {
      ++value_.children;
      if (null) ++value_.null_children;
    }
    if (--f.remaining > 0) return false;
    const bool attribute = f.attribute;
    stack_.pop_back();
    // An attribute is not an element of what holds it, nor the top value.
    if (attribute) return false;
    null = false;
  }
  return top_begun_;
}

}  // namespace sightline::redis
