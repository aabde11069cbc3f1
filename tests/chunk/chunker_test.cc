#include "chunk/chunker.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <set>

#include "crypto/hash.h"

namespace bulwark::chunk {
namespace {

// Small sizes keep the tests fast while exercising the same code paths as the 1 MiB default.
constexpr ChunkerParams kParams{.min_size = 2 * 1024, .avg_size = 8 * 1024, .max_size = 32 * 1024};

Bytes RandomData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  return out;
}

Bytes Seed(uint8_t v) { return Bytes(32, v); }

// Splits `data` by feeding it through a StreamChunker in reads of at most `read_size`.
std::vector<Bytes> SplitStream(const GearTable& gear, const ChunkerParams& params,
                               const Bytes& data, size_t read_size) {
  size_t pos = 0;
  StreamChunker chunker(&gear, params, [&](MutableByteView buf) -> ssize_t {
    size_t n = std::min({buf.size(), read_size, data.size() - pos});
    std::memcpy(buf.data(), data.data() + pos, n);
    pos += n;
    return static_cast<ssize_t>(n);
  });
  std::vector<Bytes> chunks;
  ByteView chunk;
  while (chunker.Next(chunk)) chunks.emplace_back(chunk.begin(), chunk.end());
  EXPECT_EQ(chunker.error(), 0);
  return chunks;
}

std::vector<size_t> Lengths(const std::vector<Bytes>& chunks) {
  std::vector<size_t> out;
  for (const auto& c : chunks) out.push_back(c.size());
  return out;
}

TEST(GearTableTest, DeterministicAndSeedDependent) {
  GearTable a = MakeGearTable(Seed(1)), b = MakeGearTable(Seed(1)), c = MakeGearTable(Seed(2));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<uint64_t> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), 256u);
}

TEST(FindBoundaryTest, RespectsMinAndMax) {
  GearTable gear = MakeGearTable(Seed(3));
  Bytes data = RandomData(100000, 1);
  EXPECT_EQ(FindBoundary(gear, kParams, ByteView(data).first(100)), 100u);
  EXPECT_EQ(FindBoundary(gear, kParams, ByteView(data).first(kParams.min_size)), kParams.min_size);
  Bytes zeros(100000, 0);  // the gear hash of a constant run never hits the mask
  EXPECT_EQ(FindBoundary(gear, kParams, zeros), kParams.max_size);
  size_t cut = FindBoundary(gear, kParams, data);
  EXPECT_GT(cut, kParams.min_size);
  EXPECT_LE(cut, kParams.max_size);
  // A cut found in a prefix is the same cut the whole buffer gives.
  EXPECT_EQ(FindBoundary(gear, kParams, ByteView(data).first(cut + 1)), cut);
}

TEST(StreamChunkerTest, ReassemblesAndIsIndependentOfReadSizes) {
  GearTable gear = MakeGearTable(Seed(4));
  Bytes data = RandomData(1 << 20, 2);
  auto whole = SplitStream(gear, kParams, data, data.size());
  Bytes joined;
  for (const auto& c : whole) joined.insert(joined.end(), c.begin(), c.end());
  EXPECT_EQ(joined, data);
  for (size_t read_size : {1u, 7u, 4096u, 65537u}) {
    EXPECT_EQ(Lengths(SplitStream(gear, kParams, data, read_size)), Lengths(whole)) << read_size;
  }
  EXPECT_EQ(Lengths(SplitStream(gear, kParams, data, data.size())), Lengths(whole));
}

TEST(StreamChunkerTest, SizesWithinBoundsAndAverageNearTarget) {
  GearTable gear = MakeGearTable(Seed(5));
  Bytes data = RandomData(16 << 20, 3);
  auto chunks = SplitStream(gear, kParams, data, 1 << 16);
  ASSERT_GT(chunks.size(), 100u);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    ASSERT_GE(chunks[i].size(), kParams.min_size) << i;
    ASSERT_LE(chunks[i].size(), kParams.max_size) << i;
  }
  double avg = static_cast<double>(data.size()) / chunks.size();
  EXPECT_GT(avg, 0.8 * kParams.avg_size);
  EXPECT_LT(avg, 1.25 * kParams.avg_size);
}

TEST(StreamChunkerTest, DefaultParamsAverageNearOneMiB) {
  GearTable gear = MakeGearTable(Seed(6));
  ChunkerParams params;
  Bytes data = RandomData(64 << 20, 4);
  auto lengths = Lengths(SplitStream(gear, params, data, 1 << 20));
  for (size_t i = 0; i + 1 < lengths.size(); ++i) {
    ASSERT_GE(lengths[i], params.min_size);
    ASSERT_LE(lengths[i], params.max_size);
  }
  double avg = static_cast<double>(data.size()) / lengths.size();
  EXPECT_GT(avg, 0.75 * params.avg_size);
  EXPECT_LT(avg, 1.33 * params.avg_size);
}

std::set<Id> ChunkIds(const std::vector<Bytes>& chunks) {
  std::set<Id> ids;
  for (const auto& c : chunks) ids.insert(crypto::Sha256(c));
  return ids;
}

TEST(StreamChunkerTest, BoundariesResynchroniseAfterInsertion) {
  GearTable gear = MakeGearTable(Seed(7));
  Bytes data = RandomData(2 << 20, 5);
  auto before = SplitStream(gear, kParams, data, 1 << 16);
  Bytes edited = data;
  Bytes insert = RandomData(37, 99);
  edited.insert(edited.begin() + 5000, insert.begin(), insert.end());
  auto after = SplitStream(gear, kParams, edited, 1 << 16);

  std::set<Id> old_ids = ChunkIds(before);
  size_t reused = 0;
  for (const auto& c : after) reused += old_ids.count(crypto::Sha256(c));
  // Only the chunk(s) around the edit change.
  EXPECT_GE(reused + 3, after.size());
  EXPECT_GE(reused, before.size() - 3);

  // Deleting bytes resynchronises as well.
  Bytes cut = data;
  cut.erase(cut.begin() + 100000, cut.begin() + 100100);
  auto after_cut = SplitStream(gear, kParams, cut, 1 << 16);
  reused = 0;
  for (const auto& c : after_cut) reused += old_ids.count(crypto::Sha256(c));
  EXPECT_GE(reused + 3, after_cut.size());
}

TEST(StreamChunkerTest, DifferentSeedsGiveDifferentBoundaries) {
  Bytes data = RandomData(1 << 20, 6);
  auto a = Lengths(SplitStream(MakeGearTable(Seed(8)), kParams, data, 1 << 16));
  auto b = Lengths(SplitStream(MakeGearTable(Seed(9)), kParams, data, 1 << 16));
  EXPECT_NE(a, b);
  // Cut positions should overlap no more than chance would allow.
  std::set<size_t> cuts_a;
  size_t pos = 0;
  for (size_t len : a) cuts_a.insert(pos += len);
  size_t shared = 0;
  pos = 0;
  for (size_t len : b) shared += cuts_a.count(pos += len);
  EXPECT_LT(shared, a.size() / 4);
}

TEST(StreamChunkerTest, EmptyAndTinyStreams) {
  GearTable gear = MakeGearTable(Seed(10));
  EXPECT_TRUE(SplitStream(gear, kParams, Bytes{}, 100).empty());
  auto one = SplitStream(gear, kParams, Bytes{42}, 100);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], Bytes{42});
}

TEST(StreamChunkerTest, ReadErrorSurfaces) {
  GearTable gear = MakeGearTable(Seed(11));
  Bytes data = RandomData(200000, 7);
  size_t pos = 0;
  StreamChunker chunker(&gear, kParams, [&](MutableByteView buf) -> ssize_t {
    if (pos >= 100000) {
      errno = EIO;
      return -1;
    }
    size_t n = std::min<size_t>(buf.size(), 10000);
    std::memcpy(buf.data(), data.data() + pos, n);
    pos += n;
    return static_cast<ssize_t>(n);
  });
  ByteView chunk;
  size_t total = 0;
  while (chunker.Next(chunk)) total += chunk.size();
  EXPECT_EQ(chunker.error(), EIO);
  EXPECT_LT(total, 100000u);
  EXPECT_FALSE(chunker.Next(chunk));  // stays failed
}

TEST(StreamChunkerTest, BufferIsBoundedByMaxSize) {
  GearTable gear = MakeGearTable(Seed(12));
  size_t largest_read = 0;
  size_t produced = 0;
  const size_t total = 8 << 20;
  StreamChunker chunker(&gear, kParams, [&](MutableByteView buf) -> ssize_t {
    largest_read = std::max(largest_read, buf.size());
    size_t n = std::min(buf.size(), total - produced);
    std::memset(buf.data(), static_cast<int>(produced >> 10), n);
    produced += n;
    return static_cast<ssize_t>(n);
  });
  ByteView chunk;
  size_t seen = 0;
  while (chunker.Next(chunk)) seen += chunk.size();
  EXPECT_EQ(seen, total);
  EXPECT_LE(largest_read, 2 * size_t{kParams.max_size});
}

}  // namespace
}  // namespace bulwark::chunk
