// Incremental reader of RESP2/RESP3 values (and inline commands) that keeps
// only a summary of each top-level value: its type, a prefix of its text,
// its integer, and the first few direct children. Bulk payloads are
// skipped by length, never buffered past `keep_bytes`; nesting is followed
// with a small stack of counters, so a reply of any size costs the same
// memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::redis {

// A direct child of a top-level aggregate.
struct Element {
  char type = 0;
  bool null = false;
  std::string text;     // first keep_bytes of a string
  uint64_t length = 0;  // a string's full length
  int64_t integer = 0;  // ':' value; an aggregate's element count
};

struct Value {
  // The type byte (+ - : $ * _ , # ( ! = % ~ >), or 'i' for an inline
  // command line. Attributes (|) are read past: they are never the value.
  char type = 0;
  bool null = false;          // $-1, *-1, _
  std::string text;           // first keep_bytes of a string or inline line
  int64_t integer = 0;        // ':' value; an aggregate's declared count
  std::vector<Element> head;  // the first keep_elements direct children
  uint64_t children = 0;      // direct children read
  uint64_t null_children = 0;
};

enum class ReadStatus : uint8_t { kComplete, kNeedMore, kInvalid };

class Reader {
 public:
  // `requests`: commands (an array of bulk strings, or an inline line);
  // otherwise replies of any type.
  Reader(bool requests, size_t keep_elements, size_t keep_bytes);

  // Reads from *data (advancing it) up to the end of one top-level value.
  // After kComplete, value() holds it until Reset(). After kInvalid the
  // reader must be Reset() before further use.
  ReadStatus Feed(std::string_view* data);
  const Value& value() const { return value_; }
  void Reset();
  // Whether some bytes of a value have been read.
  bool started() const { return started_; }
  // Skips n bytes that were not captured, when they fall inside one bulk
  // payload; false when they would cross a framing boundary.
  bool SkipInsideBulk(uint64_t n);
  size_t buffered_bytes() const;

 private:
  struct Frame {
    uint64_t remaining = 0;
    bool attribute = false;
  };
  enum class Target : uint8_t { kNone, kTop, kHead };

  ReadStatus OnLine(std::string_view line);
  void Begin(char type);
  // Fills the value or child just begun (when it is one that is kept).
  void Set(bool null, std::string_view text, uint64_t length, int64_t integer);
  std::string* TargetText();
  // A value ended; true when the top-level value is complete.
  bool End(bool null);

  bool requests_;
  size_t keep_elements_;
  size_t keep_bytes_;
  Value value_;
  bool started_ = false;
  bool top_begun_ = false;
  std::string line_;
  uint64_t line_total_ = 0;  // bytes of the current line, kept or not
  uint64_t bulk_left_ = 0;   // payload bytes plus the closing CRLF
  Target target_ = Target::kNone;
  std::vector<Frame> stack_;
};

}  // namespace sightline::redis
