#include "storage/local/local_backend.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace bulwark::storage {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bulwark-storage-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Bytes Data(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 7));
  return b;
}

size_t CountFiles(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

class LocalBackendTest : public ::testing::Test {
 protected:
  LocalBackendTest() : root_(dir_.path() + "/repo"), backend_(root_) {
    EXPECT_TRUE(backend_.CreateRoot().ok());
  }
  TempDir dir_;
  std::string root_;
  LocalBackend backend_;
};

TEST_F(LocalBackendTest, PutGetRoundTrip) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{4096}, size_t{3} << 20}) {
    std::string key = "data/ab/obj" + std::to_string(n);
    Bytes data = Data(n, 7);
    ASSERT_TRUE(backend_.Put(key, data).ok());
    auto got = backend_.Get(key);
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(*got, data);
  }
  EXPECT_TRUE(fs::is_regular_file(root_ + "/data/ab/obj4096"));
  EXPECT_EQ(CountFiles(root_ + "/tmp"), 0u);
}

TEST_F(LocalBackendTest, NeverOverwrites) {
  ASSERT_TRUE(backend_.Put("config", AsBytes("first")).ok());
  Status s = backend_.Put("config", AsBytes("second"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(AsString(*backend_.Get("config")), "first");
  EXPECT_EQ(CountFiles(root_ + "/tmp"), 0u);
}

TEST_F(LocalBackendTest, ConcurrentPutOfSameKeyHasOneWinner) {
  constexpr int kThreads = 16;
  std::atomic<int> wins{0}, exists{0}, other{0};
  std::atomic<int> winner{-1};
  std::vector<std::thread> threads;
  for (int round = 0; round < 5; ++round) {
    wins = 0;
    exists = 0;
    std::string key = "locks/race" + std::to_string(round);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Status s = backend_.Put(key, Data(64 * 1024 + t, static_cast<uint8_t>(t)));
        if (s.ok()) {
          ++wins;
          winner = t;
        } else if (s.error().code() == ErrorCode::kAlreadyExists) {
          ++exists;
        } else {
          ++other;
        }
      });
    }
    for (auto& th : threads) th.join();
    threads.clear();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(exists.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(*backend_.Get(key), Data(64 * 1024 + winner, static_cast<uint8_t>(winner.load())));
  }
  EXPECT_EQ(CountFiles(root_ + "/tmp"), 0u);
}

TEST_F(LocalBackendTest, ConcurrentPutsOfDistinctKeys) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string key =
            "data/" + std::to_string(i % 4) + "/t" + std::to_string(t) + "-" + std::to_string(i);
        if (!backend_.Put(key, Data(100, static_cast<uint8_t>(i))).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = backend_.List("data/");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 200u);
  EXPECT_EQ(CountFiles(root_ + "/tmp"), 0u);
}

TEST_F(LocalBackendTest, GetRange) {
  Bytes data = Data(10000, 3);
  ASSERT_TRUE(backend_.Put("packs/p1", data).ok());
  auto r = backend_.GetRange("packs/p1", 100, 50);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Bytes(data.begin() + 100, data.begin() + 150));
  EXPECT_TRUE(backend_.GetRange("packs/p1", 10000, 0)->empty());
  EXPECT_EQ(backend_.GetRange("packs/p1", 0, 10000)->size(), 10000u);

  auto past = backend_.GetRange("packs/p1", 9990, 11);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(past.error().message().find("truncated"), std::string::npos);
  auto huge = backend_.GetRange("packs/p1", UINT64_MAX - 5, 10);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code(), ErrorCode::kIntegrity);
  EXPECT_EQ(backend_.GetRange("packs/none", 0, 1).error().code(), ErrorCode::kNotFound);
}

TEST_F(LocalBackendTest, GetRangeIntoReusesALargerBuffer) {
  Bytes data = Data(10000, 3);
  ASSERT_TRUE(backend_.Put("packs/p1", data).ok());
  Bytes buffer(20000, 0xee);
  auto r = backend_.GetRangeInto("packs/p1", 100, 50, buffer);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Bytes(r->begin(), r->end()), Bytes(data.begin() + 100, data.begin() + 150));
  EXPECT_EQ(r->data(), buffer.data());
  EXPECT_EQ(buffer.size(), 20000u);  // not shrunk
  Bytes small;
  auto whole = backend_.GetRangeInto("packs/p1", 0, 10000, small);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(Bytes(whole->begin(), whole->end()), data);
  auto past = backend_.GetRangeInto("packs/p1", 9990, 11, buffer);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code(), ErrorCode::kIntegrity);
  EXPECT_EQ(backend_.GetRangeInto("packs/none", 0, 1, buffer).error().code(), ErrorCode::kNotFound);
}

TEST_F(LocalBackendTest, TruncatedObjectIsIntegrityError) {
  ASSERT_TRUE(backend_.Put("packs/p2", Data(5000, 1)).ok());
  fs::resize_file(root_ + "/packs/p2", 3000);
  auto r = backend_.GetRange("packs/p2", 2000, 2000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  EXPECT_TRUE(backend_.GetRange("packs/p2", 0, 3000).ok());
  EXPECT_EQ(backend_.Get("packs/p2")->size(), 3000u);
}

TEST_F(LocalBackendTest, ListFiltersByPrefixAndSkipsTemp) {
  ASSERT_TRUE(backend_.Put("snapshots/s1", Data(10, 0)).ok());
  ASSERT_TRUE(backend_.Put("snapshots/s2", Data(20, 0)).ok());
  ASSERT_TRUE(backend_.Put("data/aa/x1", Data(30, 0)).ok());
  ASSERT_TRUE(backend_.Put("data/ab/x2", Data(40, 0)).ok());
  ASSERT_TRUE(backend_.Put("config", Data(1, 0)).ok());
  // A leftover from a crashed writer.
  { std::ofstream(root_ + "/tmp/123-0-dead.tmp") << "partial"; }

  auto keys = [&](const std::string& prefix) {
    auto list = backend_.List(prefix);
    EXPECT_TRUE(list.ok());
    std::set<std::string> out;
    for (const auto& info : *list) out.insert(info.key);
    return out;
  };
  EXPECT_EQ(keys("snapshots/"), (std::set<std::string>{"snapshots/s1", "snapshots/s2"}));
  EXPECT_EQ(keys("data/a"), (std::set<std::string>{"data/aa/x1", "data/ab/x2"}));
  EXPECT_EQ(keys("data/ab"), (std::set<std::string>{"data/ab/x2"}));
  EXPECT_EQ(keys("data/ab/"), (std::set<std::string>{"data/ab/x2"}));
  EXPECT_EQ(keys("snap"), (std::set<std::string>{"snapshots/s1", "snapshots/s2"}));
  EXPECT_EQ(keys(""), (std::set<std::string>{"snapshots/s1", "snapshots/s2", "data/aa/x1",
                                             "data/ab/x2", "config"}));
  EXPECT_TRUE(keys("nothing/").empty());
  EXPECT_TRUE(keys("tmp/").empty());
  EXPECT_TRUE(keys("t").empty());

  auto list = backend_.List("data/ab/");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].size, 40u);
  EXPECT_GT((*list)[0].mtime_unix, 1600000000);
}

TEST_F(LocalBackendTest, StatAndRemove) {
  ASSERT_TRUE(backend_.Put("index/i1", Data(123, 0)).ok());
  auto st = backend_.Stat("index/i1");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->key, "index/i1");
  EXPECT_EQ(st->size, 123u);
  EXPECT_EQ(backend_.Stat("index/none").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(backend_.Stat("index").error().code(), ErrorCode::kNotFound);  // a directory
  EXPECT_EQ(backend_.Get("index/none").error().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(backend_.Remove("index/i1").ok());
  EXPECT_EQ(backend_.Get("index/i1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(backend_.Remove("index/i1").ok());
  EXPECT_TRUE(backend_.Remove("never/was").ok());
  // Removed keys may be written again.
  EXPECT_TRUE(backend_.Put("index/i1", Data(5, 0)).ok());
}

TEST_F(LocalBackendTest, RejectsKeysThatEscapeOrAlias) {
  for (std::string key :
       {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", "tmp/x", "tmp", "./a"}) {
    Status s = backend_.Put(key, AsBytes("x"));
    ASSERT_FALSE(s.ok()) << key;
    EXPECT_EQ(s.error().code(), ErrorCode::kUsage) << key;
    EXPECT_FALSE(backend_.Get(key).ok()) << key;
    EXPECT_FALSE(backend_.Remove(key).ok()) << key;
  }
  EXPECT_FALSE(fs::exists(dir_.path() + "/x"));
  EXPECT_TRUE(backend_.Put("tmpx/ok", AsBytes("x")).ok());
}

TEST(LocalBackendRootTest, RootExistsAndCreate) {
  TempDir dir;
  LocalBackend b(dir.path() + "/a/b/c/");
  EXPECT_EQ(b.Location(), dir.path() + "/a/b/c");
  ASSERT_TRUE(b.RootExists().ok());
  EXPECT_FALSE(*b.RootExists());
  EXPECT_FALSE(b.Put("x", AsBytes("y")).ok());
  ASSERT_TRUE(b.CreateRoot().ok());
  EXPECT_TRUE(*b.RootExists());
  EXPECT_TRUE(b.CreateRoot().ok());  // idempotent
  EXPECT_TRUE(b.Put("x", AsBytes("y")).ok());

  { std::ofstream(dir.path() + "/file") << "x"; }
  LocalBackend f(dir.path() + "/file");
  EXPECT_FALSE(f.RootExists().ok());
}

TEST(OpenBackendTest, Urls) {
  TempDir dir;
  auto plain = OpenBackend(dir.path());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->Location(), dir.path());
  auto file = OpenBackend("file://" + dir.path() + "/");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->Location(), dir.path());
  ASSERT_TRUE((*file)->Put("k", AsBytes("v")).ok());
  EXPECT_EQ(AsString(*(*plain)->Get("k")), "v");

  auto rel = OpenBackend("some/relative/repo");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ((*rel)->Location(), (fs::current_path() / "some/relative/repo").string());

  // s3:// URLs reach the S3 backend, which names what is missing when no credentials are found.
  const char* kCredentialVars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                                   "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"};
  std::vector<std::pair<std::string, std::string>> saved;
  for (const char* name : kCredentialVars) {
    if (const char* v = std::getenv(name)) saved.emplace_back(name, v);
    ::unsetenv(name);
  }
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", (dir.path() + "/no-credentials").c_str(), 1);
  ::setenv("AWS_CONFIG_FILE", (dir.path() + "/no-config").c_str(), 1);
  auto s3 = OpenBackend("s3://bucket/prefix");
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  ::unsetenv("AWS_CONFIG_FILE");
  for (const auto& [name, value] : saved) ::setenv(name.c_str(), value.c_str(), 1);
  ASSERT_FALSE(s3.ok());
  EXPECT_NE(s3.error().message().find("no S3 credentials"), std::string::npos)
      << s3.error().message();
  EXPECT_EQ(OpenBackend("http://example/x").error().code(), ErrorCode::kUsage);
  EXPECT_EQ(OpenBackend("file://otherhost/x").error().code(), ErrorCode::kUsage);
  EXPECT_EQ(OpenBackend("").error().code(), ErrorCode::kUsage);
}

// Fills a 2 MiB tmpfs mounted in a private mount namespace (needs root / CAP_SYS_ADMIN; the
// test is skipped otherwise). Runs in a forked child so the mount never leaks out.
int FillDiskChild(const std::string& dir) {
  if (::unshare(CLONE_NEWNS) != 0) return 77;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=2m") != 0) return 77;
  LocalBackend b(dir + "/repo");
  if (!b.CreateRoot().ok()) return 10;
  Bytes keep = Data(100 * 1024, 9);
  if (!b.Put("keep/a", keep).ok()) return 11;
  Status last;
  int stored = 0;
  for (int i = 0; i < 100; ++i) {
    last = b.Put("data/" + std::to_string(i), Data(256 * 1024, static_cast<uint8_t>(i)));
    if (!last.ok()) break;
    ++stored;
  }
  if (last.ok()) return 12;
  if (last.error().code() != ErrorCode::kNoSpace) {
    std::fprintf(stderr, "unexpected error: %s\n", last.error().message().c_str());
    return 13;
  }
  if (last.error().message().find("No space left") == std::string::npos) return 14;
  if (CountFiles(dir + "/repo/tmp") != 0) return 15;
  // Only complete objects are visible, and earlier ones are intact.
  auto list = b.List("data/");
  if (!list.ok() || static_cast<int>(list->size()) != stored) return 16;
  for (const auto& info : *list) {
    if (info.size != 256 * 1024) return 17;
  }
  auto got = b.Get("keep/a");
  if (!got.ok() || *got != keep) return 18;
  // A write that cannot fit fails the same way; freeing space lets writes succeed again.
  Status big = b.Put("big", Data(3 << 20, 1));
  if (big.ok() || big.error().code() != ErrorCode::kNoSpace) return 19;
  if (CountFiles(dir + "/repo/tmp") != 0) return 20;
  if (!b.Remove("data/0").ok()) return 21;
  if (!b.Put("after", Data(1000, 2)).ok()) return 22;
  return 0;
}

TEST(LocalBackendDiskFullTest, NoSpaceIsReportedAndLeavesNothingBehind) {
  TempDir dir;
  std::string mnt = dir.path() + "/mnt";
  fs::create_directory(mnt);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(FillDiskChild(mnt));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "check number " << WEXITSTATUS(status) << " failed";
  EXPECT_EQ(CountFiles(mnt), 0u);  // the mount vanished with the child's namespace
}

}  // namespace
}  // namespace bulwark::storage
