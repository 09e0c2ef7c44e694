#include "protocols/postgres/sql.h"

#include <cctype>

namespace sightline::postgres {
namespace {

enum class Token : uint8_t {
  kNone,        // nothing special starts here
  kComment,     // -- line or /* nested block */
  kString,      // '...', E'...', B'...', X'...'
  kDollar,      // $tag$...$tag$
  kIdentifier,  // "quoted identifier"
};

constexpr size_t kMaxNameBytes = 32;

bool IsIdentChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || c == '_' || c == '$' || u >= 0x80;
}

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Where the quoted run that opened at `open` (the quote character) ends:
// one past the closing quote, doubled quotes included; the text's end when
// unterminated. `backslash` honours escapes of E'' strings.
size_t QuotedEnd(std::string_view s, size_t open, char quote, bool backslash) {
  size_t i = open + 1;
  while (i < s.size()) {
    if (backslash && s[i] == '\\') {
      i += 2;
      continue;
    }
    if (s[i] == quote) {
      if (i + 1 < s.size() && s[i + 1] == quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return s.size();
}

// A dollar-quote opening at i ($$ or $tag$) is `*tag_len` bytes long
// (both dollars included); 0 when none starts here ($1 is a parameter).
size_t DollarTag(std::string_view s, size_t i) {
  if (s[i] != '$' || (i > 0 && IsIdentChar(s[i - 1]))) return 0;
  size_t j = i + 1;
  if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) != 0) {
    return 0;
  }
  while (j < s.size() && s[j] != '$' && IsIdentChar(s[j])) ++j;
  if (j >= s.size() || s[j] != '$') return 0;
  return j - i + 1;
}

// The special token starting at i and one past its end.
Token SpecialAt(std::string_view s, size_t i, size_t* end) {
  const char c = s[i];
  const char next = i + 1 < s.size() ? s[i + 1] : '\0';
  if (c == '-' && next == '-') {
    const size_t nl = s.find('\n', i);
    *end = nl == std::string_view::npos ? s.size() : nl + 1;
    return Token::kComment;
  }
  if (c == '/' && next == '*') {
    size_t depth = 0;
    size_t j = i;
    while (j < s.size()) {
      if (s[j] == '/' && j + 1 < s.size() && s[j + 1] == '*') {
        ++depth;
        j += 2;
      } else if (s[j] == '*' && j + 1 < s.size() && s[j + 1] == '/') {
        j += 2;
        if (--depth == 0) break;
      } else {
        ++j;
      }
    }
    *end = j;
    return Token::kComment;
  }
  if (c == '\'') {
    // E'..' takes backslash escapes; the prefix letter is part of a word
    // only when it stands alone (not the end of an identifier like "name").
    const bool escape =
        i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !IsIdentChar(s[i - 2]));
    *end = QuotedEnd(s, i, '\'', escape);
    return Token::kString;
  }
  if (c == '"') {
    *end = QuotedEnd(s, i, '"', false);
    return Token::kIdentifier;
  }
  if (c == '$') {
    const size_t tag = DollarTag(s, i);
    if (tag == 0) return Token::kNone;
    const size_t close = s.find(s.substr(i, tag), i + tag);
    *end = close == std::string_view::npos ? s.size() : close + tag;
    return Token::kDollar;
  }
  return Token::kNone;
}

bool OnlyBlanksAndComments(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (IsBlank(s[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    if (SpecialAt(s, i, &end) != Token::kComment) return false;
    i = end;
  }
  return true;
}

// Length of a numeric literal at i (digits, one '.', an exponent), 0 if
// none starts here. Digits inside identifiers (t1, $1) are not literals.
size_t NumberAt(std::string_view s, size_t i) {
  if (i > 0 && IsIdentChar(s[i - 1])) return 0;
  auto digit = [&](size_t k) {
    return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])) != 0;
  };
  size_t j = i;
  if (!digit(j) && !(s[j] == '.' && digit(j + 1))) return 0;
  while (digit(j)) ++j;
  if (j < s.size() && s[j] == '.') {
    ++j;
    while (digit(j)) ++j;
  }
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    if (digit(k)) {
      j = k;
      while (digit(j)) ++j;
    }
  }
  return j - i;
}

// Drops the last bytes of `out` that start an incomplete UTF-8 sequence.
void TrimToCharBoundary(std::string* out) {
  size_t cut = out->size();
  size_t back = 0;
  while (cut > 0 && back < 4) {
    const auto u = static_cast<unsigned char>((*out)[cut - 1]);
    if ((u & 0xC0) != 0x80) break;  // not a continuation byte
    --cut;
    ++back;
  }
  if (cut == 0) return;
  const auto lead = static_cast<unsigned char>((*out)[cut - 1]);
  size_t need = 1;
  if ((lead & 0xE0) == 0xC0) need = 2;
  if ((lead & 0xF0) == 0xE0) need = 3;
  if ((lead & 0xF8) == 0xF0) need = 4;
  if (need != back + 1 && lead >= 0x80) out->resize(cut - 1);
}

}  // namespace

std::vector<std::string_view> SplitStatements(std::string_view sql) {
  std::vector<std::string_view> out;
  size_t start = 0;
  size_t i = 0;
  auto flush = [&](size_t end) {
    const std::string_view stmt = sql.substr(start, end - start);
    if (!OnlyBlanksAndComments(stmt)) out.push_back(stmt);
  };
  while (i < sql.size()) {
    size_t end = i;
    if (SpecialAt(sql, i, &end) != Token::kNone) {
      i = end;
      continue;
    }
    if (sql[i] == ';') {
      flush(i);
      start = i + 1;
    }
    ++i;
  }
  if (start < sql.size()) flush(sql.size());
  return out;
}

std::string StatementName(std::string_view statement) {
  size_t i = 0;
  while (i < statement.size()) {
    if (IsBlank(statement[i]) || statement[i] == '(') {
      ++i;
      continue;
    }
    size_t end = i;
    if (SpecialAt(statement, i, &end) != Token::kComment) break;
    i = end;
  }
  std::string name;
  while (i < statement.size() && name.size() < kMaxNameBytes) {
    const auto u = static_cast<unsigned char>(statement[i]);
    if (std::isalpha(u) == 0 && statement[i] != '_') break;
    name.push_back(static_cast<char>(std::toupper(u)));
    ++i;
  }
  return name;
}

std::string SummarizeStatement(std::string_view statement) {
  std::string out;
  bool pending_space = false;
  // One byte past the limit tells a cut summary from one that fits.
  auto emit = [&](std::string_view piece) {
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.append(piece);
  };
  size_t i = 0;
  while (i < statement.size() && out.size() <= kMaxSummaryBytes) {
    const char c = statement[i];
    if (IsBlank(c)) {
      pending_space = true;
      ++i;
      continue;
    }
    size_t end = i;
    switch (SpecialAt(statement, i, &end)) {
      case Token::kComment:
        pending_space = true;
        i = end;
        continue;
      case Token::kString: {
        // The prefix letter of E'', B'', X'' belongs to the literal.
        const char before = i > 0 ? statement[i - 1] : ' ';
        const bool prefixed = !out.empty() && !pending_space &&
                              std::string_view("EeBbXxNn").find(before) != std::string_view::npos &&
                              (i < 2 || !IsIdentChar(statement[i - 2]));
        if (prefixed) out.pop_back();
        emit("?");
        i = end;
        continue;
      }
      case Token::kDollar:
        emit("?");
        i = end;
        continue;
      case Token::kIdentifier:
        emit(statement.substr(i, end - i));
        i = end;
        continue;
      case Token::kNone:
        break;
    }
    if (const size_t n = NumberAt(statement, i); n > 0) {
      emit("?");
      i += n;
      continue;
    }
    emit(statement.substr(i, 1));
    ++i;
  }
  while (!out.empty() && (out.back() == ';' || out.back() == ' ')) {
    out.pop_back();
  }
  if (out.size() > kMaxSummaryBytes) {
    out.resize(kMaxSummaryBytes);
    TrimToCharBoundary(&out);
  }
  return out;
}

}  // namespace sightline::postgres
