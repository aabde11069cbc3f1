#include "sources/files/estimate.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "repo/repo_test_util.h"

namespace bulwark::sources::files {
namespace {

namespace fs = std::filesystem;
using repo::testing::TempDir;

void WriteFile(const std::string& path, size_t size) {
  std::ofstream(path, std::ios::binary) << std::string(size, 'x');
}

TEST(EstimateTreeTest, CountsRegularFilesHonouringExcludesWithoutFollowingSymlinks) {
  TempDir t;
  const std::string root = t.path();
  fs::create_directories(root + "/a/b");
  fs::create_directories(root + "/skip");
  fs::create_directories(root + "/elsewhere");
  WriteFile(root + "/a/one", 100);
  WriteFile(root + "/a/b/two", 2000);
  WriteFile(root + "/a/b/big.log", 5000);  // excluded by name
  WriteFile(root + "/skip/three", 300);    // excluded directory
  WriteFile(root + "/elsewhere/far", 7000);
  fs::create_symlink(root + "/elsewhere", root + "/a/link");  // not followed
  ASSERT_EQ(::mkfifo((root + "/a/fifo").c_str(), 0600), 0);   // not a regular file

  Progress progress;
  std::atomic<bool> stop{false};
  EstimateTree({root + "/a", root + "/skip"}, {"*.log", root + "/skip"}, progress, stop);
  EXPECT_TRUE(progress.estimate_done.load());
  EXPECT_EQ(progress.estimate_files.load(), 2u);
  EXPECT_EQ(progress.estimate_bytes.load(), 2100u);
  // The estimate never touches the operation's own counters.
  EXPECT_EQ(progress.files_total.load(), 0u);
  EXPECT_EQ(progress.bytes_total.load(), 0u);
}

TEST(EstimateTreeTest, StopsEarlyWithoutClaimingToBeDone) {
  TempDir t;
  WriteFile(t.path() + "/f", 10);
  Progress progress;
  std::atomic<bool> stop{true};
  EstimateTree({t.path()}, {}, progress, stop);
  EXPECT_FALSE(progress.estimate_done.load());
  EXPECT_EQ(progress.estimate_files.load(), 0u);
}

}  // namespace
}  // namespace bulwark::sources::files
