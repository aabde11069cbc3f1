#include "repo/tree_reader.h"

#include <algorithm>

namespace bulwark::repo {

namespace {

Result<Tree> Decoded(const Id& id, const Bytes& plain) {
  auto tree = DecodeTree(plain);
  if (!tree.ok()) {
    return Error(ErrorCode::kIntegrity,
                 "tree " + id.ShortHex() + " is damaged: " + tree.error().message());
  }
  return tree;
}

}  // namespace

TreeReader::TreeReader(const Repository& repo, uint64_t cache_bytes)
    : repo_(repo), cache_bytes_(cache_bytes) {}

std::shared_ptr<const Bytes> TreeReader::PackHolding(const BlobLocation& loc) {
  std::lock_guard lock(mu_);
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->pack == loc.pack) {
      held_.splice(held_.begin(), held_, it);
      return held_.front().bytes;
    }
  }
  uint64_t extent = 0;
  for (const auto& b : repo_.index().BlobsInPack(loc.pack)) {
    // Only packs of trees: a data pack would be read whole for one small tree.
    if (b.type != BlobType::kTree) return nullptr;
    extent = std::max<uint64_t>(extent, uint64_t{b.offset} + b.length);
  }
  if (extent == 0 || extent > cache_bytes_ / 4) return nullptr;
  // Under the lock, so that threads wanting the same pack fetch it once.
  Repository& repo = const_cast<Repository&>(repo_);  // Backend reads are thread-safe
  auto bytes = repo.backend().GetRange(PackKey(loc.pack), 0, extent);
  if (!bytes.ok()) return nullptr;  // Load reads the tree alone and reports what is wrong
  held_.push_front({loc.pack, std::make_shared<const Bytes>(std::move(*bytes))});
  held_bytes_ += extent;
  while (held_bytes_ > cache_bytes_ && held_.size() > 1) {
    held_bytes_ -= held_.back().bytes->size();
    held_.pop_back();
  }
  return held_.front().bytes;
}

Result<Tree> TreeReader::Load(const Id& id) {
  if (auto loc = repo_.index().Find(BlobType::kTree, id)) {
    if (auto pack = PackHolding(*loc);
        pack && pack->size() >= uint64_t{loc->offset} + loc->length) {
      auto plain =
          repo_.DecodeBlob(BlobType::kTree, id, ByteView(pack->data() + loc->offset, loc->length));
      if (plain.ok()) return Decoded(id, *plain);
    }
  }
  // Not indexed, not in a tree pack, or damaged there: alone, through the fallbacks.
  auto plain = repo_.LoadBlob(BlobType::kTree, id);
  if (!plain.ok()) return plain.error().Wrap("loading tree " + id.ShortHex());
  return Decoded(id, *plain);
}

}  // namespace bulwark::repo
