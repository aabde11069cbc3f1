#include "repo/pack.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

crypto::SecretKey TestKey(uint8_t fill) {
  crypto::SecretKey k;
  k.bytes.fill(fill);
  return k;
}

Bytes RandomData(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Bytes TextData(size_t n) {
  Bytes b;
  while (b.size() < n) {
    std::string line = "line " + std::to_string(b.size() % 977) + " of compressible text\n";
    b.insert(b.end(), line.begin(), line.end());
  }
  b.resize(n);
  return b;
}

Id FakeId(int i) {
  Id id;
  id.bytes.fill(static_cast<uint8_t>(i));
  id.bytes[31] = static_cast<uint8_t>(i >> 8);
  return id;
}

TEST(PackTest, BlobRoundTripCompressesWhenItPays) {
  auto key = TestKey(7);
  Bytes text = TextData(100000), noise = RandomData(100000, 1);
  Bytes sealed_text, sealed_noise;
  size_t t = EncodeBlob(key, BlobType::kData, FakeId(1), text, 3, sealed_text);
  size_t n = EncodeBlob(key, BlobType::kData, FakeId(2), noise, 3, sealed_noise);
  EXPECT_EQ(t, sealed_text.size());
  EXPECT_LT(t, text.size() / 4);
  // Incompressible data is stored raw: one framing byte plus the AEAD overhead.
  EXPECT_EQ(n, noise.size() + 1 + crypto::kSealOverhead);

  auto back_text = DecodeBlob(key, BlobType::kData, FakeId(1), sealed_text, text.size());
  ASSERT_TRUE(back_text.ok()) << back_text.error().message();
  EXPECT_EQ(*back_text, text);
  auto back_noise = DecodeBlob(key, BlobType::kData, FakeId(2), sealed_noise, kUnknownRawLength);
  ASSERT_TRUE(back_noise.ok());
  EXPECT_EQ(*back_noise, noise);

  // Bound to type, ID, key and length.
  EXPECT_FALSE(DecodeBlob(key, BlobType::kTree, FakeId(1), sealed_text, text.size()).ok());
  EXPECT_FALSE(DecodeBlob(key, BlobType::kData, FakeId(3), sealed_text, text.size()).ok());
  EXPECT_FALSE(DecodeBlob(TestKey(8), BlobType::kData, FakeId(1), sealed_text, text.size()).ok());
  auto wrong_len = DecodeBlob(key, BlobType::kData, FakeId(1), sealed_text, text.size() - 1);
  ASSERT_FALSE(wrong_len.ok());
  EXPECT_EQ(wrong_len.error().code(), ErrorCode::kIntegrity);
  EXPECT_FALSE(DecodeBlob(key, BlobType::kData, FakeId(2), sealed_noise, 5).ok());
}

// One set of buffers decodes a large and then smaller blobs of both frame kinds: each view is
// exactly the blob, whatever the buffers held before, and failures leave no plaintext behind.
TEST(PackTest, DecodeBlobIntoReusesBuffers) {
  auto key = TestKey(7);
  DecodeBuffers buffers;
  const std::vector<Bytes> blobs = {TextData(300000), RandomData(200000, 4),
                                    TextData(1000),   RandomData(10, 5),
                                    Bytes{},          TextData(250000)};
  for (size_t i = 0; i < blobs.size(); ++i) {
    Bytes sealed;
    EncodeBlob(key, BlobType::kData, FakeId(static_cast<int>(i)), blobs[i], 3, sealed);
    auto view = DecodeBlobInto(key, BlobType::kData, FakeId(static_cast<int>(i)), sealed,
                               static_cast<uint32_t>(blobs[i].size()), buffers);
    ASSERT_TRUE(view.ok()) << i << ": " << view.error().message();
    EXPECT_EQ(Bytes(view->begin(), view->end()), blobs[i]) << i;
    auto wrong = DecodeBlobInto(key, BlobType::kData, FakeId(99), sealed,
                                static_cast<uint32_t>(blobs[i].size()), buffers);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code(), ErrorCode::kIntegrity);
  }
  EXPECT_GE(buffers.inflated.size(), 300000u);  // grown once, kept
}

// Blobs decode side by side into one caller buffer (as a restore assembles a file's
// consecutive blocks): each lands exactly in its slot, neighbours untouched; a wrong ID, key
// or slot size is refused.
TEST(PackTest, DecodeBlobToFillsCallerSlots) {
  auto key = TestKey(7);
  DecodeBuffers buffers;
  const std::vector<Bytes> blobs = {TextData(16384), RandomData(16384, 4), Bytes{}, TextData(5000)};
  size_t total = 0;
  for (const auto& b : blobs) total += b.size();
  Bytes out(total + 1, 0xEE);
  size_t at = 0;
  for (size_t i = 0; i < blobs.size(); ++i) {
    Bytes sealed;
    EncodeBlob(key, BlobType::kData, FakeId(static_cast<int>(i)), blobs[i], 3, sealed);
    MutableByteView slot(out.data() + at, blobs[i].size());
    Status ok =
        DecodeBlobTo(key, BlobType::kData, FakeId(static_cast<int>(i)), sealed, slot, buffers);
    ASSERT_TRUE(ok.ok()) << i << ": " << ok.error().message();
    EXPECT_EQ(Bytes(slot.begin(), slot.end()), blobs[i]) << i;
    EXPECT_FALSE(DecodeBlobTo(key, BlobType::kData, FakeId(99), sealed, slot, buffers).ok());
    EXPECT_FALSE(DecodeBlobTo(TestKey(8), BlobType::kData, FakeId(static_cast<int>(i)), sealed,
                              slot, buffers)
                     .ok());
    if (!blobs[i].empty()) {
      auto short_slot = DecodeBlobTo(key, BlobType::kData, FakeId(static_cast<int>(i)), sealed,
                                     slot.first(slot.size() - 1), buffers);
      ASSERT_FALSE(short_slot.ok());
      EXPECT_EQ(short_slot.error().code(), ErrorCode::kIntegrity);
    }
    at += blobs[i].size();
  }
  Bytes expected;
  for (const auto& b : blobs) expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(total)), expected);
  EXPECT_EQ(out.back(), 0xEE);
}

TEST(PackTest, EmptyAndTinyBlobs) {
  auto key = TestKey(1);
  for (size_t n : {0, 1, 63, 64, 65}) {
    Bytes data = TextData(n), sealed;
    EncodeBlob(key, BlobType::kTree, FakeId(9), data, 3, sealed);
    auto back = DecodeBlob(key, BlobType::kTree, FakeId(9), sealed, static_cast<uint32_t>(n));
    ASSERT_TRUE(back.ok()) << n;
    EXPECT_EQ(*back, data);
  }
}

TEST(PackTest, BuildAndParse) {
  auto key = TestKey(3);
  PackBuilder builder(&key);
  std::vector<Bytes> contents;
  for (int i = 0; i < 50; ++i) {
    Bytes data = i % 2 ? TextData(1000 + i * 37) : RandomData(500 + i, i);
    Bytes sealed;
    BlobType type = i % 5 == 0 ? BlobType::kTree : BlobType::kData;
    EncodeBlob(key, type, FakeId(i), data, 3, sealed);
    builder.AddSealed(type, FakeId(i), sealed, static_cast<uint32_t>(data.size()));
    contents.push_back(std::move(data));
  }
  EXPECT_EQ(builder.count(), 50u);
  auto [bytes, pack] = builder.Finish();
  EXPECT_EQ(builder.count(), 0u);
  EXPECT_EQ(pack.pack, crypto::Sha256(bytes));
  ASSERT_EQ(pack.blobs.size(), 50u);

  auto parsed = ParsePackHeader(key, bytes, bytes.size());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const IndexedBlob& b = (*parsed)[i];
    EXPECT_EQ(b.id, FakeId(i));
    EXPECT_EQ(b.type, pack.blobs[i].type);
    EXPECT_EQ(b.offset, pack.blobs[i].offset);
    EXPECT_EQ(b.length, pack.blobs[i].length);
    EXPECT_EQ(b.raw_length, contents[i].size());
    auto data =
        DecodeBlob(key, b.type, b.id, ByteView(bytes).subspan(b.offset, b.length), b.raw_length);
    ASSERT_TRUE(data.ok());
    EXPECT_EQ(*data, contents[i]);
  }
  // A tail that holds the header is enough.
  ByteView tail = ByteView(bytes).subspan(bytes.size() - 4000);
  EXPECT_TRUE(ParsePackHeader(key, tail, bytes.size()).ok());
}

TEST(PackTest, CorruptHeaderIsRejected) {
  auto key = TestKey(3);
  PackBuilder builder(&key);
  Bytes sealed;
  EncodeBlob(key, BlobType::kData, FakeId(1), TextData(5000), 3, sealed);
  builder.AddSealed(BlobType::kData, FakeId(1), sealed, 5000);
  auto [bytes, pack] = builder.Finish();
  for (size_t back = 1; back <= 80; ++back) {
    Bytes bad = bytes;
    bad[bad.size() - back] ^= 0x40;
    auto r = ParsePackHeader(key, bad, bad.size());
    EXPECT_FALSE(r.ok()) << back;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
    }
  }
  EXPECT_FALSE(ParsePackHeader(TestKey(4), bytes, bytes.size()).ok());
  // Truncated at the front (pack size no longer matches the header's blob lengths).
  ByteView cut = ByteView(bytes).subspan(1);
  EXPECT_FALSE(ParsePackHeader(key, cut, cut.size()).ok());
  EXPECT_FALSE(ParsePackHeader(key, ByteView(bytes).first(3), 3).ok());
}

TEST(PackTest, ReadPackHeaderFetchesLargeHeaders) {
  testing::TempDir dir;
  storage::LocalBackend backend(dir.path());
  ASSERT_TRUE(backend.CreateRoot().ok());
  auto key = TestKey(5);
  PackBuilder builder(&key);
  // ~5000 entries make a header of about 200 KiB, more than kPackTailGuess.
  for (int i = 0; i < 5000; ++i) {
    Bytes sealed;
    Id id = crypto::Sha256(AsBytes(std::to_string(i)));
    EncodeBlob(key, BlobType::kData, id, AsBytes(std::to_string(i)), 3, sealed);
    builder.AddSealed(BlobType::kData, id, sealed, static_cast<uint32_t>(std::to_string(i).size()));
  }
  auto [bytes, pack] = builder.Finish();
  ASSERT_TRUE(backend.Put(PackKey(pack.pack), bytes).ok());
  auto blobs = ReadPackHeader(backend, key, pack.pack);
  ASSERT_TRUE(blobs.ok()) << blobs.error().message();
  EXPECT_EQ(blobs->size(), 5000u);
  Id missing;
  auto none = ReadPackHeader(backend, key, missing);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find(missing.ShortHex()), std::string::npos);
}

}  // namespace
}  // namespace bulwark::repo
