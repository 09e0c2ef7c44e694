// Read-only view of an ELF file on disk, enough to place uprobes: function
// symbols, virtual address to file offset translation and section contents.
// Built on libelf (gelf), which reads the file with pread rather than mmap, so a
// binary truncated under us yields errors instead of SIGBUS.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct Elf;  // libelf's handle type

namespace sightline::tls {

struct ElfSymbol {
  std::string name;
  uint64_t address = 0;  // st_value: the virtual address for executables and shared objects
  uint64_t size = 0;
};

class ElfFile {
 public:
  // nullptr + *error set (naming the path and reason) when the file is not a readable ELF.
  static std::unique_ptr<ElfFile> Open(const std::string& path, std::string* error);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& path() const { return path_; }
  uint16_t machine() const { return machine_; }  // e_machine, EM_X86_64 for x86-64
  bool is_64bit() const { return is_64bit_; }
  bool big_endian() const { return big_endian_; }

  // A .symtab section is present (not stripped).
  bool has_symtab() const;

  // Defined FUNC symbol with exactly this name: .symtab first, then .dynsym. Versioned
  // names ("SSL_read@@OPENSSL_3.0.0") match their base name; among several versions of
  // one name in .dynsym the default (non-hidden) one wins.
  std::optional<ElfSymbol> FindFunction(std::string_view name) const;

  // Virtual address -> file offset through the PT_LOAD segments (what a uprobe needs).
  // nullopt when no segment holds the address in its file-backed part.
  std::optional<uint64_t> FileOffset(uint64_t vaddr) const;

  // size bytes at vaddr, read from the file; nullopt unless one PT_LOAD segment holds
  // all of them in its file-backed part.
  std::optional<std::vector<uint8_t>> Read(uint64_t vaddr, size_t size) const;

  // Contents of the first section with this name; nullopt when absent or SHT_NOBITS.
  std::optional<std::vector<uint8_t>> SectionData(std::string_view name) const;
  bool HasSection(std::string_view name) const;

  // Names of the sections holding file data (SHT_PROGBITS), in file order.
  std::vector<std::string> ProgbitsSections() const;

 private:
  struct Segment {
    uint64_t vaddr = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
  };
  struct Section {
    std::string name;
    uint32_t type = 0;
    size_t index = 0;
  };

  ElfFile() = default;
  const Section* FindSection(std::string_view name) const;
  std::optional<ElfSymbol> FindInTable(uint32_t table_type, std::string_view name) const;

  std::string path_;
  int fd_ = -1;
  ::Elf* elf_ = nullptr;
  uint64_t file_size_ = 0;
  uint16_t machine_ = 0;
  bool is_64bit_ = false;
  bool big_endian_ = false;
  std::vector<Segment> segments_;
  std::vector<Section> sections_;
};

}  // namespace sightline::tls
