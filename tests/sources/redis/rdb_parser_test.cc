// CRC-64 (Redis's Jones variant) and the streaming RDB parser, over RDB files built here byte
// by byte (every opcode and encoding) and over damaged copies: truncated, bit-flipped, wrong
// version, trailing garbage.
#include "sources/redis/rdb_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sources/redis/crc64.h"

namespace bulwark::sources::redis {
namespace {

TEST(Crc64Test, RedisCheckValue) {
  EXPECT_EQ(Crc64(0, AsBytes("123456789")), 0xe9c6d914c4b8d9caULL);
  EXPECT_EQ(Crc64(0, AsBytes("")), 0u);
}

TEST(Crc64Test, IncrementalEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>((i * 131) & 0xff);
  uint64_t whole = Crc64(0, AsBytes(data));
  for (size_t cut : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    uint64_t c = Crc64(0, AsBytes(std::string_view(data).substr(0, cut)));
    c = Crc64(c, AsBytes(std::string_view(data).substr(cut)));
    EXPECT_EQ(c, whole) << cut;
  }
  // Byte-at-a-time (the table path) agrees with the sliced path.
  uint64_t bytewise = 0;
  for (char ch : data) bytewise = Crc64(bytewise, AsBytes(std::string_view(&ch, 1)));
  EXPECT_EQ(bytewise, whole);
}

// Builds an RDB file.
class RdbBuilder {
 public:
  explicit RdbBuilder(int version = 10) { Raw(fmt("REDIS%04d", version)); }
  static std::string fmt(const char* f, int v) {
    char b[32];
    std::snprintf(b, sizeof(b), f, v);
    return b;
  }
  RdbBuilder& Raw(std::string_view s) {
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  RdbBuilder& Byte(uint8_t b) {
    out_.push_back(b);
    return *this;
  }
  RdbBuilder& Len(uint64_t n) {
    if (n < 64) return Byte(static_cast<uint8_t>(n));
    if (n < 16384) return Byte(static_cast<uint8_t>(0x40 | (n >> 8))).Byte(n & 0xff);
    if (n <= 0xffffffffULL) {
      Byte(0x80);
      for (int i = 3; i >= 0; --i) Byte((n >> (8 * i)) & 0xff);
      return *this;
    }
    Byte(0x81);
    for (int i = 7; i >= 0; --i) Byte((n >> (8 * i)) & 0xff);
    return *this;
  }
  RdbBuilder& Str(std::string_view s) { return Len(s.size()).Raw(s); }
  RdbBuilder& Int8(int8_t v) { return Byte(0xc0).Byte(static_cast<uint8_t>(v)); }
  RdbBuilder& Int16(int16_t v) {
    return Byte(0xc1).Byte(v & 0xff).Byte((static_cast<uint16_t>(v) >> 8) & 0xff);
  }
  RdbBuilder& Int32(int32_t v) {
    Byte(0xc2);
    for (int i = 0; i < 4; ++i) Byte((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
    return *this;
  }
  // LZF with one literal run and one back reference: "abcabcabca" (10 bytes).
  RdbBuilder& Lzf() {
    const uint8_t c[] = {0x02, 'a', 'b', 'c', (7 - 2) << 5 | 0, 2};  // 3 literals; copy 7 from -3
    Byte(0xc3).Len(sizeof(c)).Len(10);
    for (uint8_t b : c) Byte(b);
    return *this;
  }
  RdbBuilder& Fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) Byte((v >> (8 * i)) & 0xff);
    return *this;
  }
  Bytes Finish(bool checksum = true) {
    Byte(0xff);
    uint64_t crc = checksum ? Crc64(0, out_) : 0;
    Fixed(crc, 8);
    return out_;
  }
  Bytes out_;
};

std::string Listpack(int entries) {
  // total bytes (4), count (2), entries of 1-byte small ints with backlen 1, end 0xff.
  std::string lp(6, '\0');
  for (int i = 0; i < entries; ++i) {
    lp.push_back(static_cast<char>(i & 0x7f));
    lp.push_back(1);
  }
  lp.push_back(static_cast<char>(0xff));
  uint32_t total = static_cast<uint32_t>(lp.size());
  for (int i = 0; i < 4; ++i) lp[i] = static_cast<char>((total >> (8 * i)) & 0xff);
  lp[4] = static_cast<char>(entries);
  return lp;
}

std::string Intset() {
  std::string s;
  auto le32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  le32(2);
  le32(3);
  for (uint16_t v : {1, 2, 3}) {
    s.push_back(static_cast<char>(v & 0xff));
    s.push_back(static_cast<char>(v >> 8));
  }
  return s;
}

// Every opcode and value type the parser knows, in one file.
Bytes FullRdb(int version = 11, bool checksum = true) {
  RdbBuilder b(version);
  b.Byte(0xfa).Str("redis-ver").Str("7.0.15");
  b.Byte(0xfa).Str("redis-bits").Int8(64);
  b.Byte(0xfa).Str("ctime").Int32(1700000000);
  b.Byte(0xfa).Str("aof-base").Int16(0);
  b.Byte(0xf5).Str("#!lua name=lib\nredis.register_function('f', function() return 1 end)");
  b.Byte(0xf7).Len(12345).Len(2).Len(2).Len(5).Str("aux").Len(3).Fixed(0, 4).Len(0);  // module aux
  b.Byte(0xfe).Len(0).Byte(0xfb).Len(8).Len(1);
  b.Byte(0).Str("plain").Str("value");                             // string
  b.Byte(0).Str("int").Int32(-123456);                             // int-encoded string
  b.Byte(0xfc).Fixed(1900000000000ULL, 8).Byte(0).Int16(7).Lzf();  // expiring, LZF value
  b.Byte(0xfd).Fixed(1900000000, 4).Byte(0xf9).Byte(5).Byte(0).Str("old-expire").Str("x");
  b.Byte(0xf8).Len(1000).Byte(1).Str("linked").Len(2).Str("a").Str("b");  // IDLE, old list
  b.Byte(2).Str("set").Len(2).Str("m1").Str("m2");
  b.Byte(3).Str("zset-old").Len(2).Str("m").Byte(3).Raw("1.5").Str("n").Byte(254);
  b.Byte(5).Str("zset2").Len(1).Str("m").Fixed(0x3ff8000000000000ULL, 8);
  b.Byte(4).Str("hash").Len(1).Str("f").Str("v");
  b.Byte(11).Str("intset").Str(Intset());
  b.Byte(16).Str("hash-lp").Str(Listpack(4));
  b.Byte(17).Str("zset-lp").Str(Listpack(2));
  b.Byte(20).Str("set-lp").Str(Listpack(3));
  b.Byte(18).Str("quicklist").Len(2).Len(2).Str(Listpack(5)).Len(1).Str(std::string(5000, 'p'));
  b.Byte(7).Str("module-key").Len(99).Len(1).Len(42).Len(4).Fixed(0, 8).Len(0);
  b.Byte(0xfe).Len(3);
  // Stream (type 21) with one node, one group, one pending entry, one consumer.
  b.Byte(21).Str("stream").Len(1).Str(std::string(16, '\0')).Str(Listpack(6));
  b.Len(1).Len(1700000000000ULL).Len(0);                      // length, last id
  b.Len(1700000000000ULL).Len(0).Len(0).Len(0).Len(1);        // first id, max deleted, added
  b.Len(1).Str("group").Len(1700000000000ULL).Len(0).Len(1);  // group, last id, entries read
  b.Len(1).Raw(std::string(16, '\1')).Fixed(1700000000000ULL, 8).Len(1);  // PEL
  b.Len(1).Str("consumer").Fixed(1, 8).Fixed(2, 8).Len(1).Raw(std::string(16, '\1'));
  b.Byte(0).Str(std::string(70000, 'k')).Str(std::string(20000, 'v'));  // 32-bit lengths
  return b.Finish(checksum);
}

Result<RdbInfo> Parse(ByteView data) {
  MemoryRdbSource src(data);
  return ParseRdb(src);
}

TEST(RdbParserTest, ParsesEveryOpcodeAndType) {
  Bytes rdb = FullRdb();
  auto info = Parse(rdb);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->version, 11);
  EXPECT_EQ(info->aux.at("redis-ver"), "7.0.15");
  EXPECT_EQ(info->aux.at("redis-bits"), "64");
  EXPECT_EQ(info->aux.at("ctime"), "1700000000");
  EXPECT_EQ(info->keys, 17u);
  EXPECT_EQ(info->keys_per_db.at(0), 15u);
  EXPECT_EQ(info->keys_per_db.at(3), 2u);
  EXPECT_EQ(info->keys_with_expiry, 2u);
  EXPECT_EQ(info->bytes, rdb.size());
  EXPECT_TRUE(info->checksum_verified);
}

// Records what a visitor sees.
class Recorder : public RdbVisitor {
 public:
  Status OnStart(int v) override {
    version = v;
    return Status::Ok();
  }
  Status OnEntry(const RdbEntry& e) override {
    entries.push_back(e);
    values.emplace_back(reinterpret_cast<const char*>(e.value.data()), e.value.size());
    entries.back().value = {};
    return Status::Ok();
  }
  Status OnFunction(ByteView f) override {
    functions.emplace_back(reinterpret_cast<const char*>(f.data()), f.size());
    return Status::Ok();
  }
  int version = 0;
  std::vector<RdbEntry> entries;
  std::vector<std::string> values;
  std::vector<std::string> functions;
};

TEST(RdbParserTest, VisitorSeesEveryKeyWithItsSerialisation) {
  Bytes rdb = FullRdb();
  MemoryRdbSource src(rdb);
  Recorder rec;
  auto info = ParseRdb(src, &rec);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(rec.version, 11);
  ASSERT_EQ(rec.entries.size(), 17u);
  EXPECT_EQ(rec.entries[0].key, "plain");
  EXPECT_EQ(rec.entries[0].type, 0);
  EXPECT_EQ(rec.values[0], std::string("\x05value"));
  EXPECT_EQ(rec.entries[0].expire_ms, -1);
  EXPECT_EQ(rec.entries[1].key, "int");
  EXPECT_EQ(rec.values[1].size(), 5u);  // 0xc2 + 4 bytes
  EXPECT_EQ(rec.entries[2].key, "7");   // an int-encoded key is decoded
  EXPECT_EQ(rec.entries[2].expire_ms, 1900000000000LL);
  EXPECT_EQ(rec.entries[3].key, "old-expire");
  EXPECT_EQ(rec.entries[3].expire_ms, 1900000000000LL);  // seconds become ms
  EXPECT_EQ(rec.entries[3].freq, 5);
  EXPECT_EQ(rec.entries[4].key, "linked");
  EXPECT_EQ(rec.entries[4].idle_seconds, 1000);
  EXPECT_EQ(rec.entries[4].expire_ms, -1);  // not carried over from the key before
  EXPECT_EQ(rec.entries[4].freq, -1);
  EXPECT_EQ(rec.entries[15].key, "stream");
  EXPECT_EQ(rec.entries[15].db, 3u);
  EXPECT_EQ(rec.entries[16].key, std::string(70000, 'k'));
  EXPECT_EQ(rec.values[16].size(), 20000u + 5);  // 32-bit length + the bytes
  ASSERT_EQ(rec.functions.size(), 1u);
  EXPECT_EQ(rec.functions[0].substr(2, 9), "#!lua nam");  // 2-byte length first
}

// A visitor's error stops the parse and comes back unchanged.
TEST(RdbParserTest, VisitorErrorStopsTheParse) {
  class Failing : public Recorder {
   public:
    Status OnEntry(const RdbEntry& e) override {
      if (e.key == "set") return Error(ErrorCode::kUsage, "stop here");
      return Recorder::OnEntry(e);
    }
  };
  Bytes rdb = FullRdb();
  MemoryRdbSource src(rdb);
  Failing rec;
  auto info = ParseRdb(src, &rec);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code(), ErrorCode::kUsage);
  EXPECT_EQ(info.error().message(), "stop here");
  EXPECT_EQ(rec.entries.size(), 5u);
}

TEST(RdbParserTest, AcceptsDisabledChecksum) {
  auto info = Parse(FullRdb(10, false));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_FALSE(info->checksum_verified);
}

TEST(RdbParserTest, EveryTruncationFails) {
  Bytes rdb = FullRdb();
  // Every cut point, sampled densely at the start and end, sparsely inside big values.
  for (size_t cut = 0; cut < rdb.size(); cut += (cut < 2000 || cut + 2000 > rdb.size()) ? 1 : 997) {
    auto info = Parse(ByteView(rdb.data(), cut));
    ASSERT_FALSE(info.ok()) << "cut at " << cut;
  }
  auto info = Parse(ByteView(rdb.data(), rdb.size() - 3));
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("ends after"), std::string::npos) << info.error().message();
}

TEST(RdbParserTest, EveryBitFlipInTheHeadIsCaught) {
  Bytes rdb = FullRdb();
  for (size_t pos = 0; pos < 400; ++pos) {
    for (int bit = 0; bit < 8; bit += 3) {
      Bytes bad = rdb;
      bad[pos] ^= static_cast<uint8_t>(1 << bit);
      ASSERT_FALSE(Parse(bad).ok()) << "flip at byte " << pos << " bit " << bit;
    }
  }
}

TEST(RdbParserTest, BitFlipInAValueIsAChecksumMismatch) {
  Bytes rdb = FullRdb();
  Bytes bad = rdb;
  bad[rdb.size() - 1000] ^= 0x10;  // inside the 20000-byte value: structure still fine
  auto info = Parse(bad);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("checksum mismatch"), std::string::npos)
      << info.error().message();
}

TEST(RdbParserTest, RejectsUnsupportedVersionAndBadMagic) {
  auto v8 = Parse(FullRdb(8));
  ASSERT_FALSE(v8.ok());
  EXPECT_NE(v8.error().message().find("unsupported RDB version 8"), std::string::npos);
  auto v12 = Parse(FullRdb(12));
  ASSERT_FALSE(v12.ok());
  EXPECT_NE(v12.error().message().find("unsupported RDB version 12"), std::string::npos);
  Bytes rdb = FullRdb();
  rdb[0] = 'X';
  EXPECT_FALSE(Parse(rdb).ok());
}

TEST(RdbParserTest, RejectsTrailingBytesAndUnknownTypes) {
  Bytes rdb = FullRdb();
  rdb.push_back(0);
  auto info = Parse(rdb);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("after the RDB checksum"), std::string::npos);

  RdbBuilder b;
  b.Byte(0xfe).Len(0).Byte(8).Str("k").Str("v");  // type 8 does not exist
  auto bad = Parse(b.Finish());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("unknown opcode or value type 8"), std::string::npos);
}

TEST(RdbParserTest, RejectsBadLzfAndContainers) {
  {
    RdbBuilder b;
    // LZF claims 11 bytes but decodes to 10.
    const uint8_t c[] = {0x02, 'a', 'b', 'c', (7 - 2) << 5 | 0, 2};
    b.Byte(0).Str("k").Byte(0xc3).Len(sizeof(c)).Len(11);
    for (uint8_t x : c) b.Byte(x);
    auto r = Parse(b.Finish());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("LZF"), std::string::npos);
  }
  {
    RdbBuilder b;
    std::string lp = Listpack(3);
    lp[0] = static_cast<char>(lp[0] + 1);
    b.Byte(16).Str("k").Str(lp);
    EXPECT_FALSE(Parse(b.Finish()).ok());
  }
  {
    RdbBuilder b;
    std::string is = Intset();
    is[4] = 4;  // claims 4 members, holds 3
    b.Byte(11).Str("k").Str(is);
    EXPECT_FALSE(Parse(b.Finish()).ok());
  }
}

}  // namespace
}  // namespace bulwark::sources::redis
