// Wire-level pieces of the PostgreSQL protocol (3.0) shared by the
// session: message type sets, startup codes, header checks and the few
// fields the session reads out of message bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sightline::postgres {

// The server refuses startup packets longer than this.
inline constexpr uint32_t kMaxStartupBytes = 10000;
// The server's own limit on one message (MaxAllocSize).
inline constexpr uint32_t kMaxMessageLength = 0x3fffffff;
inline constexpr uint32_t kProtocol3 = 196608;
inline constexpr uint32_t kCancelRequest = 80877102;
inline constexpr uint32_t kSslRequest = 80877103;
inline constexpr uint32_t kGssEncRequest = 80877104;
inline constexpr std::string_view kFrontendTypes = "QPBEDSHCFcdfXp";
inline constexpr std::string_view kBackendTypes = "RKSZTDCEINA123nstGHWdcfVv";
// Types only one direction sends: they tell a mid-life stream's direction.
inline constexpr std::string_view kFrontendOnly = "QPB";
inline constexpr std::string_view kBackendOnly = "ZT123nsIRKAGWtVv";

// Whether `set` holds c (never the NUL byte).
bool IsOneOf(std::string_view set, char c);
uint32_t ReadBe32(const char* p);
// The NUL-terminated string at *pos of `body`, advancing past it; runs to
// the end of the kept bytes when they were cut before the NUL.
std::string_view CString(std::string_view body, size_t* pos);
bool IsStartupCode(uint32_t code);
// A whole startup, SSL, GSSENC or cancel packet starts `data`.
bool IsStartupPacket(std::string_view data);
// Whether a chunk starts with a typed message and every header it holds
// whole chains on plausibly: the test for picking up a stream mid-life.
bool LooksLikeMessages(bool frontend, std::string_view data);
// The SQLSTATE ('C' field) of an ErrorResponse body, "" when absent.
std::string SqlState(std::string_view body);
// "INSERT 0 1" -> "INSERT": names an operation whose text was not seen.
std::string TagName(std::string_view body);

}  // namespace sightline::postgres
