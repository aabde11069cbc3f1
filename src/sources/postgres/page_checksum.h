// PostgreSQL data page checksums (the algorithm of `initdb --data-checksums`): 32 parallel
// FNV-1a-style lanes over the 8 KiB page with pd_checksum taken as zero, xor-folded, mixed with
// the block number and reduced to 16 bits (never 0). Plus the few page-header fields a backup
// needs to decide whether a page can be verified. Pure functions; safe from any thread.
#pragma once

#include <cstdint>

namespace bulwark::sources::postgres {

inline constexpr uint32_t kPageSize = 8192;
// Pages per relation segment file (1 GiB / 8 KiB): block numbers run on across ".N" files.
inline constexpr uint32_t kPagesPerSegment = 131072;

// `page` points at kPageSize bytes; `blkno` is the block number within the relation (segment
// number * kPagesPerSegment + block within the file).
uint16_t PageChecksum(const uint8_t* page, uint32_t blkno);

// Header fields (little-endian on every platform PostgreSQL runs this format on).
uint64_t PageLsn(const uint8_t* page);
uint16_t PageStoredChecksum(const uint8_t* page);
// pd_upper == 0: a page that was allocated but never initialised; PostgreSQL does not checksum
// these (they are all zeros when healthy).
bool PageIsNew(const uint8_t* page);

}  // namespace bulwark::sources::postgres
