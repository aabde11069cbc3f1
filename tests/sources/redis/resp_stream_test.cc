// RESP command framing of the replication stream: whole commands, every way a command can be
// incomplete (so the stream is only ever cut at a boundary), and malformed input refused; the
// AOF filter keeps SELECT and writes, drops PING/REPLCONF and a transaction cut before EXEC,
// whatever pieces the stream arrives in.
#include "sources/redis/resp_stream.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace bulwark::sources::redis {
namespace {

TEST(RespStreamTest, ParsesWholeCommands) {
  const std::string s = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\n*1\r\n$4\r\nPING\r\n";
  auto a = ParseCommand(AsBytes(s));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->length, 31u);
  ASSERT_EQ((*a)->args.size(), 3u);
  EXPECT_EQ((*a)->args[0], "SET");
  EXPECT_EQ((*a)->args[2], "v\r\nxy");  // binary-safe: CRLF inside a bulk string
  auto b = ParseCommand(AsBytes(std::string_view(s).substr((*a)->length)));
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->args[0], "PING");
  EXPECT_EQ((*a)->length + (*b)->length, s.size());
  EXPECT_TRUE(IsWord((*b)->args[0], "PING"));
  EXPECT_TRUE(IsWord("replconf", "REPLCONF"));
  EXPECT_FALSE(IsWord("REPLCONFX", "REPLCONF"));
}

TEST(RespStreamTest, EveryPrefixIsIncomplete) {
  const std::string s = "*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n";
  for (size_t n = 0; n < s.size(); ++n) {
    auto r = ParseCommand(AsBytes(std::string_view(s).substr(0, n)));
    ASSERT_TRUE(r.ok()) << n;
    EXPECT_FALSE(r->has_value()) << "prefix of " << n << " bytes parsed as whole";
  }
  auto whole = ParseCommand(AsBytes(s));
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_EQ((*whole)->length, s.size());
}

TEST(RespStreamTest, RefusesMalformedInput) {
  for (const std::string s : {"+OK\r\n", "*x\r\n", "*0\r\n", "*1\r\n:5\r\n", "*1\r\n$1\r\nab\r\n",
                              "*1\n$1\r\na\r\n", "*1\r\n$-1\r\n"}) {
    auto r = ParseCommand(AsBytes(s));
    EXPECT_FALSE(r.ok()) << s;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity) << s;
    }
  }
}

std::string Cmd(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto a : args) out += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
  return out;
}

TEST(AofFilterTest, KeepsWritesDropsPingReplconfAndACutTransaction) {
  const std::string select = Cmd({"SELECT", "3"});
  const std::string set = Cmd({"SET", "k", "v\r\n"});
  const std::string txn =
      Cmd({"MULTI"}) + Cmd({"INCR", "n"}) + Cmd({"RPUSH", "l", "x"}) + Cmd({"EXEC"});
  const std::string stream = select + Cmd({"PING"}) + set + Cmd({"REPLCONF", "GETACK", "*"}) + txn +
                             Cmd({"ping"}) + Cmd({"MULTI"}) + Cmd({"SET", "cut", "1"});
  const std::string want = select + set + txn;
  // Every split point of the input gives the same output.
  for (size_t split = 0; split <= stream.size(); ++split) {
    std::string out;
    AofFilter f([&out](ByteView b) {
      out.append(AsString(b));
      return Status::Ok();
    });
    ASSERT_TRUE(f.Append(AsBytes(std::string_view(stream).substr(0, split))).ok());
    ASSERT_TRUE(f.Append(AsBytes(std::string_view(stream).substr(split))).ok());
    ASSERT_TRUE(f.Finish().ok());
    ASSERT_EQ(out, want) << "split at " << split;
    EXPECT_EQ(f.commands(), 6u);
    EXPECT_EQ(f.dropped(), 5u);  // 2 PING, REPLCONF, MULTI + SET of the cut transaction
  }
}

TEST(AofFilterTest, InputEndingInsideACommandIsRefused) {
  AofFilter f([](ByteView) { return Status::Ok(); });
  const std::string half = Cmd({"SET", "k", "v"}).substr(0, 10);
  ASSERT_TRUE(f.Append(AsBytes(half)).ok());
  auto st = f.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kIntegrity);
  AofFilter g([](ByteView) { return Status::Ok(); });
  EXPECT_FALSE(g.Append(AsBytes("GARBAGE\r\n")).ok());
}

}  // namespace
}  // namespace bulwark::sources::redis
