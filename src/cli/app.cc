#include "cli/app.h"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "cli/context.h"
#include "cli/output.h"
#include "cli/signals.h"

namespace bulwark::cli {

int RunCli(int argc, char** argv) {
  InstallSignalHandlers();
  Context ctx;
  ctx.argv.assign(argv, argv + argc);
  CLI::App app{
      "Bulwark: deduplicating, encrypted backup and disaster recovery for trading platforms",
      "bulwark"};
  app.require_subcommand(1);
  // Global options are accepted before or after the subcommand.
  app.fallthrough();
  app.option_defaults()->always_capture_default(false);
  app.set_version_flag("--version", std::string("bulwark ") + BULWARK_VERSION);
  app.add_option("-r,--repo", ctx.global.repo,
                 "Repository location: a path, file:///path, s3://bucket/prefix, or the NAME of "
                 "a [repositories.NAME] table of --config (or BULWARK_REPOSITORY)");
  app.add_option("--password-file", ctx.global.password_file,
                 "File holding the repository passphrase (or BULWARK_PASSWORD_FILE, "
                 "BULWARK_PASSWORD)");
  app.add_option("--config", ctx.global.config_file,
                 "TOML configuration file ([repository] url, password_file; [audit] operator, "
                 "compliance_tags); flags override it");
  app.add_option("--compliance-tag", ctx.global.compliance_tags,
                 "Compliance tag recorded in audit records (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--s3-endpoint", ctx.global.s3_endpoint,
                 "S3 endpoint URL for s3:// repositories, e.g. http://127.0.0.1:7480 (or "
                 "AWS_ENDPOINT_URL; default AWS)");
  app.add_option("--s3-region", ctx.global.s3_region, "S3 region (or AWS_REGION)");
  app.add_option("--s3-ca-bundle", ctx.global.s3_ca_bundle,
                 "PEM file of CA certificates for the S3 endpoint (or AWS_CA_BUNDLE)");
  app.add_option("--fallback-repo", ctx.global.fallback_repos,
                 "restore, dump, wal-get: repository (name or URL) to read from when the first "
                 "is unreachable or a chunk is damaged (repeatable, tried in order; default: "
                 "the config's other [repositories])")
      ->allow_extra_args(false);
  app.add_flag("--json", ctx.global.json, "Print machine-readable JSON on stdout");
  app.add_flag("-q,--quiet", ctx.global.quiet, "Print no progress and no summaries");

  RegisterInit(app, ctx);
  RegisterBackup(app, ctx);
  RegisterSnapshots(app, ctx);
  RegisterLs(app, ctx);
  RegisterRestore(app, ctx);
  RegisterDump(app, ctx);
  RegisterCheck(app, ctx);
  RegisterForget(app, ctx);
  RegisterPrune(app, ctx);
  RegisterStats(app, ctx);
  RegisterUnlock(app, ctx);
  RegisterKey(app, ctx);
  RegisterAudit(app, ctx);
  RegisterVersion(app, ctx);
  RegisterWal(app, ctx);
  RegisterCopy(app, ctx);
  RegisterS3Lifecycle(app, ctx);
  RegisterRedisStream(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line naming the problem; usage errors are exit 2 whatever CLI11's own code is.
    std::string what = e.what();
    std::fprintf(stderr, "bulwark: %s (see `bulwark --help`)\n", what.c_str());
    return 2;
  }
  if (Status st = ctx.Prepare(); !st.ok()) return ReportError(st.error());
  if (!ctx.action) {
    std::fprintf(stderr, "bulwark: no command given (see `bulwark --help`)\n");
    return 2;
  }
  int rc = 0;
  try {
    rc = ctx.action();
  } catch (const std::exception& e) {
    // Layers return errors as values; this is a last line of defence so a bug still gives
    // one line and exit 1 rather than a crash dump.
    std::fprintf(stderr, "bulwark: internal error: %s\n", e.what());
    rc = 1;
  }
  if (CancelSignal() != 0 && rc != 0) rc = 128 + CancelSignal();
  return rc;
}

}  // namespace bulwark::cli
