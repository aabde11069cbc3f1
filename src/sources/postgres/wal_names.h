// PostgreSQL WAL positions and file names: LSNs ("16/B374D848"), segment numbers and the
// 24-hex-digit segment file names (timeline, segment), plus timeline history and backup
// history names. Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace bulwark::sources::postgres {

using Lsn = uint64_t;

inline constexpr uint64_t kDefaultWalSegmentSize = 16u << 20;

Result<Lsn> ParseLsn(std::string_view text);  // "X/X" in hex
std::string FormatLsn(Lsn lsn);               // "16/B374D848"

// Segment holding byte `lsn` / the byte just before it (for end positions).
inline uint64_t SegmentOf(Lsn lsn, uint64_t seg_size) { return lsn / seg_size; }
inline uint64_t SegmentBefore(Lsn lsn, uint64_t seg_size) {
  return lsn == 0 ? 0 : (lsn - 1) / seg_size;
}

// "00000001" + 8 + 8 hex digits.
std::string WalFileName(uint32_t timeline, uint64_t segno, uint64_t seg_size);

struct WalFileId {
  uint32_t timeline = 0;
  uint64_t segno = 0;
};
// Parses a plain segment name (24 hex digits, no suffix); nullopt otherwise.
std::optional<WalFileId> ParseWalFileName(std::string_view name, uint64_t seg_size);
bool IsWalSegmentName(std::string_view name);       // 24 hex digits
bool IsTimelineHistoryName(std::string_view name);  // 8 hex digits + ".history"

}  // namespace bulwark::sources::postgres
