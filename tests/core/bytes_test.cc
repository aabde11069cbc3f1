#include "core/bytes.h"

#include <gtest/gtest.h>

namespace bulwark {
namespace {

TEST(HexTest, RoundTripAndCase) {
  Bytes data = {0x00, 0x01, 0xab, 0xff, 0x7f};
  EXPECT_EQ(HexEncode(data), "0001abff7f");
  auto back = HexDecode("0001ABff7f");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, data);
  EXPECT_EQ(HexEncode({}), "");
  EXPECT_TRUE(HexDecode("")->empty());
}

TEST(HexTest, RejectsMalformed) {
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
  EXPECT_FALSE(HexDecode("0g").has_value());
  EXPECT_FALSE(HexDecode(" 0").has_value());
}

TEST(IdTest, HexRoundTrip) {
  Id id;
  for (int i = 0; i < 32; ++i) id.bytes[i] = static_cast<uint8_t>(i * 7);
  std::string hex = id.Hex();
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(id.ShortHex(), hex.substr(0, 8));
  auto back = Id::FromHex(hex);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, id);
  EXPECT_FALSE(Id::FromHex(hex.substr(0, 62)).has_value());
  EXPECT_FALSE(Id::FromHex(hex + "00").has_value());
  EXPECT_FALSE(id.IsZero());
  EXPECT_TRUE(Id{}.IsZero());
  EXPECT_EQ(Id::FromBytes(ByteView(id.bytes)), id);
  Id other = id;
  other.bytes[31] ^= 1;
  EXPECT_NE(other, id);
  EXPECT_TRUE(id < other || other < id);
}

TEST(EncodingTest, FixedWidthLittleEndian) {
  Bytes out;
  PutU32(out, 0x01020304);
  PutU64(out, 0x1122334455667788ull);
  EXPECT_EQ(HexEncode(out), "040302018877665544332211");
  ByteReader r(out);
  uint32_t a;
  uint64_t b;
  ASSERT_TRUE(r.ReadU32(a));
  ASSERT_TRUE(r.ReadU64(b));
  EXPECT_EQ(a, 0x01020304u);
  EXPECT_EQ(b, 0x1122334455667788ull);
  EXPECT_TRUE(r.AtEnd());
  EXPECT_FALSE(r.failed());
}

TEST(EncodingTest, VarintKnownEncodings) {
  auto enc = [](uint64_t v) {
    Bytes out;
    PutVarint(out, v);
    return HexEncode(out);
  };
  EXPECT_EQ(enc(0), "00");
  EXPECT_EQ(enc(1), "01");
  EXPECT_EQ(enc(127), "7f");
  EXPECT_EQ(enc(128), "8001");
  EXPECT_EQ(enc(300), "ac02");
  EXPECT_EQ(enc(UINT64_MAX), "ffffffffffffffffff01");
}

TEST(EncodingTest, VarintRoundTrip) {
  std::vector<uint64_t> values = {
      0, 1, 127, 128, 255, 16383, 16384, (1ull << 32) - 1, 1ull << 32, (1ull << 63), UINT64_MAX};
  Bytes out;
  for (uint64_t v : values) PutVarint(out, v);
  ByteReader r(out);
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(r.ReadVarint(got));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(r.AtEnd());
}

bool ParseVarint(const std::string& hex, uint64_t& v) {
  Bytes b = *HexDecode(hex);
  ByteReader r(b);
  return r.ReadVarint(v);
}

TEST(ByteReaderTest, RejectsBadVarints) {
  uint64_t v;
  EXPECT_FALSE(ParseVarint("", v));                        // empty
  EXPECT_FALSE(ParseVarint("80", v));                      // continuation with no next byte
  EXPECT_FALSE(ParseVarint("8000", v));                    // overlong zero
  EXPECT_FALSE(ParseVarint("ff00", v));                    // overlong 127
  EXPECT_FALSE(ParseVarint("ffffffffffffffffff02", v));    // more than 64 bits
  EXPECT_FALSE(ParseVarint("ffffffffffffffffff81", v));    // 11th byte
  EXPECT_FALSE(ParseVarint("8080808080808080808001", v));  // 11 bytes
  EXPECT_TRUE(ParseVarint("ffffffffffffffffff01", v));
  EXPECT_EQ(v, UINT64_MAX);
}

TEST(ByteReaderTest, BoundsChecked) {
  Bytes data = {1, 2, 3};
  ByteReader r(data);
  uint32_t u32;
  EXPECT_FALSE(r.ReadU32(u32));
  EXPECT_TRUE(r.failed());
  uint8_t u8;
  EXPECT_FALSE(r.ReadU8(u8));  // stays failed

  ByteReader r2(data);
  ByteView view;
  EXPECT_TRUE(r2.ReadBytes(2, view));
  EXPECT_EQ(view.size(), 2u);
  EXPECT_EQ(r2.remaining(), 1u);
  EXPECT_FALSE(r2.ReadBytes(2, view));
  Id id;
  ByteReader r3(data);
  EXPECT_FALSE(r3.ReadId(id));
  uint64_t u64;
  ByteReader r4(data);
  EXPECT_FALSE(r4.ReadU64(u64));
}

TEST(ByteReaderTest, LengthPrefixed) {
  Bytes out;
  PutLengthPrefixed(out, AsBytes("hello"));
  PutLengthPrefixed(out, {});
  ByteReader r(out);
  ByteView a, b;
  ASSERT_TRUE(r.ReadLengthPrefixed(a));
  ASSERT_TRUE(r.ReadLengthPrefixed(b));
  EXPECT_EQ(AsString(a), "hello");
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(r.AtEnd());

  ByteReader limited(out);
  EXPECT_FALSE(limited.ReadLengthPrefixed(a, 4));
  EXPECT_TRUE(limited.failed());

  // A length that points past the end, including one that would overflow size_t arithmetic.
  Bytes past = {0x06, 'h', 'e', 'l', 'l', 'o'};
  ByteReader rp(past);
  EXPECT_FALSE(rp.ReadLengthPrefixed(a));
  Bytes huge;
  PutVarint(huge, UINT64_MAX);
  huge.push_back(0);
  ByteReader rh(huge);
  EXPECT_FALSE(rh.ReadLengthPrefixed(a));
}

TEST(ByteReaderTest, ReadId) {
  Bytes out(32);
  for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(i);
  ByteReader r(out);
  Id id;
  ASSERT_TRUE(r.ReadId(id));
  EXPECT_EQ(id.bytes[31], 31);
  EXPECT_TRUE(r.AtEnd());
}

}  // namespace
}  // namespace bulwark
