#include "storage/s3/s3_options.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "storage/local/local_backend.h"
#include "storage/s3/s3_backend.h"

namespace bulwark::storage::s3 {
namespace {

TEST(S3Options, ParseUrlAndResolveFromEnvironmentAndProfile) {
  S3Options o;
  ASSERT_TRUE(ParseS3Url("s3://my-bucket/some/prefix/", o).ok());
  EXPECT_EQ(o.bucket, "my-bucket");
  EXPECT_EQ(o.prefix, "some/prefix");
  ASSERT_TRUE(ParseS3Url("s3://my-bucket", o).ok());
  EXPECT_EQ(o.prefix, "");
  EXPECT_FALSE(ParseS3Url("s3://x/p", o).ok()) << "bucket names have at least 3 characters";
  EXPECT_FALSE(ParseS3Url("s3://bad bucket/p", o).ok());

  char dir_tmpl[] = "/tmp/bulwark-s3opt-XXXXXX";
  ASSERT_NE(mkdtemp(dir_tmpl), nullptr);
  std::string dir = dir_tmpl;
  {
    std::ofstream(dir + "/credentials") << "[default]\naws_access_key_id = AKDEF\n"
                                           "aws_secret_access_key = SKDEF\n\n[ops]\n"
                                           "aws_access_key_id=AKOPS\naws_secret_access_key=SKOPS\n"
                                           "aws_session_token = TOK\n";
    std::ofstream(dir + "/config") << "[profile ops]\nregion = eu-central-1\n";
  }
  ProfileValues pv;
  ASSERT_TRUE(ReadProfile(dir + "/credentials", "ops", false, pv));
  EXPECT_EQ(pv.access_key_id, "AKOPS");
  EXPECT_EQ(pv.secret_access_key, "SKOPS");
  EXPECT_EQ(pv.session_token, "TOK");
  ProfileValues cv;
  ASSERT_TRUE(ReadProfile(dir + "/config", "ops", true, cv));
  EXPECT_EQ(cv.region, "eu-central-1");
  EXPECT_FALSE(ReadProfile(dir + "/credentials", "nobody", false, pv));

  // ResolveS3Options reads the process environment; run it in a child so this test does not
  // change the environment of the others.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                          "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                          "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "BULWARK_S3_ADDRESSING"}) {
      unsetenv(v);
    }
    setenv("AWS_SHARED_CREDENTIALS_FILE", (dir + "/credentials").c_str(), 1);
    setenv("AWS_CONFIG_FILE", (dir + "/config").c_str(), 1);
    setenv("AWS_PROFILE", "ops", 1);
    auto r = ResolveS3Options("s3://bucket-one/p", {});
    bool ok = r.ok() && r->creds.access_key_id == "AKOPS" && r->region == "eu-central-1" &&
              !r->path_style && r->endpoint == "https://s3.eu-central-1.amazonaws.com";
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
    setenv("AWS_REGION", "us-west-2", 1);
    r = ResolveS3Options("s3://bucket-one/p", {});
    ok = ok && r.ok() && r->creds.access_key_id == "AKENV" && r->path_style &&
         r->endpoint == "http://127.0.0.1:9000" && r->region == "us-west-2";
    r = ResolveS3Options("s3://bucket-one/p", {"http://10.0.0.1:7480", "", "", "", {}});
    ok = ok && r.ok() && r->endpoint == "http://10.0.0.1:7480";
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_PROFILE", "nobody", 1);
    r = ResolveS3Options("s3://bucket-one/p", {});
    ok = ok && !r.ok() && r.error().code() == ErrorCode::kUsage;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::filesystem::remove_all(dir);
}

TEST(S3Options, ConcurrentUploadsFromTheEnvironment) {
  // In a child: ResolveS3Options reads the process environment.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    unsetenv("BULWARK_S3_UPLOADS");
    auto r = ResolveS3Options("s3://bucket-one/p", {});
    bool ok = r.ok() && r->concurrent_uploads == 8 && ConcurrentPutsFor(S3Backend(*r)) == 8;
    setenv("BULWARK_S3_UPLOADS", "3", 1);
    r = ResolveS3Options("s3://bucket-one/p", {});
    ok = ok && r.ok() && r->concurrent_uploads == 3 && ConcurrentPutsFor(S3Backend(*r)) == 3;
    setenv("BULWARK_S3_UPLOADS", "0", 1);
    r = ResolveS3Options("s3://bucket-one/p", {});
    ok = ok && r.ok() && r->concurrent_uploads == 1;
    setenv("BULWARK_S3_UPLOADS", "many", 1);
    ok = ok && !ResolveS3Options("s3://bucket-one/p", {}).ok();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Any other backend (a local disk): two.
  EXPECT_EQ(ConcurrentPutsFor(LocalBackend(std::filesystem::temp_directory_path().string())), 2);
}

}  // namespace
}  // namespace bulwark::storage::s3
