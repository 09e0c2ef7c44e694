#include "tls/elf_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sightline::tls {
namespace {

constexpr uint16_t kVersymHidden = 0x8000;

bool LibelfReady() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

std::string LibelfError() {
  const char* msg = elf_errmsg(-1);
  return msg != nullptr ? msg : "unknown libelf error";
}

// "SSL_read", "SSL_read@@OPENSSL_3.0.0" and "SSL_read@OPENSSL_1.0" all name SSL_read.
bool NameMatches(std::string_view symbol, std::string_view wanted) {
  if (!symbol.starts_with(wanted)) return false;
  return symbol.size() == wanted.size() || symbol[wanted.size()] == '@';
}

// A non-default version ("name@V" in .symtab, or hidden in .gnu.version) is what old
// callers bind to; the default one is what a program linked today calls.
bool IsDefaultVersion(std::string_view symbol, std::string_view wanted) {
  return symbol.size() == wanted.size() || symbol.substr(wanted.size()).starts_with("@@");
}

}  // namespace

std::unique_ptr<ElfFile> ElfFile::Open(const std::string& path, std::string* error) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<ElfFile> {
    if (error != nullptr) *error = path + ": " + why;
    return nullptr;
  };
  if (!LibelfReady()) return fail("libelf initialisation failed: " + LibelfError());

  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  std::unique_ptr<ElfFile> file(new ElfFile());
  file->path_ = path;
  file->fd_ = fd;  // closed by the destructor from here on

  struct stat st {};
  if (fstat(fd, &st) != 0) return fail(std::strerror(errno));
  // A FIFO or device would block or lie about its size.
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  file->file_size_ = static_cast<uint64_t>(st.st_size);

  file->elf_ = elf_begin(fd, ELF_C_READ, nullptr);
  if (file->elf_ == nullptr) return fail("not an ELF file: " + LibelfError());
  if (elf_kind(file->elf_) != ELF_K_ELF) return fail("not an ELF file");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(file->elf_, &ehdr) == nullptr) {
    return fail("unreadable ELF header: " + LibelfError());
  }
  file->machine_ = ehdr.e_machine;
  file->is_64bit_ = gelf_getclass(file->elf_) == ELFCLASS64;
  file->big_endian_ = ehdr.e_ident[EI_DATA] == ELFDATA2MSB;

  size_t phnum = 0;
  if (elf_getphdrnum(file->elf_, &phnum) == 0) {
    for (size_t i = 0; i < phnum; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(file->elf_, static_cast<int>(i), &phdr) == nullptr) break;
      if (phdr.p_type != PT_LOAD || phdr.p_offset > file->file_size_) continue;
      // A segment claiming more bytes than the file has is cut to what is really there.
      uint64_t filesz = std::min<uint64_t>(phdr.p_filesz, file->file_size_ - phdr.p_offset);
      file->segments_.push_back({phdr.p_vaddr, phdr.p_offset, filesz});
    }
  }

  // Section headers may be missing (stripped of them, or truncated): then there are none.
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(file->elf_, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(file->elf_, nullptr); scn != nullptr;
         scn = elf_nextscn(file->elf_, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) break;
      if (shdr.sh_type != SHT_NOBITS &&
          (shdr.sh_offset > file->file_size_ || shdr.sh_size > file->file_size_ - shdr.sh_offset)) {
        continue;  // points past the end of the file
      }
      const char* name = elf_strptr(file->elf_, shstrndx, shdr.sh_name);
      file->sections_.push_back({name != nullptr ? name : "", shdr.sh_type, elf_ndxscn(scn)});
    }
  }
  return file;
}

ElfFile::~ElfFile() {
  if (elf_ != nullptr) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

const ElfFile::Section* ElfFile::FindSection(std::string_view name) const {
  for (const Section& s : sections_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool ElfFile::HasSection(std::string_view name) const { return FindSection(name) != nullptr; }

bool ElfFile::has_symtab() const {
  for (const Section& s : sections_) {
    if (s.type == SHT_SYMTAB) return true;
  }
  return false;
}

std::vector<std::string> ElfFile::ProgbitsSections() const {
  std::vector<std::string> names;
  for (const Section& s : sections_) {
    if (s.type == SHT_PROGBITS) names.push_back(s.name);
  }
  return names;
}

std::optional<ElfSymbol> ElfFile::FindInTable(uint32_t table_type, std::string_view name) const {
  const Section* table = nullptr;
  const Section* versym = nullptr;
  for (const Section& s : sections_) {
    if (s.type == table_type && table == nullptr) table = &s;
    if (s.type == SHT_GNU_versym && versym == nullptr) versym = &s;
  }
  if (table == nullptr) return std::nullopt;
  Elf_Scn* scn = elf_getscn(elf_, table->index);
  GElf_Shdr shdr;
  if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_entsize == 0) {
    return std::nullopt;
  }
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr) return std::nullopt;
  // .gnu.version runs parallel to .dynsym only.
  Elf_Data* versions = nullptr;
  if (table_type == SHT_DYNSYM && versym != nullptr) {
    Elf_Scn* vscn = elf_getscn(elf_, versym->index);
    if (vscn != nullptr) versions = elf_getdata(vscn, nullptr);
  }

  std::optional<ElfSymbol> fallback;  // a non-default version, if nothing better turns up
  const size_t count = shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
    if (sym.st_shndx == SHN_UNDEF || GELF_ST_TYPE(sym.st_info) != STT_FUNC) continue;
    const char* raw = elf_strptr(elf_, shdr.sh_link, sym.st_name);
    if (raw == nullptr) continue;
    std::string_view symbol_name(raw);
    if (!NameMatches(symbol_name, name)) continue;
    bool is_default = IsDefaultVersion(symbol_name, name);
    GElf_Versym version;
    if (versions != nullptr && gelf_getversym(versions, static_cast<int>(i), &version) != nullptr &&
        (version & kVersymHidden) != 0) {
      is_default = false;
    }
    ElfSymbol found{std::string(name), sym.st_value, sym.st_size};
    if (is_default) return found;
    if (!fallback) fallback = std::move(found);
  }
  return fallback;
}

std::optional<ElfSymbol> ElfFile::FindFunction(std::string_view name) const {
  if (auto sym = FindInTable(SHT_SYMTAB, name)) return sym;
  return FindInTable(SHT_DYNSYM, name);
}

std::optional<uint64_t> ElfFile::FileOffset(uint64_t vaddr) const {
  for (const Segment& seg : segments_) {
    if (vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.filesz) {
      return seg.offset + (vaddr - seg.vaddr);
    }
  }
  return std::nullopt;
}

std::optional<std::vector<uint8_t>> ElfFile::Read(uint64_t vaddr, size_t size) const {
  for (const Segment& seg : segments_) {
    if (vaddr < seg.vaddr || vaddr - seg.vaddr > seg.filesz) continue;
    uint64_t within = vaddr - seg.vaddr;
    if (size > seg.filesz - within) continue;
    std::vector<uint8_t> out(size);
    size_t done = 0;
    while (done < size) {
      ssize_t n = pread(fd_, out.data() + done, size - done,
                        static_cast<off_t>(seg.offset + within + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;  // error, or the file shrank since it was opened
      done += static_cast<size_t>(n);
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::vector<uint8_t>> ElfFile::SectionData(std::string_view name) const {
  const Section* section = FindSection(name);
  if (section == nullptr || section->type == SHT_NOBITS) return std::nullopt;
  Elf_Scn* scn = elf_getscn(elf_, section->index);
  if (scn == nullptr) return std::nullopt;
  Elf_Data* data = elf_rawdata(scn, nullptr);
  if (data == nullptr) return std::nullopt;
  if (data->d_buf == nullptr || data->d_size == 0) return std::vector<uint8_t>{};
  const auto* bytes = static_cast<const uint8_t*>(data->d_buf);
  return std::vector<uint8_t>(bytes, bytes + data->d_size);
}

}  // namespace sightline::tls
