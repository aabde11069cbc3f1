#include "repo/index.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <iostream>

#include "crypto/hash.h"

namespace bulwark::repo {
namespace {

Id H(const std::string& s) { return crypto::Sha256(AsBytes(s)); }

IndexedPack MakePack(const std::string& name, int first, int count) {
  IndexedPack p{H("pack " + name), {}};
  uint32_t offset = 0;
  for (int i = first; i < first + count; ++i) {
    BlobType type = i % 3 == 0 ? BlobType::kTree : BlobType::kData;
    p.blobs.push_back({type, H("blob " + std::to_string(i)), offset, 100u + i, 1000u + i});
    offset += 100u + i;
  }
  return p;
}

TEST(IndexFileTest, RoundTrip) {
  std::vector<IndexedPack> packs = {MakePack("a", 0, 10), MakePack("b", 10, 0),
                                    MakePack("c", 10, 300)};
  Bytes encoded = EncodeIndexFile(packs);
  auto decoded = DecodeIndexFile(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  ASSERT_EQ(decoded->size(), 3u);
  for (size_t i = 0; i < packs.size(); ++i) {
    EXPECT_EQ((*decoded)[i].pack, packs[i].pack);
    ASSERT_EQ((*decoded)[i].blobs.size(), packs[i].blobs.size());
    for (size_t k = 0; k < packs[i].blobs.size(); ++k) {
      const auto &a = (*decoded)[i].blobs[k], &b = packs[i].blobs[k];
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.id, b.id);
      EXPECT_EQ(a.offset, b.offset);
      EXPECT_EQ(a.length, b.length);
      EXPECT_EQ(a.raw_length, b.raw_length);
    }
  }
  EXPECT_TRUE(DecodeIndexFile(EncodeIndexFile({})).ok());
}

TEST(IndexFileTest, RejectsEveryTruncationAndTrailingBytes) {
  Bytes encoded = EncodeIndexFile({MakePack("a", 0, 3), MakePack("b", 3, 2)});
  for (size_t n = 0; n < encoded.size(); ++n) {
    auto r = DecodeIndexFile(ByteView(encoded).first(n));
    EXPECT_FALSE(r.ok()) << n;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
    }
  }
  encoded.push_back(0);
  EXPECT_FALSE(DecodeIndexFile(encoded).ok());
}

TEST(IndexFileTest, RejectsHugeCountsWithoutAllocating) {
  Bytes b = {'B', 'W', 'I', 'X', 1};
  PutVarint(b, UINT64_MAX / 2);
  EXPECT_FALSE(DecodeIndexFile(b).ok());
  Bytes c = {'B', 'W', 'I', 'X', 1, 1};
  c.insert(c.end(), 32, 0xab);
  PutVarint(c, 1ull << 40);
  EXPECT_FALSE(DecodeIndexFile(c).ok());
  Bytes bad_type = EncodeIndexFile({MakePack("a", 1, 1)});
  bad_type[4 + 1 + 1 + 32 + 1] = 7;  // the blob's type byte
  EXPECT_FALSE(DecodeIndexFile(bad_type).ok());
}

TEST(IndexTest, FindAndCount) {
  Index index;
  index.AddPack(MakePack("a", 0, 100));
  index.AddPack(MakePack("b", 100, 100));
  index.AddPack(MakePack("a", 0, 100));  // same pack from another index file: no-op
  EXPECT_EQ(index.BlobCount(), 200u);
  EXPECT_EQ(index.Packs().size(), 2u);
  auto loc = index.Find(BlobType::kData, H("blob 101"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->pack, H("pack b"));
  EXPECT_EQ(loc->length, 201u);
  EXPECT_EQ(loc->raw_length, 1101u);
  EXPECT_FALSE(index.Find(BlobType::kTree, H("blob 101")));  // 101 is a data blob
  EXPECT_TRUE(index.Find(BlobType::kTree, H("blob 102")));
  EXPECT_FALSE(index.Find(BlobType::kData, H("nothing")));
  auto in_a = index.BlobsInPack(H("pack a"));
  ASSERT_EQ(in_a.size(), 100u);
  EXPECT_EQ(in_a[5].id, H("blob 5"));
  size_t seen = 0;
  index.ForEachBlob([&](const IndexedBlob&, const Id& pack) {
    EXPECT_TRUE(pack == H("pack a") || pack == H("pack b"));
    ++seen;
  });
  EXPECT_EQ(seen, 200u);
  index.Clear();
  EXPECT_EQ(index.BlobCount(), 0u);
  EXPECT_FALSE(index.Find(BlobType::kData, H("blob 101")));
}

TEST(IndexTest, CondemnedPacksAreReadableButNotUsable) {
  Index index;
  index.Condemn(H("pack old"));  // condemnation may arrive before the pack
  index.AddPack(MakePack("old", 0, 10));
  EXPECT_TRUE(index.IsCondemned(H("pack old")));
  EXPECT_TRUE(index.Find(BlobType::kData, H("blob 1")));  // still readable
  EXPECT_FALSE(index.HasUsable(BlobType::kData, H("blob 1")));

  // A backup re-stores blob 1 into a new pack: now usable, and Find prefers the new copy.
  IndexedPack fresh{H("pack new"), {{BlobType::kData, H("blob 1"), 0, 77, 1001}}};
  index.AddPack(fresh);
  EXPECT_TRUE(index.HasUsable(BlobType::kData, H("blob 1")));
  auto loc = index.Find(BlobType::kData, H("blob 1"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->pack, H("pack new"));
  EXPECT_EQ(index.BlobCount(), 10u);
  size_t locations = 0;
  index.ForEachBlob([&](const IndexedBlob&, const Id&) { ++locations; });
  EXPECT_EQ(locations, 11u);

  // Condemning the new one too: still found (some location), not usable.
  index.Condemn(H("pack new"));
  EXPECT_FALSE(index.HasUsable(BlobType::kData, H("blob 1")));
  EXPECT_TRUE(index.Find(BlobType::kData, H("blob 1")));
  EXPECT_EQ(index.CondemnedPacks().size(), 2u);
}

// The whole point of the flat layout: a million blobs must fit well under 150 MiB.
TEST(IndexTest, MillionBlobsStaySmall) {
  // Large vectors are mmapped (hblkhd), the rest comes from the heap (uordblks).
  auto heap = [] {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  size_t before = heap();
  {
    Index index;
    const int kPacks = 1000, kPerPack = 1000;
    index.Reserve(size_t{kPacks} * kPerPack);
    for (int p = 0; p < kPacks; ++p) {
      IndexedPack pack{H("p" + std::to_string(p)), {}};
      pack.blobs.reserve(kPerPack);
      for (int i = 0; i < kPerPack; ++i) {
        // Real IDs are uniformly random; splitmix64 stands in for SHA-256 (much faster).
        Id id;
        uint64_t x = uint64_t(p) << 32 | uint32_t(i);
        for (int w = 0; w < 4; ++w) {
          uint64_t z = (x += 0x9E3779B97F4A7C15ull);
          z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
          z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
          z ^= z >> 31;
          std::memcpy(id.bytes.data() + 8 * w, &z, 8);
        }
        pack.blobs.push_back({BlobType::kData, id, uint32_t(i) * 100, 100, 90});
      }
      index.AddPack(pack);
    }
    size_t used = heap() - before;
    EXPECT_EQ(index.BlobCount(), size_t{kPacks} * kPerPack);
    EXPECT_LT(used, 100u << 20) << "index uses " << (used >> 20) << " MiB";
    std::cout << "index of 1M blobs: " << (used >> 20) << " MiB\n";
  }
}

}  // namespace
}  // namespace bulwark::repo
