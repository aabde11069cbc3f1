// `bulwark copy --from A [--to B] [--component C]`: copies snapshots, WAL and audit records
// from one repository to another that shares its keys (see repo/copy.h).
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>

#include "audit/audit_copy.h"
#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "repo/copy.h"
#include "repo/lock.h"
#include "repo/snapshot.h"

namespace bulwark::cli {

namespace {

struct CopyArgs {
  std::string from;
  std::string from_password_file;
  std::string to;
  std::string component;
};

// Sums the passes of one copy. What an earlier pass copied, a later one finds already there:
// that is not counted as skipped.
void AddPass(repo::CopyResult& total, const repo::CopyResult& pass) {
  total.snapshots_skipped +=
      pass.snapshots_skipped - std::min(pass.snapshots_skipped, total.snapshots_copied);
  total.wal_skipped += pass.wal_skipped - std::min(pass.wal_skipped, total.wal_copied);
  total.redis_stream_skipped +=
      pass.redis_stream_skipped - std::min(pass.redis_stream_skipped, total.redis_stream_copied);
  total.snapshots_copied += pass.snapshots_copied;
  total.wal_copied += pass.wal_copied;
  total.redis_stream_copied += pass.redis_stream_copied;
  total.blobs_copied += pass.blobs_copied;
  total.blobs_present += pass.blobs_present;
  total.bytes_copied += pass.bytes_copied;
  total.bytes_stored += pass.bytes_stored;
  total.copied.insert(total.copied.end(), pass.copied.begin(), pass.copied.end());
}

int RunCopy(Context& ctx, const CopyArgs& args) {
  auto to_target = args.to.empty() ? ctx.PrimaryTarget() : ctx.ResolveTarget(args.to);
  if (!to_target.ok()) return ReportError(to_target.error(), "copy");
  auto from_target = ctx.ResolveTarget(args.from);
  if (!from_target.ok()) return ReportError(from_target.error(), "copy");
  auto to = args.to.empty() ? ctx.OpenRepository() : ctx.OpenOtherRepository(*to_target, "", "");
  if (!to.ok()) return ReportError(to.error(), "copy: target " + to_target->name);
  auto from =
      ctx.OpenOtherRepository(*from_target, args.from_password_file, "BULWARK_FROM_PASSWORD");
  if (!from.ok()) return ReportError(from.error(), "copy: source " + from_target->name);
  repo::Repository& src = **from;
  repo::Repository& dst = **to;
  if (src.config().repository_id == dst.config().repository_id) {
    return ReportError(Error(ErrorCode::kUsage, "--from and --to are the same repository (" +
                                                    dst.backend().Location() + ")"),
                       "copy");
  }
  if (Status st = repo::CheckSharedKeys(src, dst); !st.ok()) return ReportError(st.error(), "copy");

  AuditScope audit(ctx, "copy", args.component);
  audit.record().storage_location = dst.backend().Location();
  audit.record().details = {{"from", src.backend().Location()},
                            {"from_repository_id", src.config().repository_id.Hex()}};
  // Copy reads one and writes the other like a backup does: shared locks only.
  auto src_lock = repo::RepoLock::Acquire(src, repo::LockKind::kShared, "copy (source)");
  if (!src_lock.ok()) return audit.Fail(dst, src_lock.error(), "locking " + from_target->name);
  auto dst_lock = repo::RepoLock::Acquire(dst, repo::LockKind::kShared, "copy");
  if (!dst_lock.ok()) return audit.Fail(dst, dst_lock.error(), "locking " + to_target->name);
  if (Status st = src.LoadIndex(); !st.ok())
    return audit.Fail(dst, st.error(), "loading the index");
  if (Status st = dst.LoadIndex(); !st.ok())
    return audit.Fail(dst, st.error(), "loading the index");

  // Components of the source with an object lock of their own in the config are copied first,
  // each under its lock (their WAL and stream segments too); the rest after, under the
  // target's.
  std::vector<std::string> passes;
  if (args.component.empty() && !ctx.config.components.empty()) {
    auto snapshots = repo::LoadAllSnapshots(src);
    if (!snapshots.ok()) return audit.Fail(dst, snapshots.error(), "listing snapshots");
    std::set<std::string> present;
    for (const auto& s : *snapshots) present.insert(s.component);
    for (const auto& [name, settings] : ctx.config.components) {
      if (settings.object_lock.enabled() && present.count(name)) passes.push_back(name);
    }
  }
  passes.push_back(args.component);
  for (const std::string& c : passes) {
    if (Status st = dst.UseObjectLock(ctx.ComponentObjectLock(c), c); !st.ok())
      return audit.Fail(dst, st.error(), "copy");
  }
  if (Status st = dst.UseObjectLock(ctx.ComponentObjectLock(passes.front()), passes.front());
      !st.ok()) {
    return audit.Fail(dst, st.error(), "copy");
  }
  auto plan = repo::PlanCopy(src, dst, passes.front());
  if (!plan.ok()) return audit.Fail(dst, plan.error(), "copy");
  // Audit records first: the target's log then stays at least as long as the audit_seq of
  // every snapshot copied into it, at every moment.
  audit::AuditLog src_log(src, CliAuditOptions(src));
  audit::AuditLog dst_log(dst, CliAuditOptions(dst));
  auto audit_copied = audit::CopyAuditRecords(src_log, src.config().repository_id.Hex(),
                                              src.backend().Location(), dst_log);
  if (!audit_copied.ok()) return audit.Fail(dst, audit_copied.error(), "copying audit records");

  repo::CopyOptions options;
  options.writer.packs_per_index = 4;  // a killed copy keeps most of what it stored
  const repo::RepoLock* locks[] = {src_lock->get(), dst_lock->get()};
  options.still_locked = [&locks] { return locks[0]->StillValid() && locks[1]->StillValid(); };
  const bool chatty = !ctx.quiet() && !ctx.json();
  options.on_snapshot = [chatty](const repo::Snapshot& s) {
    if (chatty) {
      fmt::print("copied snapshot {} ({} {}, {})\n", s.id.ShortHex(), s.component, s.kind,
                 FormatLocalTime(s.time_unix_ns));
    }
  };
  repo::CopyResult r;
  for (size_t i = 0; i < passes.size(); ++i) {
    if (i > 0) {
      if (Status st = dst.UseObjectLock(ctx.ComponentObjectLock(passes[i]), passes[i]); !st.ok())
        return audit.Fail(dst, st.error(), "copy");
      plan = repo::PlanCopy(src, dst, passes[i]);
      if (!plan.ok()) return audit.Fail(dst, plan.error(), "copy");
    }
    options.component = passes[i];
    auto result = repo::CopySnapshots(src, dst, *plan, options);
    if (!result.ok()) return audit.Fail(dst, result.error(), "copy");
    AddPass(r, *result);
  }
  audit.record().backup_size = r.bytes_stored;
  audit.record().details["snapshots_copied"] = r.snapshots_copied;
  audit.record().details["snapshots_skipped"] = r.snapshots_skipped;
  audit.record().details["wal_copied"] = r.wal_copied;
  audit.record().details["redis_stream_copied"] = r.redis_stream_copied;
  audit.record().details["blobs_copied"] = r.blobs_copied;
  audit.record().details["bytes_copied"] = r.bytes_copied;
  audit.record().details["audit_records_copied"] = *audit_copied;
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& id : r.copied) ids.push_back(id.Hex());
  audit.record().details["snapshots"] = ids;
  if (Status st = audit.Finish(dst, "success"); !st.ok()) return ExitCodeFor(st.error().code());
  (void)(*dst_lock)->Release();
  (void)(*src_lock)->Release();

  if (ctx.json()) {
    PrintJson({{"from", src.backend().Location()},
               {"to", dst.backend().Location()},
               {"snapshots_copied", r.snapshots_copied},
               {"snapshots_skipped", r.snapshots_skipped},
               {"snapshots", ids},
               {"wal_copied", r.wal_copied},
               {"wal_skipped", r.wal_skipped},
               {"redis_stream_copied", r.redis_stream_copied},
               {"redis_stream_skipped", r.redis_stream_skipped},
               {"chunks_copied", r.blobs_copied},
               {"chunks_present", r.blobs_present},
               {"bytes_copied", r.bytes_copied},
               {"bytes_stored", r.bytes_stored},
               {"audit_records_copied", *audit_copied}});
  } else if (!ctx.quiet()) {
    fmt::print(
        "copy {} -> {}: {} snapshots copied, {} already there; {} WAL files copied; {} Redis "
        "stream segments copied; {} chunks transferred ({}, {} stored), {} already there; {} "
        "audit records copied\n",
        from_target->name, to_target->name, r.snapshots_copied, r.snapshots_skipped, r.wal_copied,
        r.redis_stream_copied, r.blobs_copied, FormatBytes(r.bytes_copied),
        FormatBytes(r.bytes_stored), r.blobs_present, *audit_copied);
  }
  return 0;
}

}  // namespace

void RegisterCopy(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<CopyArgs>();
  CLI::App* sub = app.add_subcommand(
      "copy",
      "Copy snapshots, WAL and audit records to another repository that shares the keys "
      "(created with `init --from-repo`); only chunks it lacks are transferred");
  sub->add_option("--from", args->from, "Source repository: a name from --config or a URL")
      ->required();
  sub->add_option("--to", args->to, "Target repository (default: --repo)");
  sub->add_option("--from-password-file", args->from_password_file,
                  "File holding the source's passphrase (or BULWARK_FROM_PASSWORD_FILE, "
                  "BULWARK_FROM_PASSWORD; default: its config password_file, else the target's)");
  sub->add_option("--component", args->component, "Copy only this component");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunCopy(ctx, *args); }; });
}

}  // namespace bulwark::cli
