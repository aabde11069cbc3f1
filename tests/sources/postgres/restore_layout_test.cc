// Unit tests of the restore postgres helpers that need no server or repository: the
// --tablespace-map OID=DIR syntax, exact include patterns for names with glob characters, and
// the running-server check against postmaster.pid files naming a live and a dead process.
// Delta restores themselves run against real clusters in tests/integration.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "repo/repo_test_util.h"
#include "sources/files/fs_util.h"
#include "sources/postgres/restore_delta.h"

namespace bulwark::sources::postgres {
namespace {

TEST(TablespaceMapping, Parses) {
  auto m = ParseTablespaceMapping("16384=/srv/ts/fast/");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->oid, "16384");
  EXPECT_EQ(m->dir, "/srv/ts/fast");
  auto n = ParseTablespaceMapping("1=/a/./b//c");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->dir, "/a/b/c");
  // "=" in the directory belongs to the directory.
  auto e = ParseTablespaceMapping("7=/x=y");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->dir, "/x=y");
}

TEST(TablespaceMapping, Refuses) {
  for (const char* bad : {"16384", "=/srv/ts", "abc=/srv/ts", "16384=", "16384=relative/dir",
                          "-1=/srv/ts", "12345678901=/srv/ts", "16384=/", "1 =/srv"}) {
    auto m = ParseTablespaceMapping(bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.error().code(), ErrorCode::kUsage) << bad;
  }
}

class ServerCheck : public ::testing::Test {
 protected:
  void WritePid(const std::string& first_line) {
    std::ofstream(dir_ + "/postmaster.pid") << first_line << "\n" << dir_ << "\n";
  }
  repo::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
};

TEST_F(ServerCheck, NoPidFileIsStopped) { EXPECT_TRUE(CheckServerStopped(dir_).ok()); }

TEST_F(ServerCheck, LiveProcessIsRunning) {
  WritePid(std::to_string(::getpid()));
  Status s = CheckServerStopped(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUsage);
  EXPECT_NE(s.error().message().find("running"), std::string::npos);
  WritePid("-" + std::to_string(::getpid()));  // single-user backend
  EXPECT_FALSE(CheckServerStopped(dir_).ok());
}

TEST_F(ServerCheck, DeadProcessIsStale) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: the PID names no process now
  WritePid(std::to_string(child));
  EXPECT_TRUE(CheckServerStopped(dir_).ok());
  WritePid("garbage");
  EXPECT_TRUE(CheckServerStopped(dir_).ok());
}

}  // namespace
}  // namespace bulwark::sources::postgres
