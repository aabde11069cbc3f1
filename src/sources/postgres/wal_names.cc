#include "sources/postgres/wal_names.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace bulwark::sources::postgres {

namespace {

bool AllHex(std::string_view s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return !s.empty();
}

uint64_t HexValue(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return v;
}

}  // namespace

Result<Lsn> ParseLsn(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 > 8 ||
      !AllHex(text.substr(0, slash)) || !AllHex(text.substr(slash + 1))) {
    return Error(ErrorCode::kUsage,
                 "'" + std::string(text) + "' is not a WAL position (expected e.g. 16/B374D848)");
  }
  return (HexValue(text.substr(0, slash)) << 32) | HexValue(text.substr(slash + 1));
}

std::string FormatLsn(Lsn lsn) {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

std::string WalFileName(uint32_t timeline, uint64_t segno, uint64_t seg_size) {
  const uint64_t per_id = 0x100000000ull / seg_size;
  return fmt::format("{:08X}{:08X}{:08X}", timeline, static_cast<uint32_t>(segno / per_id),
                     static_cast<uint32_t>(segno % per_id));
}

bool IsWalSegmentName(std::string_view name) { return name.size() == 24 && AllHex(name); }

bool IsTimelineHistoryName(std::string_view name) {
  return name.size() == 16 && AllHex(name.substr(0, 8)) && name.substr(8) == ".history";
}

std::optional<WalFileId> ParseWalFileName(std::string_view name, uint64_t seg_size) {
  if (!IsWalSegmentName(name)) return std::nullopt;
  const uint64_t per_id = 0x100000000ull / seg_size;
  WalFileId id;
  id.timeline = static_cast<uint32_t>(HexValue(name.substr(0, 8)));
  uint64_t log = HexValue(name.substr(8, 8));
  uint64_t seg = HexValue(name.substr(16, 8));
  if (seg >= per_id) return std::nullopt;
  id.segno = log * per_id + seg;
  return id;
}

}  // namespace bulwark::sources::postgres
