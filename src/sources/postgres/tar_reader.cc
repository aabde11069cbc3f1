#include "sources/postgres/tar_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace bulwark::sources::postgres {

namespace {

constexpr size_t kBlock = 512;

Error Malformed(const std::string& what) {
  return Error(ErrorCode::kFailure, "malformed tar stream: " + what);
}

// A NUL-terminated (or full-width) text field.
std::string Field(const uint8_t* h, size_t at, size_t len) {
  const char* p = reinterpret_cast<const char*>(h + at);
  return std::string(p, strnlen(p, len));
}

// Octal with leading spaces/zeros and a trailing space or NUL, or GNU base-256 (first byte
// 0x80). nullopt when the field holds anything else.
std::optional<uint64_t> Number(const uint8_t* h, size_t at, size_t len) {
  const uint8_t* p = h + at;
  if (p[0] == 0x80) {
    uint64_t v = 0;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | p[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i, ++digits) {
    if (v >> 60) return std::nullopt;
    v = (v << 3) | static_cast<uint64_t>(p[i] - '0');
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != 0) return std::nullopt;
  }
  if (digits == 0 && p[0] != 0 && p[0] != ' ') return std::nullopt;
  return v;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Strips "./" prefixes and trailing slashes; refuses absolute paths and ".." components (the
// tree built from the archive is later written to disk). "" stands for the archive's root.
Result<std::string> NormalisePath(std::string path) {
  while (path.size() >= 2 && path[0] == '.' && path[1] == '/') path.erase(0, 2);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path == ".") path.clear();
  if (!path.empty() && path[0] == '/') return Malformed("absolute path '" + path + "'");
  size_t at = 0;
  while (at <= path.size() && !path.empty()) {
    size_t slash = path.find('/', at);
    std::string_view part(path.data() + at,
                          (slash == std::string::npos ? path.size() : slash) - at);
    if (part.empty() || part == "." || part == "..") {
      return Malformed("unsafe path '" + path + "'");
    }
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  if (path.find('\0') != std::string::npos) return Malformed("NUL in a path");
  return path;
}

uint64_t Padding(uint64_t size) { return (kBlock - size % kBlock) % kBlock; }

}  // namespace

Status TarReader::Feed(ByteView data) {
  size_t at = 0;
  while (at < data.size()) {
    const size_t avail = data.size() - at;
    switch (state_) {
      case State::kHeader: {
        size_t n = std::min(avail, kBlock - header_fill_);
        std::memcpy(header_ + header_fill_, data.data() + at, n);
        header_fill_ += n;
        at += n;
        if (header_fill_ == kBlock) {
          header_fill_ = 0;
          BW_RETURN_IF_ERROR(ParseHeader());
        }
        break;
      }
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(avail, remaining_));
        BW_RETURN_IF_ERROR(visitor_.OnData(data.subspan(at, n)));
        at += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          BW_RETURN_IF_ERROR(visitor_.OnFileEnd());
          state_ = padding_ > 0 ? State::kPadding : State::kHeader;
        }
        break;
      }
      case State::kPadding: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(avail, padding_));
        at += n;
        padding_ -= n;
        if (padding_ == 0) state_ = State::kHeader;
        break;
      }
      case State::kLongName:
      case State::kPax: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(avail, remaining_));
        long_buf_.append(reinterpret_cast<const char*>(data.data() + at), n);
        at += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          if (state_ == State::kPax) {
            BW_RETURN_IF_ERROR(ApplyPax());
          } else {
            std::string name(long_buf_.c_str());  // up to the first NUL
            (long_kind_ == 'L' ? next_path_ : next_link_) = std::move(name);
          }
          long_buf_.clear();
          state_ = padding_ > 0 ? State::kPadding : State::kHeader;
        }
        break;
      }
      case State::kEnd:
        if (!AllZero(data.data() + at, avail)) {
          return Malformed("data after the end-of-archive marker");
        }
        at = data.size();
        break;
    }
  }
  return Status::Ok();
}

Status TarReader::Finish() {
  if (state_ == State::kEnd) return Status::Ok();
  if (state_ == State::kHeader && header_fill_ == 0 && next_path_.empty() && next_link_.empty() &&
      !next_size_set_) {
    return Status::Ok();
  }
  return Malformed(fmt::format("the archive ends inside an entry (after {} entries)", entries_));
}

Status TarReader::ParseHeader() {
  if (AllZero(header_, kBlock)) {
    state_ = State::kEnd;
    return Status::Ok();
  }
  // The checksum: the sum of the header's bytes with the checksum field taken as spaces
  // (unsigned, as POSIX says; some old writers summed signed bytes).
  auto stored = Number(header_, 148, 8);
  uint64_t sum_unsigned = 8 * ' ';
  int64_t sum_signed = 8 * ' ';
  for (size_t i = 0; i < kBlock; ++i) {
    if (i >= 148 && i < 156) continue;
    sum_unsigned += header_[i];
    sum_signed += static_cast<int8_t>(header_[i]);
  }
  if (!stored || (*stored != sum_unsigned && static_cast<int64_t>(*stored) != sum_signed)) {
    return Malformed(fmt::format("bad header checksum after {} entries", entries_));
  }
  const char type = static_cast<char>(header_[156]);
  auto size = Number(header_, 124, 12);
  if (!size) return Malformed("bad size field");

  if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
    if (*size > kMaxLongName) {
      return Malformed(fmt::format("a {} record of {} bytes",
                                   type == 'L' || type == 'K' ? "long-name" : "pax header", *size));
    }
    remaining_ = *size;
    padding_ = Padding(*size);
    long_buf_.clear();
    if (type == 'g') {
      // Global pax records carry defaults this reader does not need: skip them.
      state_ = remaining_ + padding_ > 0 ? State::kPadding : State::kHeader;
      padding_ += remaining_;
      remaining_ = 0;
      return Status::Ok();
    }
    long_kind_ = type;
    state_ = type == 'x' ? State::kPax : State::kLongName;
    if (remaining_ == 0) state_ = State::kHeader;
    return Status::Ok();
  }

  TarEntry e;
  switch (type) {
    case '0':
    case '\0':
    case '7':
      e.type = TarEntry::Type::kFile;
      break;
    case '5':
      e.type = TarEntry::Type::kDir;
      break;
    case '2':
      e.type = TarEntry::Type::kSymlink;
      break;
    default:
      return Malformed(fmt::format("unsupported entry type '{}' for {}",
                                   type >= 0x20 && type < 0x7f
                                       ? std::string(1, type)
                                       : fmt::format("\\x{:02x}", uint8_t(type)),
                                   Field(header_, 0, 100)));
  }
  std::string path;
  if (!next_path_.empty()) {
    path = std::move(next_path_);
  } else {
    path = Field(header_, 0, 100);
    // POSIX ustar ("ustar\0"): a name longer than 100 bytes is split at a '/' into prefix and
    // name. GNU tar ("ustar  ") uses those bytes for other things.
    const bool posix = std::memcmp(header_ + 257, "ustar\0", 6) == 0;
    std::string prefix = posix ? Field(header_, 345, 155) : std::string();
    if (!prefix.empty()) path = prefix + "/" + path;
  }
  if (e.type == TarEntry::Type::kSymlink) {
    e.link_target = !next_link_.empty() ? std::move(next_link_) : Field(header_, 157, 100);
    if (e.link_target.empty()) return Malformed("a symbolic link without a target: " + path);
  }
  if (next_size_set_) size = next_size_;
  next_path_.clear();
  next_link_.clear();
  next_size_set_ = false;
  BW_ASSIGN_OR_RETURN(e.path, NormalisePath(std::move(path)));
  auto mode = Number(header_, 100, 8);
  auto uid = Number(header_, 108, 8);
  auto gid = Number(header_, 116, 8);
  auto mtime = Number(header_, 136, 12);
  if (!mode || !uid || !gid || !mtime) return Malformed("bad numeric field for " + e.path);
  e.mode = static_cast<uint32_t>(*mode & 07777);
  e.uid = static_cast<uint32_t>(*uid);
  e.gid = static_cast<uint32_t>(*gid);
  e.mtime = static_cast<int64_t>(*mtime);
  e.uname = Field(header_, 265, 32);
  e.gname = Field(header_, 297, 32);
  e.size = e.type == TarEntry::Type::kFile ? *size : 0;
  return StartEntry(std::move(e));
}

Status TarReader::StartEntry(TarEntry entry) {
  ++entries_;
  const uint64_t size = entry.size;
  const bool file = entry.type == TarEntry::Type::kFile;
  if (entry.path.empty() && file) return Malformed("a file entry without a name");
  if (!entry.path.empty()) BW_RETURN_IF_ERROR(visitor_.OnEntry(entry));
  if (!file) {
    state_ = State::kHeader;
    return Status::Ok();
  }
  if (size == 0) {
    BW_RETURN_IF_ERROR(visitor_.OnFileEnd());
    state_ = State::kHeader;
    return Status::Ok();
  }
  remaining_ = size;
  padding_ = Padding(size);
  state_ = State::kData;
  return Status::Ok();
}

// Records "<len> <key>=<value>\n"; path, linkpath and size apply to the next entry.
Status TarReader::ApplyPax() {
  std::string_view rest = long_buf_;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    if (sp == std::string_view::npos || sp == 0) return Malformed("bad pax record");
    size_t len = 0;
    for (char c : rest.substr(0, sp)) {
      if (c < '0' || c > '9') return Malformed("bad pax record length");
      len = len * 10 + static_cast<size_t>(c - '0');
      if (len > rest.size()) return Malformed("pax record longer than its header");
    }
    if (len <= sp + 1 || rest[len - 1] != '\n') return Malformed("bad pax record");
    std::string_view kv = rest.substr(sp + 1, len - sp - 2);
    rest.remove_prefix(len);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return Malformed("bad pax record");
    std::string_view key = kv.substr(0, eq);
    std::string_view value = kv.substr(eq + 1);
    if (key == "path") {
      next_path_ = std::string(value);
    } else if (key == "linkpath") {
      next_link_ = std::string(value);
    } else if (key == "size") {
      uint64_t v = 0;
      if (value.empty()) return Malformed("bad pax size");
      for (char c : value) {
        if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return Malformed("bad pax size");
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      next_size_ = v;
      next_size_set_ = true;
    }
  }
  return Status::Ok();
}

}  // namespace bulwark::sources::postgres
