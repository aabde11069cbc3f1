#include "audit/audit_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "repo/repo_test_util.h"
#include "repo/snapshot.h"

namespace bulwark::audit {
namespace {

using repo::testing::MakeRepo;
using repo::testing::TempDir;

AuditRecord Rec(const std::string& operation, const std::string& component = "config") {
  AuditRecord r;
  r.operation = operation;
  r.component = component;
  r.status = "success";
  r.duration_seconds = 1.25;
  r.backup_size = 12'500'000'000;
  r.checksum = "sha256:abc";
  r.storage_location = "/srv/repo";
  r.validated = true;
  r.validation_timestamp = "2026-01-01T00:05:00Z";
  r.operator_name = "automated_system";
  r.compliance_tags = {"sox", "mifid2"};
  r.details = {{"files", 3}};
  return r;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = MakeRepo(dir_.path());
    ASSERT_NE(repo_, nullptr);
  }

  void AppendN(int n, AuditLog& log) {
    for (int i = 0; i < n; ++i) {
      auto r = log.Append(Rec("backup" + std::to_string(i)));
      ASSERT_TRUE(r.ok()) << r.error().message();
    }
  }

  Bytes Raw(uint64_t seq) {
    auto b = repo_->backend().Get(AuditKey(seq));
    EXPECT_TRUE(b.ok());
    return b.ok() ? *b : Bytes{};
  }
  void Replace(uint64_t seq, ByteView bytes) {
    ASSERT_TRUE(repo_->backend().Remove(AuditKey(seq)).ok());
    ASSERT_TRUE(repo_->backend().Put(AuditKey(seq), bytes).ok());
  }
  // Re-seals record `seq` with the key after `edit` changed its JSON (what an insider with the
  // key could do), optionally recomputing its own hash.
  void Reseal(uint64_t seq, const std::function<void(nlohmann::json&)>& edit, bool rehash) {
    auto plain = repo_->OpenWithMasterKey(Raw(seq), AsBytes(AuditKey(seq)));
    ASSERT_TRUE(plain.ok());
    auto j = nlohmann::json::parse(AsString(*plain));
    edit(j);
    if (rehash) j["record_hash"] = ComputeRecordHash(j["prev_hash"].get<std::string>(), j);
    Bytes sealed = repo_->SealWithMasterKey(AsBytes(j.dump()), AsBytes(AuditKey(seq)));
    Replace(seq, sealed);
  }

  VerifyReport Verify(AuditLog& log) {
    auto r = log.Verify();
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : VerifyReport{};
  }

  TempDir dir_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(AuditLogTest, AppendListVerify) {
  AuditLog log(*repo_);
  EXPECT_EQ(*log.Length(), 0u);
  EXPECT_TRUE(Verify(log).ok);
  AppendN(5, log);
  EXPECT_EQ(*log.Length(), 5u);

  auto records = log.List();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 5u);
  EXPECT_EQ((*records)[0].prev_hash, std::string(64, '0'));
  for (size_t i = 0; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    EXPECT_EQ(r.seq, i);
    EXPECT_EQ(r.operation, "backup" + std::to_string(i));
    EXPECT_FALSE(r.timestamp.empty());
    EXPECT_FALSE(r.hostname.empty());
    EXPECT_GT(r.pid, 0);
    EXPECT_EQ(r.record_hash.size(), 64u);
    if (i > 0) {
      EXPECT_EQ(r.prev_hash, (*records)[i - 1].record_hash);
    }
  }
  nlohmann::json j = RecordToJson((*records)[2]);
  EXPECT_EQ(j["backup_size_gb"], 12.5);
  EXPECT_EQ(j["operator"], "automated_system");
  EXPECT_EQ(j["compliance_tags"], nlohmann::json({"sox", "mifid2"}));
  EXPECT_EQ(j["validation_timestamp"], "2026-01-01T00:05:00Z");
  auto back = RecordFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->record_hash, (*records)[2].record_hash);

  VerifyReport v = Verify(log);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 5u);
  EXPECT_FALSE(v.first_bad_seq.has_value());
}

TEST_F(AuditLogTest, ConcurrentAppendersGetDistinctSeqsAndAValidChain) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto other = repo::Repository::Open(repo::testing::LocalAt(dir_.path()), "secret");
      ASSERT_TRUE(other.ok());
      AuditLog log(**other);
      for (int i = 0; i < 5; ++i) {
        auto r = log.Append(Rec("op", "c" + std::to_string(t)));
        ASSERT_TRUE(r.ok()) << r.error().message();
      }
    });
  }
  for (auto& t : threads) t.join();
  AuditLog log(*repo_);
  VerifyReport v = Verify(log);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 20u);
}

TEST_F(AuditLogTest, EditedRecordIsNamed) {
  AuditLog log(*repo_);
  AppendN(5, log);
  Reseal(
      2, [](nlohmann::json& j) { j["status"] = "failure"; }, /*rehash=*/false);
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  ASSERT_TRUE(v.first_bad_seq.has_value());
  EXPECT_EQ(*v.first_bad_seq, 2u);
  EXPECT_NE(v.problem.find("edited"), std::string::npos) << v.problem;
  EXPECT_EQ(v.records, 2u);
  EXPECT_FALSE(log.List().ok());  // listing stops at the damage by default
  auto lenient = log.List(/*stop_at_damage=*/false);
  ASSERT_TRUE(lenient.ok());
  EXPECT_EQ(lenient->size(), 4u);
}

TEST_F(AuditLogTest, EditWithRecomputedHashBreaksTheChainAtTheNextRecord) {
  AuditLog log(*repo_);
  AppendN(5, log);
  Reseal(
      2, [](nlohmann::json& j) { j["backup_size"] = 1; }, /*rehash=*/true);
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  ASSERT_TRUE(v.first_bad_seq.has_value());
  EXPECT_EQ(*v.first_bad_seq, 3u);
  EXPECT_NE(v.problem.find("record 2"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, RemovedRecordIsNamed) {
  AuditLog log(*repo_);
  AppendN(5, log);
  ASSERT_TRUE(repo_->backend().Remove(AuditKey(1)).ok());
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq.value_or(99), 1u);
  EXPECT_NE(v.problem.find("missing"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, SwappedRecordsAreNamed) {
  AuditLog log(*repo_);
  AppendN(5, log);
  Bytes r1 = Raw(1), r3 = Raw(3);
  Replace(1, r3);
  Replace(3, r1);
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq.value_or(99), 1u);
  EXPECT_NE(v.problem.find("does not authenticate"), std::string::npos) << v.problem;
  EXPECT_EQ(v.problems.size(), 2u);
}

TEST_F(AuditLogTest, TruncatedObjectIsNamed) {
  AuditLog log(*repo_);
  AppendN(5, log);
  Bytes r2 = Raw(2);
  r2.resize(r2.size() - 10);
  Replace(2, r2);
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq.value_or(99), 2u);
  // Appending chains onto the last record only; record 4 is intact, so it still works (and
  // verify keeps naming record 2).
  EXPECT_TRUE(log.Append(Rec("after")).ok());
  EXPECT_EQ(Verify(log).first_bad_seq.value_or(99), 2u);
}

TEST_F(AuditLogTest, DroppedTailIsDetectedThroughSnapshots) {
  AuditLog log(*repo_);
  AppendN(5, log);
  repo::Snapshot s;
  s.time_unix_ns = 1;
  s.component = "config";
  s.kind = "files";
  s.audit_seq = *log.Length();
  ASSERT_TRUE(repo::SaveSnapshot(*repo_, s).ok());
  ASSERT_TRUE(repo_->backend().Remove(AuditKey(4)).ok());
  ASSERT_TRUE(repo_->backend().Remove(AuditKey(3)).ok());
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq.value_or(99), 3u);
  EXPECT_NE(v.problem.find("truncated"), std::string::npos) << v.problem;
  EXPECT_EQ(v.required_length, 5u);
}

TEST_F(AuditLogTest, DroppedTailIsDetectedThroughTheLocalAnchor) {
  AuditOptions o;
  o.anchor_file = dir_.Sub("anchor");
  AuditLog log(*repo_, o);
  AppendN(4, log);
  ASSERT_TRUE(std::filesystem::exists(o.anchor_file));
  ASSERT_TRUE(repo_->backend().Remove(AuditKey(3)).ok());
  VerifyReport v = Verify(log);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq.value_or(99), 3u);
  // Appending would hide the truncation: it refuses.
  auto r = log.Append(Rec("after"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);

  // Without the anchor the chain itself looks fine (which is why the anchor exists).
  AuditLog plain(*repo_);
  EXPECT_TRUE(Verify(plain).ok);
}

TEST_F(AuditLogTest, AppendRefusesToChainOntoADamagedRecord) {
  AuditLog log(*repo_);
  AppendN(3, log);
  Bytes r2 = Raw(2);
  r2[r2.size() / 2] ^= 1;
  Replace(2, r2);
  auto r = log.Append(Rec("next"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
}

}  // namespace
}  // namespace bulwark::audit
