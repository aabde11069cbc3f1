#include "crypto/keys.h"

#include <gtest/gtest.h>

namespace bulwark::crypto {
namespace {

std::string DeriveHex(std::string_view pass, std::string_view salt, Argon2Params p) {
  SecretKey out;
  Status s = DeriveKeyArgon2id(pass, AsBytes(salt), p, out);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  return HexEncode(out.view());
}

// Expected values come from the Argon2 reference implementation (the `argon2` command-line
// tool, version 1.3, p=1), which reproduces the published vector 09316115... for
// ("password", "somesalt", t=2, m=64 MiB); libsodium needs 16-byte salts, hence these inputs.
TEST(Argon2idTest, ReferenceVectors) {
  EXPECT_EQ(DeriveHex("password", "somesaltsomesalt", {.ops_limit = 2, .mem_limit = 64ull << 20}),
            "fc33b78139231d34b71626bd6245c1d72efa190ad605c3d8166a72adcedfa2c2");
  EXPECT_EQ(DeriveHex("correct horse battery staple", "bulwark-test-slt",
                      {.ops_limit = 3, .mem_limit = 8ull << 20}),
            "b349df39d6d5b9fbb7f19d2f8b446773f39099e9b6baad3737001aee8bc5a9ae");
}

// Two lanes (what new key slots use): the same reference tool with -p 2.
TEST(Argon2idTest, TwoLanesMatchTheReference) {
  EXPECT_EQ(DeriveHex("password", "somesaltsomesalt",
                      {.ops_limit = 2, .mem_limit = 64ull << 20, .lanes = 2}),
            "02ebcec0c5c140e2db6759e211ac43056ccc03290d3e08f5e7e6a6c128ac4a74");
  SecretKey out;
  EXPECT_FALSE(DeriveKeyArgon2id("x", AsBytes("0123456789abcdef"),
                                 {.ops_limit = 1, .mem_limit = 8ull << 20, .lanes = 0}, out)
                   .ok());
  EXPECT_FALSE(DeriveKeyArgon2id("x", AsBytes("0123456789abcdef"),
                                 {.ops_limit = 1, .mem_limit = 8ull << 20, .lanes = 17}, out)
                   .ok());
}

TEST(Argon2idTest, SensitiveToEveryInput) {
  Argon2Params p{.ops_limit = 1, .mem_limit = 8ull << 20};
  std::string base = DeriveHex("pass", "0123456789abcdef", p);
  EXPECT_EQ(base, DeriveHex("pass", "0123456789abcdef", p));
  EXPECT_NE(base, DeriveHex("pasS", "0123456789abcdef", p));
  EXPECT_NE(base, DeriveHex("pass", "0123456789abcdeF", p));
  EXPECT_NE(base, DeriveHex("pass", "0123456789abcdef", {.ops_limit = 2, .mem_limit = 8ull << 20}));
  EXPECT_NE(base, DeriveHex("pass", "0123456789abcdef", {.ops_limit = 1, .mem_limit = 9ull << 20}));
}

TEST(Argon2idTest, RejectsBadSaltAndParams) {
  SecretKey out;
  Argon2Params p{.ops_limit = 1, .mem_limit = 8ull << 20};
  EXPECT_EQ(DeriveKeyArgon2id("x", AsBytes("short"), p, out).error().code(), ErrorCode::kUsage);
  EXPECT_FALSE(DeriveKeyArgon2id("x", AsBytes("0123456789abcdef"), {.ops_limit = 0}, out).ok());
  EXPECT_FALSE(
      DeriveKeyArgon2id("x", AsBytes("0123456789abcdef"), {.ops_limit = 1, .mem_limit = 1}, out)
          .ok());
  EXPECT_FALSE(DeriveKeyArgon2id("x", AsBytes("0123456789abcdef"),
                                 {.ops_limit = 1, .mem_limit = 1ull << 40}, out)
                   .ok());
}

TEST(MasterKeyTest, RandomSerializeParse) {
  MasterKey a = MasterKey::Random(), b = MasterKey::Random();
  Bytes sa = a.Serialize();
  ASSERT_EQ(sa.size(), 96u);
  EXPECT_NE(sa, b.Serialize());
  EXPECT_NE(a.encryption.bytes, a.mac.bytes);
  auto parsed = MasterKey::Parse(sa);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->encryption.bytes, a.encryption.bytes);
  EXPECT_EQ(parsed->mac.bytes, a.mac.bytes);
  EXPECT_EQ(parsed->chunker_seed.bytes, a.chunker_seed.bytes);
  EXPECT_EQ(MasterKey::Parse(ByteView(sa).first(95)).error().code(), ErrorCode::kIntegrity);
}

TEST(RandomTest, BytesDiffer) {
  Bytes a = RandomBytes(32), b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(ConstantTimeEqualTest, Basic) {
  EXPECT_TRUE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEqual(AsBytes("abc"), AsBytes("ab")));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
}

}  // namespace
}  // namespace bulwark::crypto
