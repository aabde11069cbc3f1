#include "sources/postgres/page_checksum.h"

#include <cstring>

namespace bulwark::sources::postgres {

namespace {

constexpr int kLanes = 32;
constexpr uint32_t kFnvPrime = 16777619;
// Initial states of the 32 lanes (fixed by the on-disk format).
constexpr uint32_t kLaneSeeds[kLanes] = {
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};

constexpr size_t kChecksumOffset = 8;

inline uint32_t Mix(uint32_t lane, uint32_t value) {
  uint32_t t = lane ^ value;
  return t * kFnvPrime ^ (t >> 17);
}

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

uint16_t PageChecksum(const uint8_t* page, uint32_t blkno) {
  // The page as rows of 32 words; the lanes run down the columns so the inner loop vectorises.
  alignas(64) uint32_t words[kPageSize / 4];
  std::memcpy(words, page, kPageSize);
  words[kChecksumOffset / 4] &= 0xFFFF0000u;  // pd_checksum (low half on little-endian) as 0
  uint32_t lanes[kLanes];
  std::memcpy(lanes, kLaneSeeds, sizeof(lanes));
  for (size_t row = 0; row < kPageSize / 4 / kLanes; ++row) {
    const uint32_t* w = words + row * kLanes;
    for (int j = 0; j < kLanes; ++j) lanes[j] = Mix(lanes[j], w[j]);
  }
  // Two rounds of zeros for extra mixing, then fold.
  for (int round = 0; round < 2; ++round) {
    for (int j = 0; j < kLanes; ++j) lanes[j] = Mix(lanes[j], 0);
  }
  uint32_t sum = 0;
  for (int j = 0; j < kLanes; ++j) sum ^= lanes[j];
  sum ^= blkno;
  return static_cast<uint16_t>((sum % 65535) + 1);
}

uint64_t PageLsn(const uint8_t* page) {
  // pd_lsn is {uint32 xlogid; uint32 xrecoff}.
  return (static_cast<uint64_t>(Load32(page)) << 32) | Load32(page + 4);
}

uint16_t PageStoredChecksum(const uint8_t* page) { return Load16(page + kChecksumOffset); }

bool PageIsNew(const uint8_t* page) { return Load16(page + 14) == 0; }

}  // namespace bulwark::sources::postgres
