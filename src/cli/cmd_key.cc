// `bulwark key list|add|remove`: manage the passphrases (key slots) that open the repository.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "cli/passphrase.h"
#include "crypto/key_cache.h"
#include "repo/key_slots.h"
#include "repo/snapshot.h"

namespace bulwark::cli {

namespace {

struct KeyArgs {
  std::string new_password_file;
  std::string user;
  std::string id;
};

int RunKeyList(Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "key list");
  auto slots = repo::ListKeySlots(**repo);
  if (!slots.ok()) return ReportError(slots.error(), "key list");
  const Id& current = (*repo)->key_slot_id();
  if (ctx.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *slots) {
      out.push_back({{"id", s.id.Hex()},
                     {"current", s.id == current},
                     {"user", s.user},
                     {"hostname", s.hostname},
                     {"created", repo::FormatTimeRfc3339(s.created_unix_ns)}});
    }
    PrintJson(out);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : *slots) {
    rows.push_back({std::string(s.id == current ? "*" : " ") + s.id.ShortHex(), s.user, s.hostname,
                    FormatLocalTime(s.created_unix_ns)});
  }
  PrintTable({" ID", "User", "Host", "Created"}, rows);
  return 0;
}

int RunKeyAdd(Context& ctx, const KeyArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "key add");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "key_add");
  Result<std::string> pass = Error(ErrorCode::kUsage, "");
  if (!args.new_password_file.empty()) {
    pass = ReadPassphraseFile(args.new_password_file);
  } else {
    pass = PromptPassphrase("New passphrase: ", /*confirm=*/true);
  }
  if (!pass.ok()) return audit.Fail(r, pass.error(), "key add");
  std::string user = args.user.empty() ? CurrentUserAtHost() : args.user;
  auto id = repo::WriteKeySlot(r.backend(), r.key(), *pass, DefaultKdfParams(), user);
  if (!id.ok()) return audit.Fail(r, id.error(), "key add");
  audit.record().checksum = "sha256:" + id->Hex();
  audit.record().details = {{"key_id", id->Hex()}, {"user", user}};
  if (Status st = audit.Finish(r, "success"); !st.ok()) return ExitCodeFor(st.error().code());
  if (ctx.json()) {
    PrintJson({{"id", id->Hex()}, {"user", user}});
  } else if (!ctx.quiet()) {
    fmt::print("added key {} for {}\n", id->ShortHex(), user);
  }
  return 0;
}

int RunKeyRemove(Context& ctx, const KeyArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "key remove");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "key_remove");
  auto slots = repo::ListKeySlots(r);
  if (!slots.ok()) return audit.Fail(r, slots.error(), "key remove");
  std::vector<Id> ids;
  for (const auto& s : *slots) ids.push_back(s.id);
  auto id = MatchIdPrefix(ids, args.id, "key");
  if (!id.ok()) return audit.Fail(r, id.error(), "key remove");
  if (Status st = repo::RemoveKeySlot(r, *id); !st.ok()) {
    return audit.Fail(r, st.error(), "key remove " + id->ShortHex());
  }
  audit.record().details = {{"key_id", id->Hex()}};
  if (Status st = audit.Finish(r, "success"); !st.ok()) return ExitCodeFor(st.error().code());
  if (ctx.json()) {
    PrintJson({{"removed", id->Hex()}});
  } else if (!ctx.quiet()) {
    fmt::print("removed key {}\n", id->ShortHex());
  }
  return 0;
}

// Needs no repository: the cache belongs to the OS user, not to a repository.
int RunKeyUncache(Context& ctx) {
  auto cleared = crypto::ClearCachedKeks();
  if (!cleared.ok()) return ReportError(cleared.error(), "key uncache");
  if (ctx.json()) {
    PrintJson({{"cleared", *cleared}});
  } else if (!ctx.quiet()) {
    fmt::print("forgot {} cached key{}\n", *cleared, *cleared == 1 ? "" : "s");
  }
  return 0;
}

}  // namespace

void RegisterKey(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<KeyArgs>();
  CLI::App* key = app.add_subcommand("key", "Manage the passphrases that open the repository");
  key->require_subcommand(1);
  CLI::App* list = key->add_subcommand("list", "List key slots (* marks the one in use)");
  list->callback([&ctx] { ctx.action = [&ctx] { return RunKeyList(ctx); }; });
  CLI::App* add = key->add_subcommand("add", "Add a passphrase");
  add->add_option("--new-password-file", args->new_password_file,
                  "File holding the new passphrase (otherwise asked on the terminal)");
  add->add_option("--user", args->user, "Label of the new key (default user@host)");
  add->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunKeyAdd(ctx, *args); }; });
  CLI::App* uncache = key->add_subcommand(
      "uncache", "Forget the keys this OS user's recent commands left in the kernel keyring");
  uncache->callback([&ctx] { ctx.action = [&ctx] { return RunKeyUncache(ctx); }; });
  CLI::App* remove = key->add_subcommand("remove", "Remove a passphrase (not the one in use)");
  remove->add_option("ID", args->id, "Key ID (a unique prefix is enough)")->required();
  remove->callback(
      [&ctx, args] { ctx.action = [&ctx, args] { return RunKeyRemove(ctx, *args); }; });
}

}  // namespace bulwark::cli
