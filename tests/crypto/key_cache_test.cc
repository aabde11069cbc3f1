// The kernel-keyring cache of derived keys: an entry is found only with the same passphrase,
// salt and KDF parameters, and the cache can be turned off. Clearing is tested by
// integration/key_cache_test.sh (it clears every entry of the user, which parallel unit tests
// would notice). Uses this OS user's real user keyring: the suite fails if the kernel refuses
// it, since the feature would silently do nothing on such a machine.
#include "crypto/key_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace bulwark::crypto {
namespace {

class KeyCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(KeyCacheAvailable()) << "the kernel user keyring is not usable here";
    SetKeyCacheSeconds(60);
    salt_ = Bytes(16, 0);
    // A salt of its own per run, so parallel test processes never share an entry.
    const std::string pid = std::to_string(::getpid()) + ":" + std::to_string(counter_++);
    std::copy(pid.begin(), pid.begin() + std::min<size_t>(pid.size(), 16), salt_.begin());
    kek_.bytes.fill(0x5a);
  }
  void TearDown() override { SetKeyCacheSeconds(300); }

  static inline int counter_ = 0;
  Bytes salt_;
  Argon2Params params_{.ops_limit = 1, .mem_limit = 64u << 10};
  SecretKey kek_;
};

TEST_F(KeyCacheTest, FindsOnlyTheSamePassphraseSaltAndParameters) {
  CacheKek("correct horse", salt_, params_, kek_);
  auto hit = LookupCachedKek("correct horse", salt_, params_);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->bytes, kek_.bytes);
  EXPECT_FALSE(LookupCachedKek("correct horsE", salt_, params_).has_value());
  Bytes other_salt = salt_;
  other_salt[15] ^= 1;
  EXPECT_FALSE(LookupCachedKek("correct horse", other_salt, params_).has_value());
  Argon2Params other = params_;
  other.ops_limit = 2;
  EXPECT_FALSE(LookupCachedKek("correct horse", salt_, other).has_value());
}

TEST_F(KeyCacheTest, OffMeansNeitherLookupNorStore) {
  CacheKek("pass one", salt_, params_, kek_);
  SetKeyCacheSeconds(0);
  EXPECT_FALSE(LookupCachedKek("pass one", salt_, params_).has_value());
  CacheKek("pass two", salt_, params_, kek_);
  SetKeyCacheSeconds(60);
  EXPECT_FALSE(LookupCachedKek("pass two", salt_, params_).has_value());
  EXPECT_TRUE(LookupCachedKek("pass one", salt_, params_).has_value());
}

}  // namespace
}  // namespace bulwark::crypto
