// TreeReader: the trees of a tree pack come from one read of that pack, each checked against
// its ID; a tree damaged in the held pack is read alone and reported damaged; an unknown tree
// is an error naming it.
#include "repo/tree_reader.h"

#include <gtest/gtest.h>

#include <vector>

#include "repo/blob_writer.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::MakeRepo;
using testing::TempDir;

std::vector<Id> StoreTrees(Repository& repo, int n) {
  std::vector<Id> ids;
  BlobWriter writer(repo, WriterOptions{});
  for (int i = 0; i < n; ++i) {
    Tree tree;
    Node node;
    node.name = "file" + std::to_string(i);
    node.type = NodeType::kFile;
    node.size = static_cast<uint64_t>(i);
    tree.nodes.push_back(node);
    auto id = writer.Add(BlobType::kTree, EncodeTree(tree));
    EXPECT_TRUE(id.ok());
    ids.push_back(*id);
  }
  EXPECT_TRUE(writer.Flush().ok());
  return ids;
}

TEST(TreeReaderTest, TreesOfAPackComeFromOneRead) {
  TempDir dir;
  auto made = MakeRepo(dir.Sub("repo"));
  ASSERT_TRUE(made && made->LoadIndex().ok());
  const std::vector<Id> ids = StoreTrees(*made, 200);
  made.reset();

  auto reads = std::make_shared<std::atomic<int>>(0);
  auto repo = Repository::Open(std::make_unique<testing::CountingBackend>(dir.Sub("repo"), reads),
                               "secret");
  ASSERT_TRUE(repo.ok()) << repo.error().message();
  ASSERT_TRUE((*repo)->LoadIndex().ok());
  TreeReader reader(**repo);
  for (int i = 199; i >= 0; --i) {
    auto tree = reader.Load(ids[i]);
    ASSERT_TRUE(tree.ok()) << tree.error().message();
    ASSERT_EQ(tree->nodes.size(), 1u);
    EXPECT_EQ(tree->nodes[0].name, "file" + std::to_string(i));
  }
  EXPECT_EQ(reads->load(), 1);

  const Id missing = (*repo)->BlobId(AsBytes("no such tree"));
  auto unknown = reader.Load(missing);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find(missing.ShortHex()), std::string::npos)
      << unknown.error().message();
}

TEST(TreeReaderTest, DamagedTreeIsReportedDamaged) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  ASSERT_TRUE(repo && repo->LoadIndex().ok());
  const std::vector<Id> ids = StoreTrees(*repo, 20);
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto loc = repo->index().Find(BlobType::kTree, ids[7]);
  ASSERT_TRUE(loc.has_value());
  const std::string pack = dir.Sub("repo") + "/" + PackKey(loc->pack);
  testing::FlipByte(
      pack, -static_cast<long>(std::filesystem::file_size(pack) - loc->offset - loc->length / 2));
  TreeReader reader(*repo);
  auto bad = reader.Load(ids[7]);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(bad.error().message().find(ids[7].ShortHex()), std::string::npos)
      << bad.error().message();
  auto good = reader.Load(ids[8]);
  ASSERT_TRUE(good.ok()) << good.error().message();
  EXPECT_EQ(good->nodes[0].name, "file8");
}

}  // namespace
}  // namespace bulwark::repo
