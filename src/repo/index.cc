#include "repo/index.h"

#include <mutex>

namespace bulwark::repo {

namespace {

constexpr uint8_t kMagic[4] = {'B', 'W', 'I', 'X'};
constexpr uint64_t kIndexVersion = 1;
// Minimum encoded sizes, used to reject counts the input cannot possibly hold before
// reserving memory for them.
constexpr size_t kMinPackEncoding = 32 + 1;
constexpr size_t kMinBlobEncoding = 1 + 32 + 1 + 1 + 1;

Error Corrupt(const std::string& what) {
  return Error(ErrorCode::kIntegrity, "index file: " + what);
}

}  // namespace

Bytes EncodeIndexFile(const std::vector<IndexedPack>& packs) {
  Bytes out;
  size_t blobs = 0;
  for (const auto& p : packs) blobs += p.blobs.size();
  out.reserve(16 + packs.size() * 40 + blobs * 44);
  out.insert(out.end(), std::begin(kMagic), std::end(kMagic));
  PutVarint(out, kIndexVersion);
  PutVarint(out, packs.size());
  for (const auto& p : packs) {
    out.insert(out.end(), p.pack.bytes.begin(), p.pack.bytes.end());
    PutVarint(out, p.blobs.size());
    for (const auto& b : p.blobs) {
      out.push_back(static_cast<uint8_t>(b.type));
      out.insert(out.end(), b.id.bytes.begin(), b.id.bytes.end());
      PutVarint(out, b.offset);
      PutVarint(out, b.length);
      PutVarint(out, b.raw_length);
    }
  }
  return out;
}

Result<std::vector<IndexedPack>> DecodeIndexFile(ByteView plaintext) {
  ByteReader r(plaintext);
  ByteView magic;
  if (!r.ReadBytes(4, magic) || std::memcmp(magic.data(), kMagic, 4) != 0)
    return Corrupt("bad magic");
  uint64_t version = 0, npacks = 0;
  if (!r.ReadVarint(version) || version != kIndexVersion) return Corrupt("unsupported version");
  if (!r.ReadVarint(npacks) || npacks > r.remaining() / kMinPackEncoding)
    return Corrupt("bad pack count");
  std::vector<IndexedPack> packs;
  packs.reserve(npacks);
  for (uint64_t i = 0; i < npacks; ++i) {
    IndexedPack p;
    uint64_t nblobs = 0;
    if (!r.ReadId(p.pack) || !r.ReadVarint(nblobs)) return Corrupt("truncated pack entry");
    if (nblobs > r.remaining() / kMinBlobEncoding) return Corrupt("bad blob count");
    p.blobs.reserve(nblobs);
    for (uint64_t k = 0; k < nblobs; ++k) {
      uint8_t type = 0;
      uint64_t offset = 0, length = 0, raw = 0;
      IndexedBlob b{};
      if (!r.ReadU8(type) || !r.ReadId(b.id) || !r.ReadVarint(offset) || !r.ReadVarint(length) ||
          !r.ReadVarint(raw))
        return Corrupt("truncated blob entry");
      if (type > static_cast<uint8_t>(BlobType::kTree)) return Corrupt("bad blob type");
      if (length == 0 || offset > UINT32_MAX || length > UINT32_MAX - offset || raw > UINT32_MAX)
        return Corrupt("blob location out of range");
      b.type = static_cast<BlobType>(type);
      b.offset = static_cast<uint32_t>(offset);
      b.length = static_cast<uint32_t>(length);
      b.raw_length = static_cast<uint32_t>(raw);
      p.blobs.push_back(b);
    }
    packs.push_back(std::move(p));
  }
  if (!r.AtEnd()) return Corrupt("trailing bytes");
  return packs;
}

size_t Index::Slot(BlobType type, const Id& id) const {
  const size_t mask = table_.size() - 1;
  size_t i = (IdHash()(id) ^ static_cast<size_t>(type)) & mask;
  while (true) {
    uint32_t pos = table_[i];
    if (pos == kEmpty) return i;
    const Entry& e = entries_[pos];
    if (e.id == id && e.type() == type) return i;
    i = (i + 1) & mask;
  }
}

void Index::Grow(size_t min_entries) {
  if (table_.size() >= 2 * min_entries && !table_.empty()) return;
  size_t size = 1024;
  while (size < 2 * min_entries) size *= 2;
  std::vector<uint32_t> old = std::move(table_);
  table_.assign(size, kEmpty);
  for (uint32_t pos : old) {
    if (pos == kEmpty) continue;
    const Entry& e = entries_[pos];
    table_[Slot(e.type(), e.id)] = pos;
  }
}

void Index::Reserve(size_t blobs) {
  std::unique_lock lock(mu_);
  entries_.reserve(entries_.size() + blobs);
  Grow(distinct_ + blobs);
}

void Index::AddPack(const IndexedPack& pack) {
  std::unique_lock lock(mu_);
  if (pack_pos_.count(pack.pack)) return;
  const uint32_t pos = static_cast<uint32_t>(packs_.size());
  packs_.push_back({pack.pack, static_cast<uint32_t>(entries_.size()),
                    static_cast<uint32_t>(pack.blobs.size())});
  pack_pos_.emplace(pack.pack, pos);
  Grow(distinct_ + pack.blobs.size());
  for (const auto& b : pack.blobs) {
    const uint32_t idx = static_cast<uint32_t>(entries_.size());
    entries_.push_back(
        {b.id, pos << 1 | static_cast<uint32_t>(b.type), b.offset, b.length, b.raw_length});
    size_t slot = Slot(b.type, b.id);
    if (table_[slot] == kEmpty) {
      table_[slot] = idx;
      ++distinct_;
    } else {
      extra_.emplace(table_[slot], idx);
    }
  }
}

bool Index::UsableLocked(const Entry& e) const {
  return condemned_.empty() || !condemned_.count(packs_[e.pack()].id);
}

std::optional<BlobLocation> Index::Find(BlobType type, const Id& id) const {
  std::shared_lock lock(mu_);
  if (table_.empty()) return std::nullopt;
  const uint32_t first = table_[Slot(type, id)];
  if (first == kEmpty) return std::nullopt;
  auto location = [&](uint32_t pos) {
    const Entry& e = entries_[pos];
    return BlobLocation{packs_[e.pack()].id, e.offset, e.length, e.raw_length};
  };
  if (UsableLocked(entries_[first])) return location(first);
  auto [begin, end] = extra_.equal_range(first);
  for (auto it = begin; it != end; ++it)
    if (UsableLocked(entries_[it->second])) return location(it->second);
  return location(first);
}

bool Index::HasUsable(BlobType type, const Id& id) const {
  std::shared_lock lock(mu_);
  if (table_.empty()) return false;
  const uint32_t first = table_[Slot(type, id)];
  if (first == kEmpty) return false;
  if (UsableLocked(entries_[first])) return true;
  auto [begin, end] = extra_.equal_range(first);
  for (auto it = begin; it != end; ++it)
    if (UsableLocked(entries_[it->second])) return true;
  return false;
}

void Index::Condemn(const Id& pack) {
  std::unique_lock lock(mu_);
  condemned_.insert(pack);
}

bool Index::IsCondemned(const Id& pack) const {
  std::shared_lock lock(mu_);
  return condemned_.count(pack) > 0;
}

std::vector<Id> Index::CondemnedPacks() const {
  std::shared_lock lock(mu_);
  return std::vector<Id>(condemned_.begin(), condemned_.end());
}

std::vector<Id> Index::Packs() const {
  std::shared_lock lock(mu_);
  std::vector<Id> out;
  out.reserve(packs_.size());
  for (const auto& p : packs_) out.push_back(p.id);
  return out;
}

bool Index::HasPack(const Id& pack) const {
  std::shared_lock lock(mu_);
  return pack_pos_.count(pack) > 0;
}

std::vector<IndexedBlob> Index::BlobsInPack(const Id& pack) const {
  std::shared_lock lock(mu_);
  std::vector<IndexedBlob> out;
  auto it = pack_pos_.find(pack);
  if (it == pack_pos_.end()) return out;
  const PackInfo& p = packs_[it->second];
  out.reserve(p.count);
  for (uint32_t i = p.first; i < p.first + p.count; ++i) {
    const Entry& e = entries_[i];
    out.push_back({e.type(), e.id, e.offset, e.length, e.raw_length});
  }
  return out;
}

size_t Index::BlobCount() const {
  std::shared_lock lock(mu_);
  return distinct_;
}

// Calls fn without holding the lock (one pack's entries copied at a time), so fn may use the
// index itself.
void Index::ForEachBlob(const std::function<void(const IndexedBlob&, const Id& pack)>& fn) const {
  size_t npacks;
  {
    std::shared_lock lock(mu_);
    npacks = packs_.size();
  }
  std::vector<IndexedBlob> blobs;
  for (size_t i = 0; i < npacks; ++i) {
    Id pack;
    blobs.clear();
    {
      std::shared_lock lock(mu_);
      if (i >= packs_.size()) break;  // cleared meanwhile
      const PackInfo& p = packs_[i];
      pack = p.id;
      for (uint32_t k = p.first; k < p.first + p.count; ++k) {
        const Entry& e = entries_[k];
        blobs.push_back({e.type(), e.id, e.offset, e.length, e.raw_length});
      }
    }
    for (const auto& b : blobs) fn(b, pack);
  }
}

void Index::AddIndexFile(const Id& id) {
  std::unique_lock lock(mu_);
  index_files_.push_back(id);
}

std::vector<Id> Index::IndexFiles() const {
  std::shared_lock lock(mu_);
  return index_files_;
}

void Index::Clear() {
  std::unique_lock lock(mu_);
  packs_.clear();
  pack_pos_.clear();
  condemned_.clear();
  entries_ = {};
  table_ = {};
  distinct_ = 0;
  extra_.clear();
  index_files_.clear();
}

}  // namespace bulwark::repo
