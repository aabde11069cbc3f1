// Small value types of the repository format shared by the repo layer and its callers:
// blob types, object kinds (and their storage prefixes), pack-entry locations.
// Plain values; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.h"

namespace bulwark::repo {

// What a blob inside a pack holds. Tree blobs go into their own packs so that walking
// snapshots (check, prune, ls) never downloads file data.
enum class BlobType : uint8_t { kData = 0, kTree = 1 };

// Stand-alone encrypted objects, each stored under ObjectKey(kind, id) =
// ObjectPrefix(kind) + hex(sha256 of stored bytes); the prefix includes its trailing slash.
enum class ObjectKind : uint8_t {
  kSnapshot,  // "snapshots/"
  kIndex,     // "index/"
  kLock,      // "locks/"
  kDeletion,  // "deletions/" (prune's two-phase delete records)
};
const char* ObjectPrefix(ObjectKind kind);
std::string ObjectKey(ObjectKind kind, const Id& id);

// Where a blob lives: pack, byte range of its sealed form, and its plaintext length.
struct BlobLocation {
  Id pack;
  uint32_t offset = 0;
  uint32_t length = 0;      // sealed length in the pack
  uint32_t raw_length = 0;  // plaintext length
};

// Storage key of a pack: "data/<first two hex digits>/<hex>".
std::string PackKey(const Id& pack_id);

}  // namespace bulwark::repo
