// Which TLS library a binary on disk carries, and where a uprobe goes to see the
// plaintext: the file offsets of the read/write functions, and for Go, of every
// return instruction (a uretprobe rewrites the return address on the stack, which
// Go's movable goroutine stacks do not survive).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::tls {

enum class TlsLibrary : uint8_t { kNone, kOpenSsl, kGo, kGnuTls, kNss, kWolfSsl, kMbedTls };
// "none", "openssl", "go", "gnutls", "nss", "wolfssl", "mbedtls"
std::string_view TlsLibraryName(TlsLibrary library);

enum class Visibility : uint8_t { kVisible, kStripped, kUnsupportedVersion, kUnsupportedLibrary };
// "visible", "stripped", "unsupported_version", "unsupported_library"
std::string_view VisibilityName(Visibility visibility);

// File offsets; 0 = absent (SSL_read_ex and SSL_write_ex appeared in OpenSSL 1.1.1).
struct OpenSslOffsets {
  uint64_t ssl_write = 0, ssl_read = 0, ssl_write_ex = 0, ssl_read_ex = 0, ssl_free = 0;
};

struct GoOffsets {
  uint64_t write_entry = 0, read_entry = 0;           // crypto/tls.(*Conn).Write / .Read
  std::vector<uint64_t> write_returns, read_returns;  // every RET instruction in each
};

struct BinaryInfo {
  TlsLibrary library = TlsLibrary::kNone;
  Visibility visibility = Visibility::kVisible;  // meaningful when library != kNone
  // The Go version ("go1.19.8"), or why the binary is not visible or not TLS at all
  // ("no symbol table (go1.19.8)", "go1.16.15 uses the stack ABI", "not an ELF file").
  std::string detail;
  OpenSslOffsets openssl;
  GoOffsets go;
};

// Reads only the file. Never throws; unreadable/non-ELF files give library kNone with
// detail set.
BinaryInfo InspectBinary(const std::string& path);

// The pieces InspectBinary is built from, exposed for tests.

// Reads size bytes at a virtual address of the binary; nullopt when not in the file.
using VaddrReader = std::function<std::optional<std::vector<uint8_t>>(uint64_t, size_t)>;

// The Go version recorded in a .go.buildinfo section ("go1.19.8"). Go 1.18+ stores the
// string inline; older toolchains store a pointer to a Go string header, which
// read_vaddr resolves (only possible without relocations, i.e. non-PIE). nullopt when
// the section is malformed or the pointer cannot be followed.
std::optional<std::string> GoBuildInfoVersion(std::span<const uint8_t> buildinfo,
                                              const VaddrReader& read_vaddr);

// N in "go1.N", "go1.N.P", "go1.Nrc1" or "devel go1.N-..."; nullopt for anything else.
std::optional<int> GoMinorVersion(std::string_view version);

// The offsets (base + position in code) of every RET instruction of x86-64 machine code,
// found by disassembling from the first byte, so an 0xC3 inside another instruction's
// operands is not one. nullopt when the code does not decode to its end.
std::optional<std::vector<uint64_t>> X86ReturnOffsets(std::span<const uint8_t> code, uint64_t base);

}  // namespace sightline::tls
