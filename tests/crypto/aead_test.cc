#include "crypto/aead.h"

#include <gtest/gtest.h>

namespace bulwark::crypto {
namespace {

SecretKey TestKey(uint8_t start = 0) {
  SecretKey k;
  for (int i = 0; i < 32; ++i) k.bytes[i] = static_cast<uint8_t>(start + i);
  return k;
}

Bytes Pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 131) ^ (i >> 9));
  return b;
}

TEST(AeadTest, RoundTripSizes) {
  SecretKey key = TestKey();
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{4096}, size_t{1} << 20}) {
    Bytes plain = Pattern(n);
    Bytes sealed = Seal(key, plain);
    ASSERT_EQ(sealed.size(), n + kSealOverhead);
    EXPECT_EQ(sealed[0], 1);
    auto opened = Open(key, sealed);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(AeadTest, KnownAnswerFormat) {
  // Built independently with Python (hmac + cryptography's AESGCM) from the documented layout:
  // subkey = HMAC-SHA-256(key, "bulwark-aead-v1" || salt), nonce = 12 zero bytes,
  // GCM associated data = version byte || associated data.
  const char* kSealed =
      "016465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283a310c6fd463e3610bc76"
      "93e9660394243bf76ddaf26ab5fb9ecb90110a8c329b35acf2de56d78a13e59f63d9b88192e9f18c7e3dd8"
      "2dc90a6c349a";
  Bytes sealed = *HexDecode(kSealed);
  auto opened = Open(TestKey(), sealed, AsBytes("pack:1234"));
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(AsString(*opened), "The quick brown fox jumps over the lazy dog");
}

TEST(AeadTest, FreshSaltEachTime) {
  SecretKey key = TestKey();
  Bytes plain = Pattern(100);
  Bytes a = Seal(key, plain), b = Seal(key, plain);
  EXPECT_NE(a, b);
  EXPECT_FALSE(std::equal(a.begin() + 1, a.begin() + 33, b.begin() + 1));
}

TEST(AeadTest, WrongKeyIsIntegrityError) {
  Bytes sealed = Seal(TestKey(0), Pattern(1000));
  auto r = Open(TestKey(1), sealed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
}

TEST(AeadTest, EveryFlippedBitIsDetected) {
  SecretKey key = TestKey();
  Bytes sealed = Seal(key, Pattern(40), AsBytes("ad"));
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = sealed;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      auto r = Open(key, bad, AsBytes("ad"));
      ASSERT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
    }
  }
}

TEST(AeadTest, TruncationAndExtensionDetected) {
  SecretKey key = TestKey();
  Bytes sealed = Seal(key, Pattern(64));
  for (size_t len = 0; len < sealed.size(); ++len) {
    auto r = Open(key, ByteView(sealed.data(), len));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  }
  Bytes longer = sealed;
  longer.push_back(0);
  auto r = Open(key, longer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
}

TEST(AeadTest, AssociatedDataIsBound) {
  SecretKey key = TestKey();
  Bytes sealed = Seal(key, Pattern(64), AsBytes("snapshot"));
  EXPECT_TRUE(Open(key, sealed, AsBytes("snapshot")).ok());
  for (std::string_view ad : {"", "snapshoT", "snapshot ", "index"}) {
    auto r = Open(key, sealed, AsBytes(ad));
    ASSERT_FALSE(r.ok()) << ad;
    EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  }
  Bytes no_ad = Seal(key, Pattern(64));
  EXPECT_FALSE(Open(key, no_ad, AsBytes("x")).ok());
}

TEST(AeadTest, SealAppendKeepsPrefix) {
  SecretKey key = TestKey();
  Bytes out = {9, 9, 9};
  SealAppend(key, Pattern(10), {}, out);
  SealAppend(key, Pattern(20), AsBytes("b"), out);
  ASSERT_EQ(out.size(), 3 + 10 + 20 + 2 * kSealOverhead);
  EXPECT_EQ(out[0], 9);
  auto first = Open(key, ByteView(out).subspan(3, 10 + kSealOverhead));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, Pattern(10));
  auto second = Open(key, ByteView(out).subspan(3 + 10 + kSealOverhead), AsBytes("b"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, Pattern(20));
}

}  // namespace
}  // namespace bulwark::crypto
