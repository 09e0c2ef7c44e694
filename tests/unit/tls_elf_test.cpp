// ElfFile against real binaries, checked with a second, deliberately naive ELF reader
// (raw <elf.h> structs over the whole file) that shares no code with libelf.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tls/elf_file.h"
#include "temp_dir.h"

namespace sightline::tls::testing {

// What the naive reader says about one defined FUNC symbol. Also used by
// tls_binary_inspector_test.cpp.
struct RawFunction {
  uint64_t value = 0;
  uint64_t size = 0;
  uint64_t file_offset = 0;  // value mapped through the PT_LOAD that holds it
  bool hidden = false;       // a non-default version in .gnu.version
};

std::vector<uint8_t> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

template <typename T>
T At(const std::vector<uint8_t>& file, uint64_t offset) {
  T value{};
  if (offset + sizeof(T) <= file.size()) std::memcpy(&value, file.data() + offset, sizeof(T));
  return value;
}

// Every defined FUNC symbol called exactly `name` in the section of type `table`
// (SHT_SYMTAB or SHT_DYNSYM) of a 64-bit little-endian ELF.
std::vector<RawFunction> RawFunctions(const std::vector<uint8_t>& file, uint32_t table,
                                      const std::string& name) {
  auto ehdr = At<Elf64_Ehdr>(file, 0);
  auto section = [&](size_t i) {
    return At<Elf64_Shdr>(file, ehdr.e_shoff + i * sizeof(Elf64_Shdr));
  };
  std::optional<Elf64_Shdr> symbols, versions;
  for (size_t i = 0; i < ehdr.e_shnum; ++i) {
    Elf64_Shdr shdr = section(i);
    if (shdr.sh_type == table && !symbols) symbols = shdr;
    if (shdr.sh_type == SHT_GNU_versym && !versions) versions = shdr;
  }
  std::vector<RawFunction> found;
  if (!symbols) return found;
  Elf64_Shdr strings = section(symbols->sh_link);
  for (size_t i = 0; i < symbols->sh_size / sizeof(Elf64_Sym); ++i) {
    auto sym = At<Elf64_Sym>(file, symbols->sh_offset + i * sizeof(Elf64_Sym));
    if (sym.st_shndx == SHN_UNDEF || ELF64_ST_TYPE(sym.st_info) != STT_FUNC) continue;
    const char* sym_name =
        reinterpret_cast<const char*>(file.data() + strings.sh_offset + sym.st_name);
    if (name != sym_name) continue;
    RawFunction fn{sym.st_value, sym.st_size, 0, false};
    if (table == SHT_DYNSYM && versions) {
      fn.hidden = (At<uint16_t>(file, versions->sh_offset + 2 * i) & 0x8000) != 0;
    }
    for (size_t p = 0; p < ehdr.e_phnum; ++p) {
      auto phdr = At<Elf64_Phdr>(file, ehdr.e_phoff + p * sizeof(Elf64_Phdr));
      if (phdr.p_type == PT_LOAD && sym.st_value >= phdr.p_vaddr &&
          sym.st_value < phdr.p_vaddr + phdr.p_filesz) {
        fn.file_offset = sym.st_value - phdr.p_vaddr + phdr.p_offset;
      }
    }
    found.push_back(fn);
  }
  return found;
}

// The file bytes of the first section called `name`.
std::vector<uint8_t> RawSection(const std::vector<uint8_t>& file, const std::string& name) {
  auto ehdr = At<Elf64_Ehdr>(file, 0);
  auto names = At<Elf64_Shdr>(file, ehdr.e_shoff + ehdr.e_shstrndx * sizeof(Elf64_Shdr));
  for (size_t i = 0; i < ehdr.e_shnum; ++i) {
    auto shdr = At<Elf64_Shdr>(file, ehdr.e_shoff + i * sizeof(Elf64_Shdr));
    if (name == reinterpret_cast<const char*>(file.data() + names.sh_offset + shdr.sh_name)) {
      return std::vector<uint8_t>(file.begin() + static_cast<long>(shdr.sh_offset),
                                  file.begin() + static_cast<long>(shdr.sh_offset + shdr.sh_size));
    }
  }
  return {};
}

// The one function a uprobe would go on: .symtab first, then the default version in .dynsym.
std::optional<RawFunction> ReferenceFunction(const std::vector<uint8_t>& file,
                                             const std::string& name) {
  for (uint32_t table : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (const auto& fn : RawFunctions(file, table, name)) {
      if (!fn.hidden) return fn;
    }
  }
  return std::nullopt;
}

}  // namespace sightline::tls::testing

namespace {

namespace fs = std::filesystem;
using sightline::tls::ElfFile;
using sightline::tls::testing::RawFunctions;
using sightline::tls::testing::ReadWholeFile;

const std::string kLibssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
const std::string kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";

class ElfFileTemp : public sightline::testing::TempDirTest {
 protected:
  ElfFileTemp() : TempDirTest("elf") {}
};

TEST(ElfFile, LibsslFunctionsMatchTheRawTables) {
  std::string error;
  auto elf = ElfFile::Open(kLibssl, &error);
  ASSERT_NE(elf, nullptr) << error;
  EXPECT_EQ(elf->machine(), EM_X86_64);
  EXPECT_TRUE(elf->is_64bit());
  EXPECT_FALSE(elf->has_symtab());  // Debian strips it; .dynsym is what is left
  EXPECT_TRUE(elf->HasSection(".dynsym"));
  EXPECT_FALSE(elf->HasSection(".go.buildinfo"));

  const std::vector<uint8_t> file = ReadWholeFile(kLibssl);
  for (const char* name : {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "SSL_free"}) {
    SCOPED_TRACE(name);
    auto raw = sightline::tls::testing::ReferenceFunction(file, name);
    ASSERT_TRUE(raw.has_value());
    ASSERT_NE(raw->file_offset, 0u);
    auto sym = elf->FindFunction(name);
    ASSERT_TRUE(sym.has_value());
    EXPECT_EQ(sym->name, name);
    EXPECT_EQ(sym->address, raw->value);
    EXPECT_EQ(sym->size, raw->size);
    EXPECT_EQ(elf->FileOffset(sym->address), raw->file_offset);
    auto bytes = elf->Read(sym->address, 4);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ(*bytes, std::vector<uint8_t>(file.begin() + static_cast<long>(raw->file_offset),
                                           file.begin() + static_cast<long>(raw->file_offset) + 4));
  }
}

TEST(ElfFile, OnlyDefinedFunctionsAreFound) {
  std::string error;
  auto elf = ElfFile::Open(kLibssl, &error);
  ASSERT_NE(elf, nullptr) << error;
  // Imported from libcrypto: in .dynsym, but undefined here.
  EXPECT_FALSE(elf->FindFunction("ERR_peek_last_error").has_value());
  EXPECT_FALSE(elf->FindFunction("SSL_rea").has_value());  // a prefix is not a match
  EXPECT_FALSE(elf->FindFunction("no_such_function").has_value());
}

TEST(ElfFile, DefaultSymbolVersionWins) {
  // libc exports pthread_cond_wait twice: the GLIBC_2.2.5 compatibility version (hidden)
  // and the GLIBC_2.3.2 default that programs linked today call.
  auto all = RawFunctions(ReadWholeFile(kLibc), SHT_DYNSYM, "pthread_cond_wait");
  ASSERT_EQ(all.size(), 2u);
  ASSERT_NE(all[0].hidden, all[1].hidden);
  const auto& wanted = all[0].hidden ? all[1] : all[0];
  std::string error;
  auto elf = ElfFile::Open(kLibc, &error);
  ASSERT_NE(elf, nullptr) << error;
  auto sym = elf->FindFunction("pthread_cond_wait");
  ASSERT_TRUE(sym.has_value());
  EXPECT_EQ(sym->address, wanted.value);
  EXPECT_EQ(sym->size, wanted.size);
}

TEST(ElfFile, AddressesOutsideTheFileHaveNoOffset) {
  std::string error;
  auto elf = ElfFile::Open(kLibssl, &error);
  ASSERT_NE(elf, nullptr) << error;
  auto raw = sightline::tls::testing::ReferenceFunction(ReadWholeFile(kLibssl), "SSL_read");
  ASSERT_TRUE(raw.has_value());
  EXPECT_FALSE(elf->FileOffset(0xffff'ffff'0000'0000ull).has_value());
  EXPECT_FALSE(elf->Read(0xffff'ffff'0000'0000ull, 1).has_value());
  // A read may not run off the end of its segment.
  EXPECT_FALSE(elf->Read(raw->value, 1u << 30).has_value());
  auto empty = elf->Read(raw->value, 0);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(ElfFile, SectionData) {
  std::string error;
  auto elf = ElfFile::Open(kLibssl, &error);
  ASSERT_NE(elf, nullptr) << error;
  auto versym = elf->SectionData(".gnu.version");
  ASSERT_TRUE(versym.has_value());
  EXPECT_EQ(*versym, sightline::tls::testing::RawSection(ReadWholeFile(kLibssl), ".gnu.version"));
  EXPECT_FALSE(versym->empty());
  EXPECT_FALSE(elf->SectionData(".bss").has_value());  // SHT_NOBITS: nothing in the file
  EXPECT_FALSE(elf->SectionData(".no_such_section").has_value());
}

TEST(ElfFile, MissingFileNamesPathAndReason) {
  std::string error;
  EXPECT_EQ(ElfFile::Open("/nonexistent/libssl.so.3", &error), nullptr);
  EXPECT_EQ(error, "/nonexistent/libssl.so.3: No such file or directory");
}

TEST_F(ElfFileTemp, NonElfFilesAreRefused) {
  std::string text = Write("notes.txt", {'h', 'e', 'l', 'l', 'o', '\n'});
  std::string error;
  EXPECT_EQ(ElfFile::Open(text, &error), nullptr);
  EXPECT_EQ(error, text + ": not an ELF file");

  std::string empty = Write("empty", {});
  EXPECT_EQ(ElfFile::Open(empty, &error), nullptr);
  EXPECT_TRUE(error.starts_with(empty + ": ")) << error;

  EXPECT_EQ(ElfFile::Open(dir_.string(), &error), nullptr);
  EXPECT_EQ(error, dir_.string() + ": not a regular file");
}

TEST_F(ElfFileTemp, TruncatedElfIsHarmless) {
  std::vector<uint8_t> head = ReadWholeFile(kLibssl);
  head.resize(100);  // the ELF header, and the first program header cut in two
  std::string path = Write("truncated.so", head);
  std::string error;
  auto elf = ElfFile::Open(path, &error);
  if (elf == nullptr) {
    EXPECT_TRUE(error.starts_with(path + ": ")) << error;
    return;
  }
  EXPECT_FALSE(elf->has_symtab());
  EXPECT_FALSE(elf->FindFunction("SSL_read").has_value());
  EXPECT_FALSE(elf->HasSection(".dynsym"));
  EXPECT_FALSE(elf->Read(0, 4).has_value());
}

}  // namespace
