// InspectBinary on real binaries: Debian's libssl, Node.js (static OpenSSL), the Go
// toolchain (stripped), and a Go fixture built with and without its symbol table.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "tls/binary_inspector.h"
#include "tls/elf_file.h"
#include "temp_dir.h"

namespace sightline::tls::testing {
// Defined in tls_elf_test.cpp: a naive ELF reader that shares no code with libelf.
struct RawFunction {
  uint64_t value = 0;
  uint64_t size = 0;
  uint64_t file_offset = 0;
  bool hidden = false;
};
std::optional<RawFunction> ReferenceFunction(const std::vector<uint8_t>& file,
                                             const std::string& name);
std::vector<uint8_t> ReadWholeFile(const std::string& path);
}  // namespace sightline::tls::testing

namespace {

namespace fs = std::filesystem;
using sightline::tls::BinaryInfo;
using sightline::tls::GoBuildInfoVersion;
using sightline::tls::GoMinorVersion;
using sightline::tls::InspectBinary;
using sightline::tls::TlsLibrary;
using sightline::tls::TlsLibraryName;
using sightline::tls::Visibility;
using sightline::tls::VisibilityName;
using sightline::tls::X86ReturnOffsets;
using sightline::tls::testing::ReadWholeFile;
using sightline::tls::testing::ReferenceFunction;

const std::string kLibssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
const std::string kNode = "/usr/bin/node";

class BinaryInspectorTemp : public sightline::testing::TempDirTest {
 protected:
  BinaryInspectorTemp() : TempDirTest("inspect") {}
};

// Every OpenSSL offset equals the naive reader's; the probed bytes are the function's.
void ExpectOpenSslOffsets(const std::string& path, const BinaryInfo& info) {
  const std::vector<uint8_t> file = ReadWholeFile(path);
  const std::pair<const char*, uint64_t> offsets[] = {
      {"SSL_write", info.openssl.ssl_write},       {"SSL_read", info.openssl.ssl_read},
      {"SSL_write_ex", info.openssl.ssl_write_ex}, {"SSL_read_ex", info.openssl.ssl_read_ex},
      {"SSL_free", info.openssl.ssl_free},
  };
  std::string error;
  auto elf = sightline::tls::ElfFile::Open(path, &error);
  ASSERT_NE(elf, nullptr) << error;
  for (const auto& [name, offset] : offsets) {
    SCOPED_TRACE(name);
    auto raw = ReferenceFunction(file, name);
    ASSERT_TRUE(raw.has_value());
    EXPECT_NE(offset, 0u);
    EXPECT_EQ(offset, raw->file_offset);
    auto bytes = elf->Read(raw->value, 4);
    ASSERT_TRUE(bytes.has_value());
    ASSERT_LE(offset + 4, file.size());
    EXPECT_EQ(*bytes, std::vector<uint8_t>(file.begin() + static_cast<long>(offset),
                                           file.begin() + static_cast<long>(offset) + 4));
  }
}

TEST(BinaryInspector, Names) {
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kNone), "none");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kOpenSsl), "openssl");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kGo), "go");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kGnuTls), "gnutls");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kNss), "nss");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kWolfSsl), "wolfssl");
  EXPECT_EQ(TlsLibraryName(TlsLibrary::kMbedTls), "mbedtls");
  EXPECT_EQ(VisibilityName(Visibility::kVisible), "visible");
  EXPECT_EQ(VisibilityName(Visibility::kStripped), "stripped");
  EXPECT_EQ(VisibilityName(Visibility::kUnsupportedVersion), "unsupported_version");
  EXPECT_EQ(VisibilityName(Visibility::kUnsupportedLibrary), "unsupported_library");
}

TEST(BinaryInspector, Libssl) {
  BinaryInfo info = InspectBinary(kLibssl);
  EXPECT_EQ(info.library, TlsLibrary::kOpenSsl);
  EXPECT_EQ(info.visibility, Visibility::kVisible);
  EXPECT_EQ(info.detail, "");
  EXPECT_EQ(info.go.write_entry, 0u);
  ExpectOpenSslOffsets(kLibssl, info);
}

TEST(BinaryInspector, NodeWithStaticOpenSsl) {
  if (!fs::exists(kNode)) GTEST_SKIP() << kNode << " is not installed";
  BinaryInfo info = InspectBinary(kNode);
  EXPECT_EQ(info.library, TlsLibrary::kOpenSsl);
  EXPECT_EQ(info.visibility, Visibility::kVisible);
  ExpectOpenSslOffsets(kNode, info);
}

TEST(BinaryInspector, ProgramWithoutTls) {
  BinaryInfo info = InspectBinary("/bin/true");
  EXPECT_EQ(info.library, TlsLibrary::kNone);
  EXPECT_EQ(info.detail, "no TLS library");
}

TEST(BinaryInspector, MissingFile) {
  BinaryInfo info = InspectBinary("/nonexistent/libssl.so.3");
  EXPECT_EQ(info.library, TlsLibrary::kNone);
  EXPECT_EQ(info.detail, "/nonexistent/libssl.so.3: No such file or directory");
}

TEST_F(BinaryInspectorTemp, NonElfFile) {
  std::string path = Write("libssl.so.3", {'#', '!', '/', 'b', 'i', 'n', '/', 's', 'h', '\n'});
  BinaryInfo info = InspectBinary(path);
  EXPECT_EQ(info.library, TlsLibrary::kNone);
  EXPECT_EQ(info.detail, path + ": not an ELF file");
}

TEST_F(BinaryInspectorTemp, TruncatedElf) {
  std::vector<uint8_t> head = ReadWholeFile(kLibssl);
  head.resize(100);
  BinaryInfo info = InspectBinary(Write("truncated", head));
  EXPECT_EQ(info.library, TlsLibrary::kNone);
  EXPECT_FALSE(info.detail.empty());
  // Named like libssl, it is OpenSSL, but none of its functions can be found.
  info = InspectBinary(Write("libssl.so.3", head));
  EXPECT_EQ(info.library, TlsLibrary::kOpenSsl);
  EXPECT_EQ(info.visibility, Visibility::kStripped);
  EXPECT_EQ(info.openssl.ssl_read, 0u);
}

TEST_F(BinaryInspectorTemp, OtherArchitecture) {
  std::vector<uint8_t> file = ReadWholeFile(kLibssl);
  ASSERT_GT(file.size(), 20u);
  file[18] = EM_AARCH64 & 0xff;  // e_machine, little-endian
  file[19] = EM_AARCH64 >> 8;
  BinaryInfo info = InspectBinary(Write("libssl.so.3", file));
  EXPECT_EQ(info.library, TlsLibrary::kNone);
  EXPECT_EQ(info.detail, "not an x86-64 binary (ELF machine 183)");
}

TEST_F(BinaryInspectorTemp, UnsupportedLibrariesByName) {
  const std::pair<const char*, TlsLibrary> cases[] = {{"libgnutls.so.30", TlsLibrary::kGnuTls},
                                                      {"libnss3.so", TlsLibrary::kNss},
                                                      {"libssl3.so", TlsLibrary::kNss},
                                                      {"libwolfssl.so.35", TlsLibrary::kWolfSsl},
                                                      {"libmbedtls.so.14", TlsLibrary::kMbedTls}};
  for (const auto& [name, library] : cases) {
    SCOPED_TRACE(name);
    fs::create_symlink(kLibssl, dir_ / name);  // any x86-64 ELF will do
    BinaryInfo info = InspectBinary(dir_ / name);
    EXPECT_EQ(info.library, library);
    EXPECT_EQ(info.visibility, Visibility::kUnsupportedLibrary);
    EXPECT_EQ(info.detail, std::string(TlsLibraryName(library)) + " is not supported");
  }
}

TEST(BinaryInspector, ReturnsAreFoundAtInstructionBoundaries) {
  // mov eax, 0xc3; ret — a byte scan would also stop at the immediate's 0xc3.
  const std::vector<uint8_t> code = {0xb8, 0xc3, 0x00, 0x00, 0x00, 0xc3};
  EXPECT_EQ(X86ReturnOffsets(code, 0x1000), std::vector<uint64_t>{0x1005});
  // ret imm16, then int3 padding.
  const std::vector<uint8_t> ret_imm = {0x90, 0xc2, 0x08, 0x00, 0xcc, 0xcc};
  EXPECT_EQ(X86ReturnOffsets(ret_imm, 0), std::vector<uint64_t>{1});
  EXPECT_EQ(X86ReturnOffsets(std::vector<uint8_t>{0x90, 0x90}, 0), std::vector<uint64_t>{});
  // 0x06 (push es) does not exist in 64-bit mode: nothing after it can be trusted.
  EXPECT_EQ(X86ReturnOffsets(std::vector<uint8_t>{0xc3, 0x06, 0xc3}, 0), std::nullopt);
  // An instruction cut off by the end of the function.
  EXPECT_EQ(X86ReturnOffsets(std::vector<uint8_t>{0xc3, 0xb8, 0xc3}, 0), std::nullopt);
}

TEST(BinaryInspector, GoMinorVersion) {
  EXPECT_EQ(GoMinorVersion("go1.19.8"), 19);
  EXPECT_EQ(GoMinorVersion("go1.16"), 16);
  EXPECT_EQ(GoMinorVersion("go1.21rc2"), 21);
  EXPECT_EQ(GoMinorVersion("devel go1.23-4b3c2a1 Tue Jan 2 10:00:00 2024 +0000"), 23);
  EXPECT_EQ(GoMinorVersion("go2.0"), std::nullopt);
  EXPECT_EQ(GoMinorVersion("go1."), std::nullopt);
  EXPECT_EQ(GoMinorVersion(""), std::nullopt);
}

std::vector<uint8_t> BuildInfoHeader(uint8_t ptr_size, uint8_t flags) {
  std::vector<uint8_t> header = {0xff, ' ', 'G', 'o', ' ', 'b', 'u',      'i',
                                 'l',  'd', 'i', 'n', 'f', ':', ptr_size, flags};
  header.resize(32, 0);
  return header;
}

TEST(BinaryInspector, GoBuildInfoInlineVersion) {
  std::vector<uint8_t> info = BuildInfoHeader(8, 0x2);
  const std::string version = "go1.20.14";
  info.push_back(static_cast<uint8_t>(version.size()));
  info.insert(info.end(), version.begin(), version.end());
  info.push_back(0);  // empty module info
  EXPECT_EQ(GoBuildInfoVersion(info, nullptr), "go1.20.14");

  std::vector<uint8_t> cut(info.begin(), info.end() - 4);  // length says more than is there
  EXPECT_EQ(GoBuildInfoVersion(cut, nullptr), std::nullopt);
  std::vector<uint8_t> bad_magic = info;
  bad_magic[3] = 'X';
  EXPECT_EQ(GoBuildInfoVersion(bad_magic, nullptr), std::nullopt);
  EXPECT_EQ(GoBuildInfoVersion(std::vector<uint8_t>(20, 0xff), nullptr), std::nullopt);
}

TEST(BinaryInspector, GoBuildInfoPointerVersion) {
  // Before Go 1.18: at offset 16 a pointer to a string header {data, len}.
  std::vector<uint8_t> info = BuildInfoHeader(8, 0x0);
  const uint64_t header_addr = 0x5000;
  for (int i = 0; i < 8; ++i) info[16 + i] = static_cast<uint8_t>(header_addr >> (8 * i));
  const std::string version = "go1.16.15";
  auto reader = [&](uint64_t vaddr, size_t size) -> std::optional<std::vector<uint8_t>> {
    if (vaddr == header_addr && size == 16) {
      std::vector<uint8_t> header(16, 0);
      header[0] = 0x00;  // data at 0x6000
      header[1] = 0x60;
      header[8] = static_cast<uint8_t>(version.size());
      return header;
    }
    if (vaddr == 0x6000 && size == version.size()) {
      return std::vector<uint8_t>(version.begin(), version.end());
    }
    return std::nullopt;
  };
  EXPECT_EQ(GoBuildInfoVersion(info, reader), "go1.16.15");
  // A PIE's pointers are only filled in by relocations: unreadable, so no version.
  auto nothing = [](uint64_t, size_t) -> std::optional<std::vector<uint8_t>> {
    return std::nullopt;
  };
  EXPECT_EQ(GoBuildInfoVersion(info, nothing), std::nullopt);
}

#ifdef SIGHTLINE_GO_TLS_PROBE

// The Go fixture's crypto/tls functions, in file offsets: [entry, entry + size).
struct GoRange {
  uint64_t begin = 0, end = 0;
};
GoRange FunctionRange(const std::vector<uint8_t>& file, const std::string& name) {
  auto raw = ReferenceFunction(file, name);
  if (!raw) return {};
  return {raw->file_offset, raw->file_offset + raw->size};
}

TEST(BinaryInspector, GoFixtureWithSymbols) {
  const std::string path = SIGHTLINE_GO_TLS_PROBE;
  BinaryInfo info = InspectBinary(path);
  ASSERT_EQ(info.library, TlsLibrary::kGo) << info.detail;
  ASSERT_EQ(info.visibility, Visibility::kVisible) << info.detail;
  EXPECT_TRUE(info.detail.starts_with("go1.")) << info.detail;

  const std::vector<uint8_t> file = ReadWholeFile(path);
  const GoRange write = FunctionRange(file, "crypto/tls.(*Conn).Write");
  const GoRange read = FunctionRange(file, "crypto/tls.(*Conn).Read");
  ASSERT_NE(write.begin, 0u);
  ASSERT_NE(read.begin, 0u);
  EXPECT_EQ(info.go.write_entry, write.begin);
  EXPECT_EQ(info.go.read_entry, read.begin);
  for (const auto& [returns, range] :
       {std::pair{&info.go.write_returns, write}, std::pair{&info.go.read_returns, read}}) {
    EXPECT_FALSE(returns->empty());
    for (uint64_t ret : *returns) {
      SCOPED_TRACE(ret);
      EXPECT_GE(ret, range.begin);
      EXPECT_LT(ret, range.end);
      ASSERT_LT(ret, file.size());
      EXPECT_TRUE(file[ret] == 0xc3 || file[ret] == 0xc2) << std::hex << int{file[ret]};
    }
  }
  std::cout << "[ info     ] " << info.detail << ": Write " << info.go.write_returns.size()
            << " returns, Read " << info.go.read_returns.size() << " returns\n";
}

TEST(BinaryInspector, GoFixtureStripped) {
  BinaryInfo info = InspectBinary(SIGHTLINE_GO_TLS_PROBE_STRIPPED);
  EXPECT_EQ(info.library, TlsLibrary::kGo);
  EXPECT_EQ(info.visibility, Visibility::kStripped);
  EXPECT_TRUE(info.detail.starts_with("no symbol table (go1.")) << info.detail;
  EXPECT_EQ(info.go.write_entry, 0u);
  EXPECT_TRUE(info.go.write_returns.empty());
}

TEST(BinaryInspector, GoToolchainIsStripped) {
  // Debian ships the go command without a symbol table; it links crypto/tls to fetch modules.
  BinaryInfo info = InspectBinary(SIGHTLINE_GO_TOOLCHAIN_BINARY);
  EXPECT_EQ(info.library, TlsLibrary::kGo);
  EXPECT_EQ(info.visibility, Visibility::kStripped);
  EXPECT_TRUE(info.detail.starts_with("no symbol table (go1.")) << info.detail;
}

#else

TEST(BinaryInspector, GoFixtureWithSymbols) { GTEST_SKIP() << "no Go toolchain at configure time"; }
TEST(BinaryInspector, GoFixtureStripped) { GTEST_SKIP() << "no Go toolchain at configure time"; }
TEST(BinaryInspector, GoToolchainIsStripped) {
  GTEST_SKIP() << "no Go toolchain at configure time";
}

#endif

}  // namespace
