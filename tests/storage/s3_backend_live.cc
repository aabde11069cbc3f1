// S3Backend against a real S3 server: the Ceph sandbox (scripts/ceph-sandbox.sh) that
// tests/integration/s3_test.sh starts once and names in BULWARK_TEST_S3_ENV (its s3.env).
// Built as its own binary, bulwark_s3_live_tests, that only that script runs (starting Ceph
// takes ~30 s, so the S3 suite shares one cluster); without the variable every test fails.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "storage/s3/s3_backend.h"
#include "storage/s3/s3_options.h"

namespace bulwark::storage::s3 {
namespace {

std::map<std::string, std::string> LoadEnvFile(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(b.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return b;
}

std::string UniqueName(const char* stem) {
  static std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s-%08llx", stem,
                static_cast<unsigned long long>(rng() & 0xffffffffu));
  return buf;
}

class S3BackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* f = std::getenv("BULWARK_TEST_S3_ENV");
    if (f == nullptr || *f == '\0') {
      GTEST_FAIL() << "BULWARK_TEST_S3_ENV not set (tests/integration/s3_test.sh sets it)";
    }
    env_ = LoadEnvFile(f);
    ASSERT_FALSE(env_["AWS_ENDPOINT_URL"].empty()) << "no AWS_ENDPOINT_URL in " << f;
    bucket_ = UniqueName("bwt");
  }

  S3Options Options(const std::string& prefix = "repo") {
    S3Options o;
    o.bucket = bucket_;
    o.prefix = prefix;
    o.endpoint = env_["AWS_ENDPOINT_URL"];
    o.path_style = true;
    o.region = env_["AWS_REGION"];
    o.creds = Credentials{env_["AWS_ACCESS_KEY_ID"], env_["AWS_SECRET_ACCESS_KEY"], ""};
    o.backoff_base_seconds = 0.05;
    o.backoff_cap_seconds = 0.5;
    o.deadline_seconds = 60;
    return o;
  }

  std::unique_ptr<S3Backend> Make(const S3Options& o, bool create = true) {
    auto b = std::make_unique<S3Backend>(o);
    if (create) {
      Status st = b->CreateRoot();
      EXPECT_TRUE(st.ok()) << st.error().message();
    }
    return b;
  }

  std::map<std::string, std::string> env_;
  std::string bucket_;
};

TEST_F(S3BackendTest, CreateRootMakesTheBucketOnce) {
  auto b = Make(Options(), /*create=*/false);
  auto exists = b->RootExists();
  ASSERT_TRUE(exists.ok()) << exists.error().message();
  EXPECT_FALSE(*exists);
  ASSERT_TRUE(b->CreateRoot().ok());
  exists = b->RootExists();
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
  EXPECT_TRUE(b->CreateRoot().ok()) << "creating an existing own bucket is fine";
  EXPECT_NE(b->Location().find("s3://" + bucket_ + "/repo"), std::string::npos);
}

TEST_F(S3BackendTest, PutGetStatRemove) {
  auto b = Make(Options());
  Bytes data = RandomBytes(100000, 1);
  ASSERT_TRUE(b->Put("data/ab/abcdef", data).ok());
  auto got = b->Get("data/ab/abcdef");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, data);
  auto info = b->Stat("data/ab/abcdef");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, data.size());
  EXPECT_EQ(info->key, "data/ab/abcdef");
  int64_t now = std::time(nullptr);
  EXPECT_NEAR(static_cast<double>(info->mtime_unix), static_cast<double>(now), 300.0);

  ASSERT_TRUE(b->Put("empty", Bytes{}).ok());
  auto empty = b->Get("empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  EXPECT_EQ(b->Get("missing").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(b->Stat("missing").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(b->Remove("data/ab/abcdef").ok());
  EXPECT_EQ(b->Stat("data/ab/abcdef").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(b->Remove("data/ab/abcdef").ok()) << "removing an absent object is ok";
  EXPECT_EQ(b->retries(), 0u);
}

TEST_F(S3BackendTest, PutIsCreateOnly) {
  auto b = Make(Options());
  ASSERT_TRUE(b->Put("locks/one", AsBytes("first")).ok());
  Status again = b->Put("locks/one", AsBytes("second"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(AsString(*b->Get("locks/one")), "first");
}

TEST_F(S3BackendTest, ConcurrentWritersOfOneKeyNeverOverwrite) {
  auto b = Make(Options());
  constexpr int kWriters = 8;
  std::vector<Status> results(kWriters);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kWriters; ++i) {
      threads.emplace_back(
          [&, i] { results[i] = b->Put("config", AsBytes("writer " + std::to_string(i))); });
    }
  }
  int winners = 0, winner = -1;
  for (int i = 0; i < kWriters; ++i) {
    if (results[i].ok()) {
      ++winners;
      winner = i;
    } else {
      EXPECT_EQ(results[i].error().code(), ErrorCode::kAlreadyExists);
    }
  }
  ASSERT_EQ(winners, 1);
  EXPECT_EQ(AsString(*b->Get("config")), "writer " + std::to_string(winner));
}

TEST_F(S3BackendTest, GetRange) {
  auto b = Make(Options());
  Bytes data = RandomBytes(1 << 20, 2);
  ASSERT_TRUE(b->Put("pack", data).ok());
  auto mid = b->GetRange("pack", 1000, 5000);
  ASSERT_TRUE(mid.ok()) << mid.error().message();
  EXPECT_EQ(*mid, Bytes(data.begin() + 1000, data.begin() + 6000));
  auto tail = b->GetRange("pack", data.size() - 10, 10);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, Bytes(data.end() - 10, data.end()));
  auto zero = b->GetRange("pack", 5, 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
  // Past the end: the object is shorter than the index says, i.e. truncated.
  auto past = b->GetRange("pack", data.size() - 10, 20);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code(), ErrorCode::kIntegrity);
  auto beyond = b->GetRange("pack", data.size() + 100, 20);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().code(), ErrorCode::kIntegrity);
  EXPECT_EQ(b->GetRange("nothing", 0, 10).error().code(), ErrorCode::kNotFound);
}

TEST_F(S3BackendTest, ListPaginatesAndStaysInsideThePrefix) {
  auto b = Make(Options("repo"));
  auto other = Make(Options("repo-other"));
  // More than one page (1000 keys) of listing.
  constexpr int kObjects = 1030;
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < kObjects;) {
          char key[64];
          std::snprintf(key, sizeof(key), "index/%02x/obj-%05d", i % 256, i);
          if (!b->Put(key, AsBytes(std::to_string(i))).ok()) failures++;
        }
      });
    }
  }
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(b->Put("snapshots/s1", AsBytes("s")).ok());
  ASSERT_TRUE(other->Put("index/00/foreign", AsBytes("f")).ok());

  auto all = b->List("index/");
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ(all->size(), static_cast<size_t>(kObjects));
  std::set<std::string> keys;
  for (const auto& o : *all) {
    keys.insert(o.key);
    EXPECT_TRUE(o.key.starts_with("index/")) << o.key;
    EXPECT_GT(o.mtime_unix, 0);
  }
  EXPECT_EQ(keys.size(), static_cast<size_t>(kObjects));
  EXPECT_TRUE(keys.count("index/07/obj-00007"));
  EXPECT_FALSE(keys.count("index/00/foreign"));

  auto snaps = b->List("snapshots/");
  ASSERT_TRUE(snaps.ok());
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_EQ((*snaps)[0].key, "snapshots/s1");
  EXPECT_EQ((*snaps)[0].size, 1u);
  auto none = b->List("nothing-here/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(S3BackendTest, MultipartUploadsInParallelAndLeavesNoParts) {
  S3Options o = Options();
  o.part_size = 5ull << 20;
  o.multipart_threshold = 5ull << 20;
  o.part_concurrency = 3;
  auto b = Make(o);
  Bytes data = RandomBytes((13ull << 20) + 12345, 3);  // 3 parts, the last one short
  ASSERT_TRUE(b->Put("data/big", data).ok());
  auto got = b->Get("data/big");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == data);
  auto range = b->GetRange("data/big", (5ull << 20) - 7, 20);  // across a part boundary
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, Bytes(data.begin() + (5 << 20) - 7, data.begin() + (5 << 20) + 13));
  EXPECT_EQ(b->Put("data/big", data).error().code(), ErrorCode::kAlreadyExists);
  auto pending = b->ListPendingUploads();
  ASSERT_TRUE(pending.ok()) << pending.error().message();
  EXPECT_TRUE(pending->empty());
}

// Needs a fault proxy in front of the server that rejects every UploadPart with
// partNumber=2 (scripts/s3-faultproxy.py --reject-part 2); the integration script starts it.
TEST_F(S3BackendTest, FailedPartAbortsTheUpload) {
  const char* proxy = std::getenv("BULWARK_TEST_S3_REJECTING_PROXY");
  if (proxy == nullptr || *proxy == '\0') GTEST_FAIL() << "no rejecting proxy";
  S3Options o = Options();
  o.part_size = 5ull << 20;
  o.multipart_threshold = 5ull << 20;
  auto b = Make(o);
  S3Options via = o;
  via.endpoint = proxy;
  S3Backend through(via);
  Status st = through.Put("data/doomed", RandomBytes(11 << 20, 4));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("UploadPart"), std::string::npos) << st.error().message();
  EXPECT_EQ(b->Stat("data/doomed").error().code(), ErrorCode::kNotFound);
  auto pending = b->ListPendingUploads();
  ASSERT_TRUE(pending.ok()) << pending.error().message();
  EXPECT_TRUE(pending->empty()) << pending->size() << " uploads left pending";
}

TEST_F(S3BackendTest, WrongSecretFailsAtOnceWithAClearMessage) {
  auto good = Make(Options());
  ASSERT_TRUE(good->Put("config", AsBytes("x")).ok());
  S3Options bad = Options();
  bad.creds.secret_access_key = "wrong" + bad.creds.secret_access_key;
  S3Backend b(bad);
  auto t0 = std::chrono::steady_clock::now();
  Status put = b.Put("other", AsBytes("y"));
  auto get = b.Get("config");
  auto stat = b.Stat("config");  // HEAD: no body, the cause must still be named
  auto list = b.List("");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const Error& e : {put.error(), get.error(), stat.error(), list.error()}) {
    EXPECT_EQ(e.code(), ErrorCode::kFailure);
    EXPECT_NE(e.message().find("signature does not match: check AWS_SECRET_ACCESS_KEY"),
              std::string::npos)
        << e.message();
    EXPECT_EQ(e.message().find(bad.creds.secret_access_key), std::string::npos);
  }
  EXPECT_EQ(b.retries(), 0u) << "a signature error must not be retried";
  EXPECT_LT(secs, 3.0);

  S3Options unknown = Options();
  unknown.creds.access_key_id = "NOSUCHKEY0000000";
  S3Backend u(unknown);
  auto e = u.Get("config");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("check AWS_ACCESS_KEY_ID"), std::string::npos)
      << e.error().message();
}

TEST_F(S3BackendTest, UnreachableEndpointRetriesWithBackoffThenGivesUp) {
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  o.max_attempts = 4;
  o.backoff_base_seconds = 0.1;
  o.backoff_cap_seconds = 1;
  S3Backend b(o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = b.Get("config");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIo);
  EXPECT_NE(r.error().message().find("4 attempts"), std::string::npos) << r.error().message();
  EXPECT_EQ(b.retries(), 3u);
  // Backoff of 0.1, 0.2, 0.4 s with equal jitter: at least half of 0.7 s.
  EXPECT_GE(secs, 0.35);
  EXPECT_LT(secs, 5.0);
}

TEST_F(S3BackendTest, DeadlineBoundsAnOperation) {
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:1";
  o.max_attempts = 1000;
  o.backoff_base_seconds = 0.2;
  o.deadline_seconds = 1.5;
  S3Backend b(o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = b.Stat("x");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("within 1s"), std::string::npos) << r.error().message();
  EXPECT_LT(secs, 2.0);
}

}  // namespace
}  // namespace bulwark::storage::s3
