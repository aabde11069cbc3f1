#include "sources/redis/restore.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "sources/files/restore.h"
#include "sources/redis/backup.h"

namespace bulwark::sources::redis {

Result<RedisRestoreResult> RestoreRedis(repo::Repository& repo, const repo::Snapshot& snapshot,
                                        const RedisRestoreOptions& options) {
  if (snapshot.kind != kRedisSnapshotKind) {
    return Error(ErrorCode::kUsage, fmt::format("snapshot {} is of kind '{}', not a Redis snapshot",
                                                snapshot.id.ShortHex(), snapshot.kind));
  }
  if (options.target.empty()) return Error(ErrorCode::kUsage, "--target is required");
  RedisRestoreResult result;
  result.path = options.target + "/" + kRdbFileName;
  struct stat st;
  if (!options.force && ::lstat(result.path.c_str(), &st) == 0) {
    return Error(ErrorCode::kUsage,
                 result.path + " already exists; restore into an empty directory or use --force");
  }
  files::FilesRestoreOptions fopts;
  fopts.target = options.target;
  fopts.subpath = std::string("/") + kRdbFileName;
  fopts.progress = options.progress;
  BW_ASSIGN_OR_RETURN(auto res, files::RestoreSnapshot(repo, snapshot, fopts));
  if (!res.damaged.empty()) {
    return Error(ErrorCode::kIntegrity, "damaged repository data: " + res.damaged.front() +
                                            " (run `bulwark check --read-data`)");
  }
  if (!res.errors.empty()) return Error(ErrorCode::kFailure, res.errors.front());

  int fd = ::open(result.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening the restored " + result.path, errno);
  FdRdbSource source(fd);
  auto info = ParseRdb(source);
  ::close(fd);
  if (!info.ok()) {
    return Error(ErrorCode::kIntegrity,
                 "the restored " + result.path + " does not verify: " + info.error().message());
  }
  result.rdb = std::move(*info);
  return result;
}

}  // namespace bulwark::sources::redis
