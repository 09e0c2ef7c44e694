#include "tls/binary_inspector.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "tls/elf_file.h"

namespace sightline::tls {
namespace {

constexpr std::string_view kGoWrite = "crypto/tls.(*Conn).Write";
constexpr std::string_view kGoRead = "crypto/tls.(*Conn).Read";
// Go 1.17 moved amd64 to the register-based calling convention the Go probes decode.
constexpr int kFirstRegisterAbiMinor = 17;

constexpr std::array<uint8_t, 14> kBuildInfoMagic = {0xff, ' ', 'G', 'o', ' ', 'b', 'u',
                                                     'i',  'l', 'd', 'i', 'n', 'f', ':'};
constexpr size_t kBuildInfoHeader = 32;
constexpr uint8_t kBuildInfoBigEndian = 0x1;
constexpr uint8_t kBuildInfoInline = 0x2;  // Go 1.18+: strings follow the header
constexpr size_t kMaxVersionLength = 128;

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Unsupported TLS libraries, recognised by their file name.
TlsLibrary UnsupportedLibraryByName(std::string_view file) {
  if (file.starts_with("libgnutls.so")) return TlsLibrary::kGnuTls;
  if (file == "libnss3.so" || file == "libssl3.so") return TlsLibrary::kNss;
  if (file.starts_with("libwolfssl.so")) return TlsLibrary::kWolfSsl;
  if (file.starts_with("libmbedtls.so")) return TlsLibrary::kMbedTls;
  return TlsLibrary::kNone;
}

uint64_t ReadUint(std::span<const uint8_t> bytes, bool big_endian) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    uint64_t byte = bytes[big_endian ? i : bytes.size() - 1 - i];
    value = (value << 8) | byte;
  }
  return value;
}

bool LooksLikeVersion(std::string_view s) {
  if (s.empty() || s.size() > kMaxVersionLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; }) ||
         s.starts_with("devel ");
}

bool Contains(const std::vector<uint8_t>& haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// Whether crypto/tls is linked into a Go binary without a symbol table: the function
// names are still in the pclntab (or, failing that, somewhere in the file's data).
bool GoLinksCryptoTls(const ElfFile& elf) {
  if (auto pclntab = elf.SectionData(".gopclntab")) return Contains(*pclntab, kGoWrite);
  for (const std::string& name : elf.ProgbitsSections()) {
    auto data = elf.SectionData(name);
    if (data && Contains(*data, kGoWrite)) return true;
  }
  return false;
}

struct GoFunction {
  uint64_t entry = 0;
  std::vector<uint64_t> returns;
};

// nullopt: the symbol exists but its code cannot be read or disassembled.
std::optional<GoFunction> LocateGoFunction(const ElfFile& elf, const ElfSymbol& sym) {
  auto entry = elf.FileOffset(sym.address);
  auto code = elf.Read(sym.address, sym.size);
  if (!entry || !code || code->empty()) return std::nullopt;
  auto returns = X86ReturnOffsets(*code, *entry);
  if (!returns || returns->empty()) return std::nullopt;
  return GoFunction{*entry, std::move(*returns)};
}

// Fills info for a Go binary. Leaves library kNone when it does not use crypto/tls.
void InspectGo(const ElfFile& elf, BinaryInfo& info) {
  std::optional<std::string> version;
  if (auto buildinfo = elf.SectionData(".go.buildinfo")) {
    version = GoBuildInfoVersion(
        *buildinfo, [&elf](uint64_t vaddr, size_t size) { return elf.Read(vaddr, size); });
  }
  const std::string version_text = version.value_or("Go version unknown");

  if (!elf.has_symtab()) {
    if (!GoLinksCryptoTls(elf)) {
      info.detail = "Go binary without crypto/tls";
      return;
    }
    info.library = TlsLibrary::kGo;
    info.visibility = Visibility::kStripped;
    info.detail = "no symbol table (" + version_text + ")";
    return;
  }

  auto write = elf.FindFunction(kGoWrite);
  auto read = elf.FindFunction(kGoRead);
  if (!write && !read) {
    info.detail = "Go binary without crypto/tls";
    return;
  }
  info.library = TlsLibrary::kGo;
  std::optional<int> minor = version ? GoMinorVersion(*version) : std::nullopt;
  if (!minor) {
    info.visibility = Visibility::kUnsupportedVersion;
    info.detail = version_text + ": cannot tell the calling convention";
    return;
  }
  if (*minor < kFirstRegisterAbiMinor) {
    info.visibility = Visibility::kUnsupportedVersion;
    info.detail = version_text + " uses the stack ABI";
    return;
  }
  auto locate = [&](const std::optional<ElfSymbol>& sym, uint64_t& entry,
                    std::vector<uint64_t>& returns) {
    if (!sym) return true;  // linked out: the probe for it is simply not attached
    auto located = LocateGoFunction(elf, *sym);
    if (!located) return false;
    entry = located->entry;
    returns = std::move(located->returns);
    return true;
  };
  if (!locate(write, info.go.write_entry, info.go.write_returns) ||
      !locate(read, info.go.read_entry, info.go.read_returns)) {
    info.visibility = Visibility::kUnsupportedVersion;
    info.detail = version_text + ": cannot disassemble crypto/tls.(*Conn) Read/Write";
    info.go = {};
    return;
  }
  info.visibility = Visibility::kVisible;
  info.detail = version_text;
}

uint64_t FunctionOffset(const ElfFile& elf, std::string_view name) {
  auto sym = elf.FindFunction(name);
  if (!sym) return 0;
  return elf.FileOffset(sym->address).value_or(0);
}

// Fills info when the binary is (or statically links) OpenSSL.
void InspectOpenSsl(const ElfFile& elf, bool named_libssl, BinaryInfo& info) {
  OpenSslOffsets offsets;
  offsets.ssl_write = FunctionOffset(elf, "SSL_write");
  offsets.ssl_read = FunctionOffset(elf, "SSL_read");
  if (!named_libssl && (offsets.ssl_write == 0 || offsets.ssl_read == 0)) return;
  info.library = TlsLibrary::kOpenSsl;
  if (offsets.ssl_write == 0 || offsets.ssl_read == 0) {
    info.visibility = Visibility::kStripped;
    info.detail = "SSL_write/SSL_read not found";
    return;
  }
  offsets.ssl_write_ex = FunctionOffset(elf, "SSL_write_ex");
  offsets.ssl_read_ex = FunctionOffset(elf, "SSL_read_ex");
  offsets.ssl_free = FunctionOffset(elf, "SSL_free");
  info.openssl = offsets;
  info.visibility = Visibility::kVisible;
  info.detail.clear();
}

BinaryInfo Inspect(const std::string& path) {
  BinaryInfo info;
  std::string error;
  std::unique_ptr<ElfFile> elf = ElfFile::Open(path, &error);
  if (!elf) {
    info.detail = error;
    return info;
  }
  if (elf->machine() != EM_X86_64 || !elf->is_64bit()) {
    info.detail = "not an x86-64 binary (ELF machine " + std::to_string(elf->machine()) + ")";
    return info;
  }
  const std::string_view file = Basename(path);
  if (TlsLibrary lib = UnsupportedLibraryByName(file); lib != TlsLibrary::kNone) {
    info.library = lib;
    info.visibility = Visibility::kUnsupportedLibrary;
    info.detail = std::string(TlsLibraryName(lib)) + " is not supported";
    return info;
  }
  if (elf->HasSection(".go.buildinfo") || elf->HasSection(".note.go.buildid")) {
    InspectGo(*elf, info);
    if (info.library != TlsLibrary::kNone) return info;
  }
  InspectOpenSsl(*elf, file.starts_with("libssl.so"), info);
  if (info.library == TlsLibrary::kNone && info.detail.empty()) info.detail = "no TLS library";
  return info;
}

}  // namespace

std::string_view TlsLibraryName(TlsLibrary library) {
  switch (library) {
    case TlsLibrary::kNone:
      return "none";
    case TlsLibrary::kOpenSsl:
      return "openssl";
    case TlsLibrary::kGo:
      return "go";
    case TlsLibrary::kGnuTls:
      return "gnutls";
    case TlsLibrary::kNss:
      return "nss";
    case TlsLibrary::kWolfSsl:
      return "wolfssl";
    case TlsLibrary::kMbedTls:
      return "mbedtls";
  }
  return "none";
}

std::string_view VisibilityName(Visibility visibility) {
  switch (visibility) {
    case Visibility::kVisible:
      return "visible";
    case Visibility::kStripped:
      return "stripped";
    case Visibility::kUnsupportedVersion:
      return "unsupported_version";
    case Visibility::kUnsupportedLibrary:
      return "unsupported_library";
  }
  return "visible";
}

std::optional<std::string> GoBuildInfoVersion(std::span<const uint8_t> buildinfo,
                                              const VaddrReader& read_vaddr) {
  if (buildinfo.size() < kBuildInfoHeader ||
      !std::equal(kBuildInfoMagic.begin(), kBuildInfoMagic.end(), buildinfo.begin())) {
    return std::nullopt;
  }
  const uint8_t ptr_size = buildinfo[14];
  const uint8_t flags = buildinfo[15];

  if ((flags & kBuildInfoInline) != 0) {
    // uvarint length, then the bytes.
    uint64_t length = 0;
    size_t pos = kBuildInfoHeader;
    for (int shift = 0;; shift += 7) {
      if (pos >= buildinfo.size() || shift > 63) return std::nullopt;
      uint8_t byte = buildinfo[pos++];
      length |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    if (length > kMaxVersionLength || length > buildinfo.size() - pos) return std::nullopt;
    std::string version(reinterpret_cast<const char*>(buildinfo.data() + pos), length);
    if (!LooksLikeVersion(version)) return std::nullopt;
    return version;
  }

  // Before Go 1.18: a pointer to the version's string header (data pointer, length).
  if ((ptr_size != 4 && ptr_size != 8) || !read_vaddr) return std::nullopt;
  const bool big_endian = (flags & kBuildInfoBigEndian) != 0;
  uint64_t header_addr = ReadUint(buildinfo.subspan(16, ptr_size), big_endian);
  auto header = read_vaddr(header_addr, 2 * size_t{ptr_size});
  if (!header || header->size() != 2 * size_t{ptr_size}) return std::nullopt;
  std::span<const uint8_t> fields(*header);
  uint64_t data_addr = ReadUint(fields.first(ptr_size), big_endian);
  uint64_t length = ReadUint(fields.subspan(ptr_size, ptr_size), big_endian);
  if (length == 0 || length > kMaxVersionLength) return std::nullopt;
  auto data = read_vaddr(data_addr, static_cast<size_t>(length));
  if (!data || data->size() != length) return std::nullopt;
  std::string version(data->begin(), data->end());
  if (!LooksLikeVersion(version)) return std::nullopt;
  return version;
}

std::optional<int> GoMinorVersion(std::string_view version) {
  if (version.starts_with("devel ")) version.remove_prefix(6);
  if (!version.starts_with("go1.")) return std::nullopt;
  version.remove_prefix(4);
  int minor = 0;
  size_t digits = 0;
  while (digits < version.size() && digits < 4 && version[digits] >= '0' &&
         version[digits] <= '9') {
    minor = minor * 10 + (version[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return minor;
}

std::optional<std::vector<uint64_t>> X86ReturnOffsets(std::span<const uint8_t> code,
                                                      uint64_t base) {
  csh handle = 0;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return std::nullopt;
  cs_insn* insn = cs_malloc(handle);
  if (insn == nullptr) {
    cs_close(&handle);
    return std::nullopt;
  }
  std::vector<uint64_t> returns;
  const uint8_t* cursor = code.data();
  size_t left = code.size();
  uint64_t address = base;
  while (left > 0 && cs_disasm_iter(handle, &cursor, &left, &address, insn)) {
    if (insn->id == X86_INS_RET) returns.push_back(insn->address);
  }
  cs_free(insn, 1);
  cs_close(&handle);
  // Stopping early means an undecodable byte: whatever follows is not trustworthy.
  if (left != 0) return std::nullopt;
  return returns;
}

BinaryInfo InspectBinary(const std::string& path) {
  try {
    return Inspect(path);
  } catch (const std::exception& e) {
    BinaryInfo info;
    info.detail = path + ": " + e.what();
    return info;
  }
}

}  // namespace sightline::tls
