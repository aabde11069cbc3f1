#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli/context.h"

namespace bulwark::cli {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bulwark-cfg-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigTest, ReadsKnownKeysAndIgnoresOthers) {
  auto path = Write("ok.toml",
                    "[repository]\nurl = \"/srv/repo\"\npassword_file = \"/etc/pw\"\n"
                    "[audit]\noperator = \"automated_system\"\ncompliance_tags = [\"SOX\", "
                    "\"MiFID II\"]\n[components.pg]\nschedule = \"hourly\"\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(cfg->repository_url, "/srv/repo");
  EXPECT_EQ(cfg->password_file, "/etc/pw");
  EXPECT_EQ(cfg->operator_name, "automated_system");
  ASSERT_EQ(cfg->compliance_tags.size(), 2u);
  EXPECT_EQ(cfg->compliance_tags[1], "MiFID II");
}

TEST_F(ConfigTest, ReadsComponentObjectLocks) {
  auto path = Write("components.toml",
                    "[components.trades]\nobject_lock = \"compliance\"\nretain = 2555\n"
                    "[components.sessions]\nobject_lock = \"governance\"\nretain = \"36h\"\n"
                    "[components.config]\nschedule = \"daily\"\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  ASSERT_EQ(cfg->components.size(), 3u);
  EXPECT_EQ(cfg->components.at("trades").object_lock.mode, "compliance");
  EXPECT_EQ(cfg->components.at("trades").object_lock.retain_seconds, int64_t{2555} * 86400);
  EXPECT_EQ(cfg->components.at("sessions").object_lock.mode, "governance");
  EXPECT_EQ(cfg->components.at("sessions").object_lock.retain_seconds, 36 * 3600);
  EXPECT_FALSE(cfg->components.at("config").object_lock.enabled());
  Context ctx;
  ctx.config = *cfg;
  EXPECT_EQ(ctx.ComponentObjectLock("trades").mode, "compliance");
  EXPECT_FALSE(ctx.ComponentObjectLock("unknown").enabled());
}

TEST_F(ConfigTest, ReadsRedisConnectionFiles) {
  auto path = Write("redis.toml",
                    "[redis]\npassword_file = \"/etc/bulwark/redis.pw\"\nca_bundle = "
                    "\"/etc/ssl/redis-ca.crt\"\ncert = \"/etc/bulwark/client.crt\"\nkey = "
                    "\"/etc/bulwark/client.key\"\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(cfg->redis_password_file, "/etc/bulwark/redis.pw");
  EXPECT_EQ(cfg->redis_ca_bundle, "/etc/ssl/redis-ca.crt");
  EXPECT_EQ(cfg->redis_cert, "/etc/bulwark/client.crt");
  EXPECT_EQ(cfg->redis_key, "/etc/bulwark/client.key");
  auto bad = LoadConfigFile(Write("bad.toml", "[redis]\ncert = 3\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("redis.cert must be a string"), std::string::npos)
      << bad.error().message();
}

TEST_F(ConfigTest, RefusesMalformedComponentObjectLocks) {
  const std::pair<const char*, const char*> cases[] = {
      {"[components.t]\nobject_lock = \"compliance\"\n", "go together"},
      {"[components.t]\nretain = 30\n", "go together"},
      {"[components.t]\nobject_lock = \"forever\"\nretain = 30\n", "governance or compliance"},
      {"[components.t]\nobject_lock = \"compliance\"\nretain = 0\n", "components.t.retain"},
      {"[components.t]\nobject_lock = \"compliance\"\nretain = \"3w\"\n", "components.t.retain"},
      {"[components.t]\nobject_lock = \"compliance\"\nretain = 1.5\n", "components.t.retain"},
      {"[components.t]\nobject_lock = 1\nretain = 3\n", "components.t.object_lock"},
      {"components = 3\n", "[components] must be a table"},
  };
  for (const auto& [text, words] : cases) {
    auto cfg = LoadConfigFile(Write("bad.toml", text));
    ASSERT_FALSE(cfg.ok()) << text;
    EXPECT_EQ(cfg.error().code(), ErrorCode::kUsage);
    EXPECT_NE(cfg.error().message().find(words), std::string::npos) << cfg.error().message();
    EXPECT_NE(cfg.error().message().find("line "), std::string::npos) << cfg.error().message();
  }
}

TEST_F(ConfigTest, SyntaxErrorNamesFileAndLine) {
  auto path = Write("bad.toml", "[repository]\nurl = \"/srv/repo\"\npassword_file = = 3\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code(), ErrorCode::kUsage);
  EXPECT_NE(cfg.error().message().find(path), std::string::npos) << cfg.error().message();
  EXPECT_NE(cfg.error().message().find("line 3"), std::string::npos) << cfg.error().message();
}

TEST_F(ConfigTest, WrongTypeNamesLine) {
  auto path = Write("type.toml", "\n[repository]\nurl = 42\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code(), ErrorCode::kUsage);
  EXPECT_NE(cfg.error().message().find("line 3"), std::string::npos) << cfg.error().message();
  EXPECT_NE(cfg.error().message().find("repository.url"), std::string::npos);
}

TEST_F(ConfigTest, MissingFileIsUsageError) {
  auto cfg = LoadConfigFile(dir_ + "/nope.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code(), ErrorCode::kUsage);
}

TEST_F(ConfigTest, NamedRepositoriesInFileOrder) {
  auto path = Write("multi.toml",
                    "[s3]\nregion = \"eu-1\"\nendpoint = \"http://127.0.0.1:1\"\n"
                    "[repositories.local]\nurl = \"/nas/repo\"\npassword_file = \"/etc/pw-local\"\n"
                    "[repositories.offsite]\nurl = \"s3://bucket/prefix\"\n"
                    "[repositories.offsite.s3]\nendpoint = \"http://127.0.0.1:2\"\n"
                    "profile = \"offsite\"\n"
                    "[repositories.archive]\nurl = \"/mnt/archive\"\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  ASSERT_EQ(cfg->repositories.size(), 3u);
  // File order, not key order: it is the order restore falls back in.
  EXPECT_EQ(cfg->repositories[0].name, "local");
  EXPECT_EQ(cfg->repositories[1].name, "offsite");
  EXPECT_EQ(cfg->repositories[2].name, "archive");
  EXPECT_EQ(cfg->repositories[0].password_file, "/etc/pw-local");
  EXPECT_EQ(cfg->repositories[1].s3_endpoint, "http://127.0.0.1:2");
  EXPECT_EQ(cfg->FindRepository("offsite")->url, "s3://bucket/prefix");
  EXPECT_EQ(cfg->FindRepository("nope"), nullptr);

  Context ctx;
  ctx.config = *cfg;
  unsetenv("BULWARK_REPOSITORY");
  // Without --repo, the first named repository is the one used.
  EXPECT_EQ(*ctx.RepositoryUrl(), "/nas/repo");
  ctx.global.repo = "offsite";
  auto t = ctx.PrimaryTarget();
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->name, "offsite");
  EXPECT_EQ(t->url, "s3://bucket/prefix");
  // Per-repository S3 settings win over [s3], which fills in the rest.
  EXPECT_EQ(t->backend.s3_endpoint, "http://127.0.0.1:2");
  EXPECT_EQ(t->backend.s3_region, "eu-1");
  EXPECT_EQ(t->backend.s3_profile, "offsite");
  // A flag wins over both.
  ctx.global.s3_endpoint = "http://127.0.0.1:3";
  EXPECT_EQ(ctx.ResolveTarget("offsite")->backend.s3_endpoint, "http://127.0.0.1:3");
  // Paths and URLs are taken as they are; a plain unknown word is a mistyped name.
  EXPECT_EQ(ctx.ResolveTarget("/srv/other")->url, "/srv/other");
  EXPECT_EQ(ctx.ResolveTarget("./offsite")->url, "./offsite");
  auto unknown = ctx.ResolveTarget("ofsite");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kUsage);
  EXPECT_NE(unknown.error().message().find("local, offsite, archive"), std::string::npos)
      << unknown.error().message();
}

TEST_F(ConfigTest, PlainWordIsAPathWithoutNamedRepositories) {
  Context ctx;
  auto t = ctx.ResolveTarget("repo");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->url, "repo");
}

TEST_F(ConfigTest, NamedRepositoryErrorsNameTheLine) {
  auto no_url = LoadConfigFile(Write("nourl.toml", "[repositories.a]\npassword_file = \"/x\"\n"));
  ASSERT_FALSE(no_url.ok());
  EXPECT_EQ(no_url.error().code(), ErrorCode::kUsage);
  EXPECT_NE(no_url.error().message().find("repositories.a.url is required"), std::string::npos)
      << no_url.error().message();
  auto bad_type = LoadConfigFile(Write("type.toml",
                                       "[repositories.a]\nurl = \"/r\"\n\n"
                                       "password_file = 7\n"));
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.error().message().find("line 4"), std::string::npos)
      << bad_type.error().message();
  EXPECT_NE(bad_type.error().message().find("repositories.a.password_file"), std::string::npos);
  auto not_table = LoadConfigFile(Write("nt.toml", "repositories = 3\n"));
  ASSERT_FALSE(not_table.ok());
  auto bad_s3 = LoadConfigFile(Write("s3.toml", "[repositories.a]\nurl = \"/r\"\ns3 = 1\n"));
  ASSERT_FALSE(bad_s3.ok());
  EXPECT_NE(bad_s3.error().message().find("line 3"), std::string::npos) << bad_s3.error().message();
}

TEST_F(ConfigTest, StorageClassesAndTransitionsPerTypeAndRepository) {
  auto path = Write("classes.toml",
                    "[s3]\nabort_incomplete_upload_days = 3\n"
                    "[s3.storage_class]\ndata = \"INTELLIGENT_TIERING\"\nindex = \"STANDARD\"\n"
                    "[s3.transition]\ndata = { days = 30, class = \"GLACIER_IR\" }\n"
                    "[repositories.cold]\nurl = \"s3://b/cold\"\n"
                    "[repositories.cold.s3.storage_class]\ndata = \"COLD\"\n"
                    "[repositories.cold.s3.transition]\nwal = { days = 7, class = \"COLD\" }\n");
  auto cfg = LoadConfigFile(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  Context ctx;
  ctx.config = *cfg;
  auto t = ctx.ResolveTarget("cold");
  ASSERT_TRUE(t.ok()) << t.error().message();
  // Per type: the repository's own value, else the [s3] one.
  EXPECT_EQ(t->backend.s3_storage_classes.at("data"), "COLD");
  EXPECT_EQ(t->backend.s3_storage_classes.at("index"), "STANDARD");
  EXPECT_EQ(t->s3_lifecycle.transitions.at("data").storage_class, "GLACIER_IR");
  EXPECT_EQ(t->s3_lifecycle.transitions.at("data").days, 30);
  EXPECT_EQ(t->s3_lifecycle.transitions.at("wal").days, 7);
  EXPECT_EQ(t->s3_lifecycle.abort_incomplete_upload_days, 3);
  auto plain = ctx.ResolveTarget("s3://b/other");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->backend.s3_storage_classes.at("data"), "INTELLIGENT_TIERING");
  EXPECT_FALSE(plain->s3_lifecycle.transitions.contains("wal"));
}

TEST_F(ConfigTest, StorageClassesNeedingARestoreAreRefused) {
  for (const char* text :
       {"[s3.storage_class]\ndata = \"GLACIER\"\n", "[s3.storage_class]\nwal = \"deep_archive\"\n",
        "[s3.transition]\ndata = { days = 1, class = \"GLACIER_FLEXIBLE_RETRIEVAL\" }\n",
        "[s3.storage_class]\nlocks = \"STANDARD_IA\"\n", "[s3.transition]\ndata = 30\n",
        "[s3]\nabort_incomplete_upload_days = 0\n"}) {
    auto cfg = LoadConfigFile(Write("bad.toml", text));
    ASSERT_FALSE(cfg.ok()) << text;
    EXPECT_EQ(cfg.error().code(), ErrorCode::kUsage) << text;
    EXPECT_NE(cfg.error().message().find("line"), std::string::npos) << cfg.error().message();
  }
}

TEST(ContextTest, FlagOverridesEnvironmentOverridesConfig) {
  Context ctx;
  ctx.config.repository_url = "/from/config";
  unsetenv("BULWARK_REPOSITORY");
  EXPECT_EQ(*ctx.RepositoryUrl(), "/from/config");
  setenv("BULWARK_REPOSITORY", "/from/env", 1);
  EXPECT_EQ(*ctx.RepositoryUrl(), "/from/env");
  ctx.global.repo = "/from/flag";
  EXPECT_EQ(*ctx.RepositoryUrl(), "/from/flag");
  unsetenv("BULWARK_REPOSITORY");
  Context empty;
  EXPECT_EQ(empty.RepositoryUrl().error().code(), ErrorCode::kUsage);
}

TEST(ContextTest, FastKdfOnlyWithTestKnob) {
  unsetenv("BULWARK_TEST_KDF");
  EXPECT_GE(DefaultKdfParams().mem_limit, 64ull << 20);
  setenv("BULWARK_TEST_KDF", "fast", 1);
  EXPECT_LT(DefaultKdfParams().mem_limit, 1ull << 20);
  unsetenv("BULWARK_TEST_KDF");
}

}  // namespace
}  // namespace bulwark::cli
