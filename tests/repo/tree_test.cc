#include "repo/tree.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"

namespace bulwark::repo {
namespace {

Node Named(std::string name, NodeType type, uint32_t mode) {
  Node n;
  n.name = std::move(name);
  n.type = type;
  n.mode = mode;
  return n;
}

Tree Sample() {
  Node dir = Named("dir", NodeType::kDir, 0755);
  dir.subtree = crypto::Sha256(AsBytes("subtree"));
  Node empty = Named("empty", NodeType::kFile, 0600);
  Node file = Named("file \xc3\xa9\xe2\x9c\x93.txt", NodeType::kFile, 04644);
  file.uid = 1000;
  file.gid = 100;
  file.user = "alice";
  file.group = "users";
  file.mtime_ns = 1764000000123456789;
  file.atime_ns = -5;  // before 1970
  file.ctime_ns = 1764000000000000000;
  file.inode = 123456789;
  file.device = 2049;
  file.links = 2;
  file.size = 3ull << 30;
  file.sparse = true;
  for (int i = 0; i < 3; ++i) file.content.push_back(crypto::Sha256(AsBytes(std::to_string(i))));
  Node link = Named("link", NodeType::kSymlink, 0777);
  link.link_target = "../somewhere/else";
  Node fifo = Named("pipe", NodeType::kFifo, 0644);
  Node dev = Named("tty", NodeType::kCharDev, 0620);
  dev.rdev = (4 << 8) | 1;
  Node longname = Named(std::string(255, 'x'), NodeType::kFile, 0644);
  Tree t;
  t.nodes = {dir, empty, file, link, fifo, dev, longname};
  return t;
}

void ExpectSameNode(const Node& a, const Node& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.mtime_ns, b.mtime_ns);
  EXPECT_EQ(a.atime_ns, b.atime_ns);
  EXPECT_EQ(a.ctime_ns, b.ctime_ns);
  EXPECT_EQ(a.inode, b.inode);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.links, b.links);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.rdev, b.rdev);
  EXPECT_EQ(a.link_target, b.link_target);
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.subtree, b.subtree);
  EXPECT_EQ(a.sparse, b.sparse);
}

TEST(TreeTest, RoundTrip) {
  Tree t = Sample();
  Bytes encoded = EncodeTree(t);
  auto decoded = DecodeTree(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  ASSERT_EQ(decoded->nodes.size(), t.nodes.size());
  for (size_t i = 0; i < t.nodes.size(); ++i) ExpectSameNode(decoded->nodes[i], t.nodes[i]);
  EXPECT_EQ(EncodeTree(*decoded), encoded);  // canonical
  auto empty = DecodeTree(EncodeTree(Tree{}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->nodes.empty());
}

TEST(TreeTest, RejectsEveryTruncation) {
  Bytes encoded = EncodeTree(Sample());
  for (size_t n = 0; n < encoded.size(); ++n) {
    auto r = DecodeTree(ByteView(encoded).first(n));
    EXPECT_FALSE(r.ok()) << n;
  }
  encoded.push_back(0);
  EXPECT_FALSE(DecodeTree(encoded).ok());
}

TEST(TreeTest, RejectsBadNamesAndOrder) {
  auto with_names = [](std::vector<std::string> names) {
    Tree t;
    for (auto& n : names) t.nodes.push_back(Named(n, NodeType::kFifo, 0644));
    return DecodeTree(EncodeTree(t));
  };
  EXPECT_TRUE(with_names({"a", "b"}).ok());
  EXPECT_FALSE(with_names({"b", "a"}).ok());
  EXPECT_FALSE(with_names({"a", "a"}).ok());
  EXPECT_FALSE(with_names({""}).ok());
  EXPECT_FALSE(with_names({"."}).ok());
  EXPECT_FALSE(with_names({".."}).ok());
  EXPECT_FALSE(with_names({"a/b"}).ok());
  EXPECT_FALSE(with_names({std::string("a\0b", 3)}).ok());
  EXPECT_TRUE(with_names({"...", ".hidden"}).ok());
}

TEST(TreeTest, RejectsBadFieldValues) {
  Tree t;
  t.nodes.push_back(Named("x", NodeType::kFifo, 0644));
  Bytes good = EncodeTree(t);
  // Layout: version, count, name (len + 'x'), type, flags, mode...
  Bytes bad_type = good;
  bad_type[4] = 42;
  EXPECT_FALSE(DecodeTree(bad_type).ok());
  Bytes bad_flags = good;
  bad_flags[5] = 0x80;
  EXPECT_FALSE(DecodeTree(bad_flags).ok());
  Bytes sparse_fifo = good;
  sparse_fifo[5] = 1;
  EXPECT_FALSE(DecodeTree(sparse_fifo).ok());
  t.nodes[0].mode = 0170644;  // type bits are not allowed in mode
  EXPECT_FALSE(DecodeTree(EncodeTree(t)).ok());
  Bytes huge_count = {1};
  PutVarint(huge_count, 1ull << 50);
  EXPECT_FALSE(DecodeTree(huge_count).ok());
}

}  // namespace
}  // namespace bulwark::repo
