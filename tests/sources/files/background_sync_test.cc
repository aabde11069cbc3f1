// BackgroundSync: syncs once enough was written, not before, and stops cleanly.
#include "sources/files/background_sync.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "sources/files/files_test_util.h"

namespace bulwark::sources::files {
namespace {

bool WaitForSyncs(const BackgroundSync& sync, uint64_t want) {
  for (int i = 0; i < 500 && sync.syncs() < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return sync.syncs() >= want;
}

TEST(BackgroundSyncTest, SyncsEachTimeTheThresholdIsCrossed) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_FALSE(dir.empty());
  {
    BackgroundSync sync(dir, 1000);
    sync.Add(999);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(sync.syncs(), 0u);
    sync.Add(1);
    EXPECT_TRUE(WaitForSyncs(sync, 1));
    // Writes from several threads at once add up.
    std::thread a([&] {
      for (int i = 0; i < 100; ++i) sync.Add(10);
    });
    std::thread b([&] {
      for (int i = 0; i < 100; ++i) sync.Add(10);
    });
    a.join();
    b.join();
    EXPECT_TRUE(WaitForSyncs(sync, 2));
  }
  // A directory that cannot be opened: nothing to sync, but the object still works and stops.
  {
    BackgroundSync sync(dir + "/missing", 1);
    sync.Add(5);
    EXPECT_TRUE(WaitForSyncs(sync, 1));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bulwark::sources::files
