#include <gtest/gtest.h>

#include <algorithm>

#include "storage/s3/lifecycle.h"
#include "storage/s3/s3_options.h"

namespace bulwark::storage::s3 {
namespace {

TEST(S3Lifecycle, WantedRulesPerTypeAndAlwaysTheAbortRule) {
  LifecyclePolicy policy;
  policy.transitions["data"] = {30, "GLACIER_IR"};
  policy.transitions["config"] = {90, "STANDARD_IA"};
  auto rules = WantedLifecycleRules("prod/db", policy);
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].id, "bulwark-data:prod/db");
  EXPECT_EQ(rules[0].prefix, "prod/db/data/");
  EXPECT_EQ(rules[0].transition_days, 30);
  EXPECT_EQ(rules[0].storage_class, "GLACIER_IR");
  EXPECT_EQ(rules[1].prefix, "prod/db/config");  // one object, not a folder
  EXPECT_EQ(rules[2].id, "bulwark-abort-incomplete-uploads:prod/db");
  EXPECT_EQ(rules[2].prefix, "prod/db/");
  EXPECT_EQ(rules[2].abort_days, 7);
  EXPECT_TRUE(rules[2].storage_class.empty());
  auto bare = WantedLifecycleRules("", LifecyclePolicy{});
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].id, "bulwark-abort-incomplete-uploads");
  EXPECT_EQ(bare[0].prefix, "");
}

TEST(S3Lifecycle, MergeKeepsOtherRulesVerbatimAndRoundTrips) {
  const std::string foreign =
      "<Rule><ID>foreign</ID><Filter><And><Prefix>x/</Prefix><Tag><Key>k</Key><Value>v</Value>"
      "</Tag></And></Filter><Status>Enabled</Status><Expiration><Days>9</Days></Expiration></Rule>";
  // Another repository's rule in the same bucket is not ours either.
  const std::string neighbour =
      "<Rule><ID>bulwark-data:other</ID><Filter><Prefix>other/data/</Prefix></Filter>"
      "<Status>Enabled</Status><Transition><Days>1</Days><StorageClass>COLD</StorageClass>"
      "</Transition></Rule>";
  const std::string stale_ours =
      "<Rule><ID>bulwark-wal:repo</ID><Filter><Prefix>repo/wal/</Prefix></Filter>"
      "<Status>Enabled</Status><Transition><Days>5</Days><StorageClass>COLD</StorageClass>"
      "</Transition></Rule>";
  const std::string xml = "<?xml version=\"1.0\"?><LifecycleConfiguration xmlns=\"x\">" + foreign +
                          stale_ours + neighbour + "</LifecycleConfiguration>";
  BucketLifecycle have = ParseBucketLifecycle(xml, "repo");
  ASSERT_EQ(have.others.size(), 2u);
  EXPECT_EQ(have.others[0], foreign);
  EXPECT_EQ(have.others[1], neighbour);
  ASSERT_EQ(have.ours.size(), 1u);
  EXPECT_EQ(have.ours[0].transition_days, 5);

  LifecyclePolicy policy;
  policy.transitions["data"] = {30, "COLD"};
  auto want = WantedLifecycleRules("repo", policy);
  EXPECT_FALSE(SameRules(have.ours, want));
  std::string merged = BucketLifecycleXml(have.others, want);
  EXPECT_NE(merged.find(foreign), std::string::npos);
  EXPECT_EQ(merged.find("bulwark-wal:repo"), std::string::npos);  // dropped from the config
  BucketLifecycle again = ParseBucketLifecycle(merged, "repo");
  EXPECT_EQ(again.others, have.others);
  EXPECT_TRUE(SameRules(again.ours, want));
  std::reverse(again.ours.begin(), again.ours.end());
  EXPECT_TRUE(SameRules(again.ours, want));
}

TEST(S3Lifecycle, PolicyAndClassChecks) {
  EXPECT_TRUE(CheckStorageClass("INTELLIGENT_TIERING", "x").ok());
  EXPECT_TRUE(CheckStorageClass("COLD", "x").ok());  // a Ceph placement class
  for (const char* c : {"GLACIER", "DEEP_ARCHIVE", "GLACIER_FLEXIBLE_RETRIEVAL", "glacier"}) {
    auto st = CheckStorageClass(c, "storage_class.data");
    ASSERT_FALSE(st.ok()) << c;
    EXPECT_EQ(st.error().code(), ErrorCode::kUsage);
    EXPECT_NE(st.error().message().find("restore"), std::string::npos);
  }
  LifecyclePolicy p;
  p.transitions["locks"] = {1, "COLD"};
  EXPECT_FALSE(CheckLifecyclePolicy(p).ok());
  p.transitions.clear();
  p.transitions["data"] = {-1, "COLD"};
  EXPECT_FALSE(CheckLifecyclePolicy(p).ok());
  p.transitions["data"] = {0, "GLACIER_IR"};
  EXPECT_TRUE(CheckLifecyclePolicy(p).ok());
  p.abort_incomplete_upload_days = 0;
  EXPECT_FALSE(CheckLifecyclePolicy(p).ok());
}

}  // namespace
}  // namespace bulwark::storage::s3
