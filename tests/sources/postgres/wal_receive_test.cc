// Unit tests of wal-receive's pure parts: the streaming replication messages it parses and
// sends, the blob layout of partial segments, and the partial record names wal-get looks for.
// Streaming itself is tested against a real server (integration/postgres_receive_test.sh).
#include "sources/postgres/wal_receive.h"

#include <gtest/gtest.h>

#include <vector>

#include "sources/postgres/wal_archive.h"

namespace bulwark::sources::postgres {
namespace {

Bytes Be64(uint64_t v) {
  Bytes b;
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return b;
}

TEST(WalReceive, ParsesXLogData) {
  Bytes msg = {'w'};
  for (uint64_t v : {0x16B374D848ull, 0x16B3750000ull, 12345ull}) {
    Bytes b = Be64(v);
    msg.insert(msg.end(), b.begin(), b.end());
  }
  msg.insert(msg.end(), {1, 2, 3});
  auto m = ParseXLogData(msg);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->start, 0x16B374D848ull);
  EXPECT_EQ(m->server_end, 0x16B3750000ull);
  EXPECT_EQ(m->send_time, 12345);
  ASSERT_EQ(m->data.size(), 3u);
  EXPECT_EQ(m->data[2], 3);
  // Too short, or another message type.
  EXPECT_FALSE(ParseXLogData(ByteView(msg.data(), 24)).has_value());
  msg[0] = 'k';
  EXPECT_FALSE(ParseXLogData(msg).has_value());
}

TEST(WalReceive, ParsesKeepalive) {
  Bytes msg = {'k'};
  Bytes end = Be64(0x3000060);
  Bytes time = Be64(7);
  msg.insert(msg.end(), end.begin(), end.end());
  msg.insert(msg.end(), time.begin(), time.end());
  msg.push_back(1);
  auto m = ParseKeepalive(msg);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->server_end, 0x3000060u);
  EXPECT_EQ(m->send_time, 7);
  EXPECT_TRUE(m->reply_requested);
  msg.back() = 0;
  EXPECT_FALSE(ParseKeepalive(msg)->reply_requested);
  msg.push_back(0);
  EXPECT_FALSE(ParseKeepalive(msg).has_value());
}

TEST(WalReceive, EncodesStandbyStatus) {
  Bytes m = EncodeStandbyStatus(0x0102030405060708ull, 0x10, 0, 0x20, true);
  ASSERT_EQ(m.size(), 34u);
  EXPECT_EQ(m[0], 'r');
  EXPECT_EQ(m[1], 0x01);
  EXPECT_EQ(m[8], 0x08);
  EXPECT_EQ(m[16], 0x10);
  EXPECT_EQ(m[24], 0x00);
  EXPECT_EQ(m[32], 0x20);
  EXPECT_EQ(m[33], 1);
}

TEST(WalReceive, PieceLayoutCoversThePrefix) {
  for (uint64_t size :
       {0ull, 1ull, 4095ull, 4096ull, 70000ull, (1ull << 20) + 5, (16ull << 20) - 1, 16ull << 20}) {
    auto pieces = WalPieceLayout(size);
    uint64_t at = 0;
    for (const auto& [off, len] : pieces) {
      EXPECT_EQ(off, at) << size;
      EXPECT_GT(len, 0u);
      at += len;
    }
    EXPECT_EQ(at, size);
    EXPECT_LE(pieces.size(), 16u + 15u + 15u + 1u);
  }
  // A whole segment is stored as wal-push stores it: 1 MiB pieces.
  auto whole = WalPieceLayout(16ull << 20);
  ASSERT_EQ(whole.size(), 16u);
  EXPECT_EQ(whole[3].first, uint64_t{3} << 20);
  EXPECT_EQ(whole[3].second, uint64_t{1} << 20);
  // A longer prefix keeps the shorter one's aligned pieces.
  auto a = WalPieceLayout((2ull << 20) + 70000);
  auto b = WalPieceLayout((2ull << 20) + 140000);
  EXPECT_EQ(a[0], b[0]);
  EXPECT_EQ(a[1], b[1]);
  EXPECT_EQ(a[2], b[2]);  // the first 64 KiB piece after 2 MiB
}

TEST(WalReceive, PartialNames) {
  const std::string seg = "000000010000000000000003";
  EXPECT_EQ(PartialWalName(seg, 0x12345), seg + ".partial.00012345");
  auto p = ParsePartialWalName(seg + ".partial.00012345");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->segment, seg);
  EXPECT_EQ(p->size, 0x12345u);
  EXPECT_FALSE(ParsePartialWalName(seg).has_value());
  EXPECT_FALSE(ParsePartialWalName(seg + ".partial").has_value());
  EXPECT_FALSE(ParsePartialWalName(seg + ".partial.0001234G").has_value());
  EXPECT_FALSE(ParsePartialWalName("00000001.history").has_value());
}

}  // namespace
}  // namespace bulwark::sources::postgres
