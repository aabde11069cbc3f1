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
  void AddPack(const IndexedPack& pack);
  // Best location of a blob: one in a pack that is not condemned if there is one, else any.
  std::optional<BlobLocation> Find(BlobType type, const Id& id) const;
  // True if the blob is stored in at least one pack that is not condemned (a writer may
  // deduplicate against it).
  bool HasUsable(BlobType type, const Id& id) const;
  void Condemn(const Id& pack);
  bool IsCondemned(const Id& pack) const;
  // Every pack referenced by some index file, with its blobs.
  std::vector<Id> Packs() const;
  std::vector<IndexedBlob> BlobsInPack(const Id& pack) const;
  size_t BlobCount() const;
  void ForEachBlob(const std::function<void(const IndexedBlob&, const Id& pack)>& fn) const;

  // Index files that have been loaded (by object ID).
  void AddIndexFile(const Id& id) ;
  std::vector<Id> IndexFiles() const;
  void Clear();

 private:
  struct Entry {
    uint32_t pack;  // position in packs_
    uint32_t offset;
    uint32_t length;
    uint32_t raw_length;
  };
  struct Key {
    Id id;
    BlobType type;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return IdHash()(k.id) ^ static_cast<size_t>(k.type); }
  };
  mutable std::shared_mutex mu_;
  std::vector<Id> packs_;
  std::unordered_map<Id, uint32_t, IdHash> pack_pos_;
  std::unordered_set<uint32_t> condemned_;
  // First location, plus rare extra locations (same blob stored in several packs).
  std::unordered_map<Key, Entry, KeyHash> blobs_;
  std::unordered_multimap<Key, Entry, KeyHash> extra_;
  std::vector<Id> index_files_;
};

}  // namespace bulwark::repo
