// SQL text helpers for the PostgreSQL parser: splitting a simple-query
// string into statements, naming a statement by its first keyword, and a
// literal-free summary for logs. They read text only; nothing is executed
// or validated, and malformed text (an unterminated quote) never fails: it
// runs to the end of the input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::postgres {

// Longest query_summary, in bytes.
inline constexpr size_t kMaxSummaryBytes = 256;

// The statements of a simple-query string, split on ';' outside quotes,
// dollar quotes and comments. Statements holding only blanks and comments
// are dropped (the server skips them too), as is the ';' itself.
std::vector<std::string_view> SplitStatements(std::string_view sql);

// The statement's first keyword upper-cased, after leading blanks, comments
// and opening parentheses: "SELECT", "WITH", "END". Empty when the
// statement does not start with a word; at most 32 bytes.
std::string StatementName(std::string_view statement);

// The statement with string, dollar-quoted and numeric literals replaced by
// '?', comments dropped, blanks collapsed to one space, a trailing ';'
// removed; cut to at most kMaxSummaryBytes on a UTF-8 boundary. Parameters
// ($1) and quoted identifiers stay.
std::string SummarizeStatement(std::string_view statement);

}  // namespace sightline::postgres
