// Registration of every subcommand with the CLI11 application. Each Register* function (one
// per cmd_*.cc file) adds its subcommand and, when selected during parsing, stores the action
// to run in ctx.action. Main thread only.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace bulwark::cli {

void RegisterInit(CLI::App& app, Context& ctx);
void RegisterBackup(CLI::App& app, Context& ctx);
void RegisterSnapshots(CLI::App& app, Context& ctx);
void RegisterLs(CLI::App& app, Context& ctx);
void RegisterRestore(CLI::App& app, Context& ctx);
void RegisterDump(CLI::App& app, Context& ctx);
void RegisterCheck(CLI::App& app, Context& ctx);
void RegisterForget(CLI::App& app, Context& ctx);
void RegisterPrune(CLI::App& app, Context& ctx);
void RegisterStats(CLI::App& app, Context& ctx);
void RegisterUnlock(CLI::App& app, Context& ctx);
void RegisterKey(CLI::App& app, Context& ctx);
void RegisterAudit(CLI::App& app, Context& ctx);
void RegisterVersion(CLI::App& app, Context& ctx);
void RegisterWal(CLI::App& app, Context& ctx);  // wal-push, wal-get, wal-status
void RegisterCopy(CLI::App& app, Context& ctx);
void RegisterS3Lifecycle(CLI::App& app, Context& ctx);  // s3-lifecycle (admin)
void RegisterRedisStream(CLI::App& app, Context& ctx);  // redis-stream, redis-status

// PostgreSQL subcommands of `backup` and `restore` (cmd_postgres_*.cc), added by
// RegisterBackup/RegisterRestore.
void RegisterBackupPostgres(CLI::App* backup, Context& ctx);
CLI::App* RegisterRestorePostgres(CLI::App* restore, Context& ctx);
// Redis subcommands of `backup` and `restore` (cmd_redis.cc).
void RegisterBackupRedis(CLI::App* backup, Context& ctx);
CLI::App* RegisterRestoreRedis(CLI::App* restore, Context& ctx);

// Help of `restore --rehash`, shared by the restores that take it.
inline constexpr const char* kRehashHelp =
    "Also recompute every chunk's keyed content hash (each chunk's authentication tag, which "
    "binds its ID, is always checked)";

}  // namespace bulwark::cli
