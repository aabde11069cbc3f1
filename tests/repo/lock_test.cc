#include "repo/lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "crypto/hash.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::LocalAt;
using testing::TempDir;

class LockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = testing::MakeRepo(dir_.path());
    ASSERT_TRUE(repo_);
  }
  void TearDown() override { SetLockTimingForTesting(std::chrono::seconds(0), {}); }

  // A second session on the same repository, as another process would have.
  std::unique_ptr<Repository> Other() {
    auto r = Repository::Open(LocalAt(dir_.path()), "secret");
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::move(*r) : nullptr;
  }

  Id PlantLock(LockInfo l) {
    auto id = repo_->SaveObject(ObjectKind::kLock, EncodeLock(l));
    EXPECT_TRUE(id.ok());
    return *id;
  }

  static std::string Hostname() {
    char buf[256] = {};
    gethostname(buf, sizeof(buf) - 1);
    return buf;
  }

  TempDir dir_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(LockTest, ExclusiveExcludesExclusive) {
  auto first = RepoLock::Acquire(*repo_, LockKind::kExclusive, "prune");
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto other = Other();
  auto second = RepoLock::Acquire(*other, LockKind::kExclusive, "check");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kLocked);
  const std::string& msg = second.error().message();
  EXPECT_NE(msg.find("locked by prune"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + std::to_string(getpid())), std::string::npos) << msg;
  EXPECT_NE(msg.find("bulwark unlock"), std::string::npos) << msg;
  // The loser left nothing behind.
  auto locks = ListLocks(*repo_);
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].operation, "prune");
  EXPECT_FALSE((*locks)[0].stale);

  ASSERT_TRUE((*first)->Release().ok());
  EXPECT_TRUE(ListLocks(*repo_)->empty());
  auto third = RepoLock::Acquire(*other, LockKind::kExclusive, "check");
  EXPECT_TRUE(third.ok());
}

TEST_F(LockTest, SharedIsNeverBlocked) {
  auto exclusive = RepoLock::Acquire(*repo_, LockKind::kExclusive, "prune");
  ASSERT_TRUE(exclusive.ok());
  auto other = Other();
  auto s1 = RepoLock::Acquire(*other, LockKind::kShared, "backup");
  auto s2 = RepoLock::Acquire(*other, LockKind::kShared, "backup");
  ASSERT_TRUE(s1.ok());
  ASSERT_TRUE(s2.ok());
  EXPECT_TRUE((*s1)->StillValid());
  EXPECT_GT((*s1)->created_unix_ns(), 0);
  exclusive->reset();  // destructor releases
  // Shared holders do not block an exclusive locker either (prune copes with them itself).
  auto again = RepoLock::Acquire(*repo_, LockKind::kExclusive, "prune");
  EXPECT_TRUE(again.ok());
  auto locks = ListLocks(*repo_);
  ASSERT_TRUE(locks.ok());
  EXPECT_EQ(locks->size(), 3u);
}

TEST_F(LockTest, DeadProcessOnThisHostIsStale) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // reaped: the pid no longer exists

  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  LockInfo dead{.object = {},
                .kind = LockKind::kExclusive,
                .hostname = Hostname(),
                .pid = child,
                .operation = "prune",
                .created_unix_ns = now,
                .refreshed_unix_ns = now,
                .token = "dead"};
  PlantLock(dead);
  LockInfo elsewhere = dead;  // same pid on another host: cannot be checked, so live
  elsewhere.hostname = "some-other-host";
  elsewhere.kind = LockKind::kShared;
  elsewhere.token = "elsewhere";
  PlantLock(elsewhere);
  LockInfo old = elsewhere;  // another host, but not refreshed for two hours
  old.refreshed_unix_ns = now - int64_t{7200} * 1000000000;
  old.token = "old";
  PlantLock(old);

  auto locks = ListLocks(*repo_);
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 3u);
  for (const auto& l : *locks) EXPECT_EQ(l.stale, l.token != "elsewhere") << l.token;

  // A stale exclusive lock does not block.
  auto lock = RepoLock::Acquire(*repo_, LockKind::kExclusive, "check");
  ASSERT_TRUE(lock.ok()) << lock.error().message();

  auto removed = RemoveLocks(*repo_, /*all=*/false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2);
  EXPECT_EQ(ListLocks(*repo_)->size(), 2u);  // ours and the live one elsewhere
  auto all = RemoveLocks(*repo_, /*all=*/true);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 2);
  EXPECT_TRUE(ListLocks(*repo_)->empty());
}

TEST_F(LockTest, UnreadableLockIsStale) {
  Bytes junk =
      repo_->SealWithMasterKey(AsBytes("{not json"), AsBytes(ObjectPrefix(ObjectKind::kLock)));
  ASSERT_TRUE(repo_->backend().Put(ObjectKey(ObjectKind::kLock, crypto::Sha256(junk)), junk).ok());
  auto locks = ListLocks(*repo_);
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_TRUE((*locks)[0].stale);
  EXPECT_EQ(*RemoveLocks(*repo_, false), 1);
}

TEST_F(LockTest, RefreshReplacesTheObjectAndNoticesRemoval) {
  SetLockTimingForTesting(std::chrono::seconds(30), std::chrono::seconds(1));
  auto lock = RepoLock::Acquire(*repo_, LockKind::kShared, "backup");
  ASSERT_TRUE(lock.ok());
  auto before = ListLocks(*repo_);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto after = ListLocks(*repo_);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);  // new object written, old one removed
  EXPECT_NE((*after)[0].object, (*before)[0].object);
  EXPECT_EQ((*after)[0].created_unix_ns, (*before)[0].created_unix_ns);
  EXPECT_GT((*after)[0].refreshed_unix_ns, (*before)[0].refreshed_unix_ns);
  EXPECT_TRUE((*lock)->StillValid());

  ASSERT_EQ(*RemoveLocks(*repo_, /*all=*/true), 1);  // `unlock --all` under a live holder
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE((*lock)->StillValid());
}

TEST_F(LockTest, RacingExclusiveLockersNeverBothWin) {
  auto a = Other(), b = Other();
  for (int round = 0; round < 3; ++round) {
    Result<std::unique_ptr<RepoLock>> ra = Error(ErrorCode::kFailure, ""),
                                      rb = Error(ErrorCode::kFailure, "");
    std::thread ta([&] { ra = RepoLock::Acquire(*a, LockKind::kExclusive, "prune"); });
    std::thread tb([&] { rb = RepoLock::Acquire(*b, LockKind::kExclusive, "prune"); });
    ta.join();
    tb.join();
    EXPECT_FALSE(ra.ok() && rb.ok()) << "round " << round;
    if (!ra.ok()) {
      EXPECT_EQ(ra.error().code(), ErrorCode::kLocked);
    }
    if (!rb.ok()) {
      EXPECT_EQ(rb.error().code(), ErrorCode::kLocked);
    }
  }
  EXPECT_TRUE(ListLocks(*repo_)->empty());
}

TEST(LockEncodingTest, RoundTripAndRejects) {
  LockInfo l{.object = {},
             .kind = LockKind::kExclusive,
             .hostname = "h",
             .pid = 12,
             .operation = "prune",
             .created_unix_ns = 5,
             .refreshed_unix_ns = 6,
             .token = "t"};
  auto back = DecodeLock(EncodeLock(l));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->kind, LockKind::kExclusive);
  EXPECT_EQ(back->hostname, "h");
  EXPECT_EQ(back->pid, 12);
  EXPECT_EQ(back->operation, "prune");
  EXPECT_EQ(back->created_unix_ns, 5);
  EXPECT_EQ(back->refreshed_unix_ns, 6);
  EXPECT_EQ(back->token, "t");
  EXPECT_FALSE(DecodeLock(AsBytes("{}")).ok());
  EXPECT_FALSE(DecodeLock(AsBytes("[1]")).ok());
  EXPECT_FALSE(DecodeLock(AsBytes(R"({"version":1,"kind":"weird"})")).ok());
}

}  // namespace
}  // namespace bulwark::repo
