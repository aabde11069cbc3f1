// `bulwark init`: creates a repository (refusing to touch an existing one); with --from-repo,
// one that shares another repository's keys and chunker, so `bulwark copy` can deduplicate.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "repo/repository.h"

namespace bulwark::cli {

namespace {

struct InitArgs {
  std::string chunk_size;   // average chunk size
  std::string object_lock;  // governance | compliance
  std::string retain;       // retention: days, or a number with s/m/h/d
  int compression_level = 3;
  std::string pack_size;
  std::string kdf_memory;
  uint64_t kdf_iterations = 0;
  std::string from_repo;           // share this repository's keys
  std::string from_password_file;  // its passphrase (else BULWARK_FROM_PASSWORD[_FILE])
};

Status BuildObjectLock(const InitArgs& args, repo::ObjectLockConfig& out) {
  if (args.object_lock.empty()) {
    if (!args.retain.empty())
      return Error(ErrorCode::kUsage, "--retain needs --object-lock governance|compliance");
    return Status::Ok();
  }
  if (args.object_lock != "governance" && args.object_lock != "compliance") {
    return Error(ErrorCode::kUsage, "--object-lock must be governance or compliance");
  }
  if (args.retain.empty()) {
    return Error(ErrorCode::kUsage,
                 "--object-lock needs --retain DAYS: how long every object stays undeletable");
  }
  out.mode = args.object_lock;
  BW_ASSIGN_OR_RETURN(out.retain_seconds, repo::ParseRetention(args.retain, "--retain"));
  return Status::Ok();
}

Result<repo::InitOptions> BuildOptions(const InitArgs& args) {
  repo::InitOptions options;
  options.kdf = DefaultKdfParams();
  options.key_user = CurrentUserAtHost();
  options.config.compression_level = args.compression_level;
  BW_RETURN_IF_ERROR(BuildObjectLock(args, options.config.object_lock));
  if (!args.chunk_size.empty()) {
    BW_ASSIGN_OR_RETURN(uint64_t avg, ParseSize(args.chunk_size));
    if (avg < 4096 || avg > (16u << 20) || (avg & (avg - 1)) != 0) {
      return Error(ErrorCode::kUsage,
                   "--chunk-size must be a power of two between 4 KiB and 16 MiB");
    }
    options.config.chunker.avg_size = static_cast<uint32_t>(avg);
    options.config.chunker.min_size = static_cast<uint32_t>(avg / 4);
    options.config.chunker.max_size = static_cast<uint32_t>(avg * 4);
  }
  if (!args.pack_size.empty()) {
    BW_ASSIGN_OR_RETURN(uint64_t pack, ParseSize(args.pack_size));
    if (pack > (1u << 30)) return Error(ErrorCode::kUsage, "--pack-size must be at most 1 GiB");
    options.config.pack_size = static_cast<uint32_t>(pack);
  }
  if (!args.kdf_memory.empty()) {
    BW_ASSIGN_OR_RETURN(options.kdf.mem_limit, ParseSize(args.kdf_memory));
  }
  if (args.kdf_iterations > 0) options.kdf.ops_limit = args.kdf_iterations;
  return options;
}

int RunInit(Context& ctx, const InitArgs& args) {
  auto options = BuildOptions(args);
  if (!options.ok()) return ReportError(options.error(), "init");
  auto backend = ctx.OpenBackend();
  if (!backend.ok()) return ReportError(backend.error(), "init");
  // Object lock needs storage that has it (and an existing bucket made with it): refuse
  // before asking for a passphrase. Init applies it again to the backend it is given.
  if (const auto& lock = options->config.object_lock; lock.enabled()) {
    auto root = (*backend)->RootExists();
    if (!root.ok()) return ReportError(root.error(), "init");
    if (Status st = (*backend)->EnableObjectLock(lock.ToBackend(), *root); !st.ok()) {
      return ReportError(st.error(), "init --object-lock",
                         "nothing was changed; see docs/S3.md, \"Object lock\"");
    }
  }
  // Refuse before prompting for a passphrase that would not be used.
  if (auto root = (*backend)->RootExists(); root.ok() && *root) {
    if ((*backend)->Stat("config").ok()) {
      return ReportError(Error(ErrorCode::kAlreadyExists,
                               "a repository already exists at " + (*backend)->Location()),
                         "init", "nothing was changed; use another location");
    }
  }
  if (!args.from_repo.empty()) {
    auto from = ctx.ResolveTarget(args.from_repo);
    if (!from.ok()) return ReportError(from.error(), "init");
    auto source = ctx.OpenOtherRepository(*from, args.from_password_file, "BULWARK_FROM_PASSWORD");
    if (!source.ok()) return ReportError(source.error(), "init --from-repo " + args.from_repo);
    options->master_key = (*source)->key();
    if (args.chunk_size.empty()) options->config.chunker = (*source)->config().chunker;
  }
  auto pass = ctx.Passphrase(/*confirm=*/true);
  if (!pass.ok()) return ReportError(pass.error(), "init");
  AuditScope audit(ctx, "init");
  auto repo = repo::Repository::Init(std::move(*backend), *pass, *options);
  if (!repo.ok()) return ReportError(repo.error(), "init");
  repo::Repository& r = **repo;
  audit.record().checksum = "sha256:" + r.config().repository_id.Hex();
  audit.record().details = {{"repository_id", r.config().repository_id.Hex()},
                            {"key_slot", r.key_slot_id().Hex()}};
  if (!args.from_repo.empty()) audit.record().details["keys_from"] = args.from_repo;
  if (Status st = audit.Finish(r, "success"); !st.ok()) return ExitCodeFor(st.error().code());
  if (ctx.json()) {
    PrintJson({{"repository_id", r.config().repository_id.Hex()},
               {"location", r.backend().Location()},
               {"key_id", r.key_slot_id().Hex()}});
  } else if (!ctx.quiet()) {
    fmt::print("created repository {} at {}\n", r.config().repository_id.ShortHex(),
               r.backend().Location());
    fmt::print("keep the passphrase safe: without it the data in this repository cannot be read\n");
    if (r.config().object_lock.enabled()) {
      fmt::print("object lock: {}; every object is undeletable for that long after it is written\n",
                 r.config().object_lock.Describe());
    }
  }
  return 0;
}

}  // namespace

void RegisterInit(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<InitArgs>();
  CLI::App* sub = app.add_subcommand("init", "Create a new repository");
  sub->add_option("--chunk-size", args->chunk_size,
                  "Average chunk size, a power of two (default 1MiB)");
  sub->add_option("--compression-level", args->compression_level, "zstd level (default 3)")
      ->check(CLI::Range(-7, 22));
  sub->add_option("--pack-size", args->pack_size, "Target pack size (default 16MiB)");
  sub->add_option("--object-lock", args->object_lock,
                  "S3 Object Lock (WORM) for every object: governance or compliance");
  sub->add_option("--retain", args->retain,
                  "With --object-lock: retention of each object in days (or with s/m/h/d)");
  sub->add_option("--kdf-memory", args->kdf_memory, "Argon2id memory cost (default 64MiB)");
  sub->add_option("--kdf-iterations", args->kdf_iterations, "Argon2id iterations (default 3)");
  sub->add_option("--from-repo", args->from_repo,
                  "Share the keys and chunker of this repository (name or URL), so `bulwark "
                  "copy` between the two deduplicates");
  sub->add_option("--from-password-file", args->from_password_file,
                  "File holding --from-repo's passphrase (or BULWARK_FROM_PASSWORD_FILE, "
                  "BULWARK_FROM_PASSWORD; default: its config password_file, else this one's)");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunInit(ctx, *args); }; });
}

}  // namespace bulwark::cli
