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
