// Incremental text/event-stream (server-sent events) parser for streamed AI
// API responses. Pure: no I/O, no logging, no globals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sightline::genai {

// Splits a decoded (de-chunked, decompressed) event stream into events, fed in
// any slicing: the events do not depend on where the input is split, and each
// is dispatched as soon as the line that ends it has arrived.
//
// WHATWG HTML "event stream interpretation" rules:
// - Lines end in "\n", "\r\n" or "\r" (mixed freely; a "\r\n" split across two
//   Feed calls is still one line end). One UTF-8 BOM at the very start of the
//   stream is skipped. Bytes are not checked for UTF-8 and reach the handler
//   as they came.
// - A line is "name: value" (one space after the colon stripped, if present)
//   or just "name" (empty value). Names are case-sensitive. "data" appends
//   the value to the event's data (several data lines are joined with "\n");
//   "event" sets the event type (the last one wins). "id", "retry" and unknown
//   names are ignored, and so are comment lines (starting with ':').
// - A blank line dispatches the event and starts the next one. An event that
//   had no data line is not dispatched ("event: ping" alone is not; "data:"
//   with an empty value is, with empty data).
// Unlike a browser, Finish dispatches a last event whose blank line never came
// (servers end streams that way), including a last line without its end.
//
// Memory stays bounded: an event whose data plus event type exceed
// max_event_bytes is not kept or dispatched but counted in oversized_events(),
// and parsing goes on with the next event.
//
// Not thread-safe; one parser per stream.
class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes = 1 << 20);

  // Called once per dispatched event. `event` is the event type, "" when the
  // event had no "event" line (the default type, "message"); `data` the data
  // lines joined with "\n". Both views die when the handler returns. It must
  // not throw or call back into the parser.
  using Handler = std::function<void(std::string_view event, std::string_view data)>;

  // Parses the next bytes of the stream, dispatching the events they end.
  void Feed(std::string_view bytes, const Handler& on_event);

  // End of the body: ends a last line that lacked its line end, dispatches an
  // event that lacked its blank line, and resets the parser for a new stream
  // (counters are kept).
  void Finish(const Handler& on_event);

  // Events dropped because they exceeded max_event_bytes.
  uint64_t oversized_events() const { return oversized_events_; }
  // Bytes held for the event being parsed (data and type): at most
  // max_event_bytes.
  size_t buffered_bytes() const { return data_.size() + event_.size(); }

 private:
  enum class LineState : uint8_t {
    kStart,       // nothing of the line yet
    kName,        // in the field name
    kValueStart,  // just after the colon
    kValue,       // in the value (or a comment, or an ignored field)
  };
  enum class Field : uint8_t { kIgnored, kData, kEvent };

  void Parse(std::string_view bytes, const Handler& on_event);
  // The field name ended (at a colon or at the line end).
  void BeginField();
  void AppendValue(std::string_view value);
  void Dispatch(const Handler& on_event);

  size_t max_event_bytes_;
  uint64_t oversized_events_ = 0;

  // Stream start: how many bytes of a BOM were matched, until decided.
  uint8_t bom_matched_ = 0;
  bool bom_decided_ = false;

  LineState line_ = LineState::kStart;
  bool skip_lf_ = false;  // the last line ended in '\r': a '\n' now belongs to it
  std::string name_;      // field name so far, kept only while it may be known
  bool name_too_long_ = false;
  Field field_ = Field::kIgnored;

  // The event being parsed.
  std::string data_;
  std::string event_;
  bool has_data_ = false;
  bool oversized_ = false;
};

}  // namespace sightline::genai
