// Index: the in-memory map from (blob type, blob ID) to where the blob is stored, merged from
// every index file in the repository, plus the set of packs that prune has condemned.
// Internally synchronised: every method may be called from any thread.
#pragma once

#include <functional>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/types.h"

namespace bulwark::repo {

// One pack's contents as recorded in an index file.
struct IndexedBlob {
  BlobType type;
  Id id;
  uint32_t offset;
  uint32_t length;
  uint32_t raw_length;
};
struct IndexedPack {
  Id pack;
  std::vector<IndexedBlob> blobs;
};

// Index file plaintext (binary, see docs/FORMAT.md). Decode validates every length.
Bytes EncodeIndexFile(const std::vector<IndexedPack>& packs);
Result<std::vector<IndexedPack>> DecodeIndexFile(ByteView plaintext);

class Index {
 public:
  // Adding a pack that is already present is a no-op (packs are immutable, so two index
  // files naming one pack describe the same contents).
  void AddPack(const IndexedPack& pack);
  // Pre-sizes for `blobs` more entries (avoids growth spikes when loading a large index).
  void Reserve(size_t blobs);
  // Best location of a blob: one in a pack that is not condemned if there is one, else any.
  std::optional<BlobLocation> Find(BlobType type, const Id& id) const;
  // True if the blob is stored in at least one pack that is not condemned (a writer may
  // deduplicate against it).
  bool HasUsable(BlobType type, const Id& id) const;
  // Condemning a pack not (yet) in the index is allowed and sticks when it is added.
  void Condemn(const Id& pack);
  bool IsCondemned(const Id& pack) const;
  std::vector<Id> CondemnedPacks() const;
  // Every pack referenced by some index file, with its blobs.
  std::vector<Id> Packs() const;
  bool HasPack(const Id& pack) const;
  std::vector<IndexedBlob> BlobsInPack(const Id& pack) const;
  // Distinct (type, ID) pairs; a blob stored in two packs counts once.
  size_t BlobCount() const;
  // Every stored location, including duplicates in several packs.
  void ForEachBlob(const std::function<void(const IndexedBlob&, const Id& pack)>& fn) const;

  // Index files that have been loaded (by object ID).
  void AddIndexFile(const Id& id);
  std::vector<Id> IndexFiles() const;
  void Clear();

 private:
  // Memory per blob matters (a million blobs must stay far below the RSS budget): entries
  // live in one flat vector (48 bytes each), found through an open-addressing table of
  // 32-bit positions (8-16 bytes per entry at load factor <= 1/2). Node-based maps would cost
  // about twice as much.
  struct Entry {
    Id id;
    uint32_t pack_and_type;  // pack position << 1 | type
    uint32_t offset;
    uint32_t length;
    uint32_t raw_length;
    BlobType type() const { return static_cast<BlobType>(pack_and_type & 1); }
    uint32_t pack() const { return pack_and_type >> 1; }
  };
  struct PackInfo {
    Id id;
    uint32_t first;  // entries_[first, first + count) are this pack's blobs
    uint32_t count;
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;
  size_t Slot(BlobType type, const Id& id) const;  // slot holding it, or the empty slot
  void Grow(size_t min_entries);
  bool UsableLocked(const Entry& e) const;

  mutable std::shared_mutex mu_;
  std::vector<PackInfo> packs_;
  std::unordered_map<Id, uint32_t, IdHash> pack_pos_;
  std::unordered_set<Id, IdHash> condemned_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> table_;  // entry position of the first location of each (type, id)
  size_t distinct_ = 0;
  // Further locations of blobs stored in more than one pack (rare): first entry -> others.
  std::unordered_multimap<uint32_t, uint32_t> extra_;
  std::vector<Id> index_files_;
};

}  // namespace bulwark::repo
