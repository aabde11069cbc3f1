// CRC-64 as Redis computes it over RDB files (the "Jones" polynomial 0xad93d23594c935a9,
// reflected input and output, initial value 0, no final xor). Check value of "123456789" is
// 0xe9c6d914c4b8d9ca. Pure functions over read-only tables: safe from any thread.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace bulwark::sources::redis {

// Continues a CRC: Crc64(Crc64(0, a), b) == Crc64(0, a + b).
uint64_t Crc64(uint64_t crc, ByteView data);

}  // namespace bulwark::sources::redis
