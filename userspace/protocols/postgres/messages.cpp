#include "protocols/postgres/messages.h"

namespace sightline::postgres {

bool IsOneOf(std::string_view set, char c) {
  return c != '\0' && set.find(c) != std::string_view::npos;
}

uint32_t ReadBe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

// The NUL-terminated string at *pos of `body`, advancing past it; runs to
// the end of the kept bytes when they were cut before the NUL.
std::string_view CString(std::string_view body, size_t* pos) {
  if (*pos >= body.size()) return {};
  const size_t nul = body.find('\0', *pos);
  const size_t end = nul == std::string_view::npos ? body.size() : nul;
  const std::string_view out = body.substr(*pos, end - *pos);
  *pos = end + 1;
  return out;
}

bool IsStartupCode(uint32_t code) {
  return (code >> 16) == (kProtocol3 >> 16) || code == kSslRequest || code == kGssEncRequest ||
         code == kCancelRequest;
}

bool IsStartupPacket(std::string_view data) {
  if (data.size() < 8) return false;
  const uint32_t len = ReadBe32(data.data());
  return len >= 8 && len <= kMaxStartupBytes && IsStartupCode(ReadBe32(data.data() + 4));
}

// Whether a chunk starts with a typed message and every header it holds
// whole chains on plausibly: the test for picking up a stream mid-life.
bool LooksLikeMessages(bool frontend, std::string_view data) {
  const std::string_view types = frontend ? kFrontendTypes : kBackendTypes;
  if (data.size() < 5) return false;
  size_t pos = 0;
  while (pos + 5 <= data.size()) {
    const uint32_t len = ReadBe32(data.data() + pos + 1);
    if (!IsOneOf(types, data[pos]) || len < 4 || len > kMaxMessageLength) {
      return false;
    }
    pos += 1 + static_cast<size_t>(len);
  }
  return true;
}

// The SQLSTATE ('C' field) of an ErrorResponse body.
std::string SqlState(std::string_view body) {
  size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    const char field = body[pos++];
    const std::string_view value = CString(body, &pos);
    if (field != 'C') continue;
    if (value.size() != 5) return "";
    for (const char c : value) {
      if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return "";
    }
    return std::string(value);
  }
  return "";
}

// "INSERT 0 1" -> "INSERT": names an operation whose text was not seen.
std::string TagName(std::string_view body) {
  size_t pos = 0;
  const std::string_view tag = CString(body, &pos);
  std::string name;
  for (const char c : tag) {
    if (c < 'A' || c > 'Z' || name.size() >= 32) break;
    name.push_back(c);
  }
  return name;
}

}  // namespace sightline::postgres
