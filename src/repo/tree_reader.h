// TreeReader: loads the directory trees of a walk (restore, the parent of an incremental
// backup). A backup writes its trees together into packs that hold only trees, so the first
// tree wanted from such a pack fetches all of the pack's trees in one read and the walk finds
// the next ones already there: on S3 one request per tree pack instead of one per directory.
// Holds at most `cache_bytes` of packs (least recently used go first). Safe from any thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/repository.h"
#include "repo/tree.h"

namespace bulwark::repo {

class TreeReader {
 public:
  explicit TreeReader(const Repository& repo, uint64_t cache_bytes = 64u << 20);

  // The tree `id`, checked against its ID. Errors as files::LoadTree: kNotFound or kIntegrity
  // (naming the tree) when it is missing or damaged here and in every fallback repository.
  Result<Tree> Load(const Id& id);

 private:
  struct HeldPack {
    Id pack;
    std::shared_ptr<const Bytes> bytes;  // the pack from offset 0 to its last blob's end
  };
  std::shared_ptr<const Bytes> PackHolding(const BlobLocation& loc);

  const Repository& repo_;
  const uint64_t cache_bytes_;
  std::mutex mu_;
  std::list<HeldPack> held_;  // most recently used first
  uint64_t held_bytes_ = 0;
};

}  // namespace bulwark::repo
