// Context: the state every command shares — global flags, the optional TOML config file, and
// how to find the repository and its passphrase (flag > environment > config > prompt).
// Created by main(); used by one command on the main thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "crypto/keys.h"
#include "repo/repository.h"
#include "storage/backend.h"
#include "storage/s3/lifecycle.h"

namespace bulwark::cli {

struct GlobalOptions {
  std::string repo;                          // --repo/-r
  std::string password_file;                 // --password-file
  std::string config_file;                   // --config
  std::vector<std::string> compliance_tags;  // --compliance-tag (repeatable)
  std::string s3_endpoint;                   // --s3-endpoint (else AWS_ENDPOINT_URL, config)
  std::string s3_region;                     // --s3-region (else AWS_REGION, config)
  std::string s3_ca_bundle;                  // --s3-ca-bundle (else AWS_CA_BUNDLE, config)
  std::vector<std::string> fallback_repos;   // --fallback-repo NAME (repeatable; reads only)
  bool json = false;
  bool quiet = false;
};

// What a --config TOML file may set. Unknown tables and keys are ignored (later issues add
// components and schedules); known keys of the wrong type are errors.
//   [repository] url = "...", password_file = "..."
//   [audit] operator = "...", compliance_tags = ["SOX", ...]
//   [s3] endpoint = "...", region = "...", ca_bundle = "...", profile = "..."
//   [repositories.NAME] url = "...", password_file = "..."
//   [s3] abort_incomplete_upload_days = N (s3-lifecycle)
//   [s3.storage_class] TYPE = "CLASS"          (TYPE: data, index, snapshots, wal, audit,
//   [s3.transition] TYPE = { days = N, class = "CLASS" }     keys, config; s3-lifecycle)
//   [repositories.NAME.s3] endpoint, region, ca_bundle, profile (else the [s3] values), and
//   the tables above (per type, else the [s3] ones)
//   [redis] password_file, ca_bundle, cert, key (after the flags and BULWARK_REDIS_* variables)
//   [components.NAME] object_lock = "governance"|"compliance", retain = DAYS or "36h"/"7d"
//     (a longer or stricter object lock for this component's objects than the repository's)
struct S3ClassSettings {
  std::map<std::string, std::string> storage_class;           // type -> class
  std::map<std::string, storage::s3::Transition> transition;  // type -> transition
  int abort_incomplete_upload_days = 0;                       // 0: not set
};

struct NamedRepository {
  std::string name;
  std::string url;
  std::string password_file;
  std::string s3_endpoint, s3_region, s3_ca_bundle, s3_profile;
  S3ClassSettings s3_classes;
};

struct ComponentSettings {
  repo::ObjectLockConfig object_lock;  // disabled: the repository's
};

struct FileConfig {
  std::string path;
  std::string repository_url;
  std::string password_file;
  std::string operator_name;
  std::vector<std::string> compliance_tags;
  std::string s3_endpoint, s3_region, s3_ca_bundle, s3_profile;
  S3ClassSettings s3_classes;
  std::vector<NamedRepository> repositories;            // [repositories.NAME], in file order
  std::map<std::string, ComponentSettings> components;  // [components.NAME]
  std::string redis_password_file, redis_ca_bundle, redis_cert, redis_key;  // [redis]

  const NamedRepository* FindRepository(std::string_view name) const;
};

// kUsage naming the file and line on a syntax error or a key of the wrong type.
Result<FileConfig> LoadConfigFile(const std::string& path);

// Argon2id cost for new key slots: the default, or a cheap one when BULWARK_TEST_KDF=fast
// (tests only; documented as unsafe).
crypto::Argon2Params DefaultKdfParams();

// "user@host" of this process.
std::string CurrentUserAtHost();

class Context {
 public:
  GlobalOptions global;
  FileConfig config;
  // The command line as given (commands that start a helper process of their own re-run it).
  std::vector<std::string> argv;
  // Set by the selected subcommand's callback during parsing; run by main afterwards.
  std::function<int()> action;

  // Loads --config if given. Called once after parsing, before the action.
  Status Prepare();

  bool json() const { return global.json; }
  bool quiet() const { return global.quiet; }

  // Repository URL from --repo, BULWARK_REPOSITORY or the config; kUsage if none. --repo and
  // BULWARK_REPOSITORY may name a [repositories.NAME] table of the config.
  Result<std::string> RepositoryUrl() const;
  Result<std::unique_ptr<storage::Backend>> OpenBackend() const;

  // A repository to open: a name of the config's [repositories] (its URL, S3 settings and
  // password file) or a URL/path (the global settings). `name` is what messages call it.
  struct Target {
    std::string name;
    std::string url;
    std::string password_file;  // from the config; empty = none
    storage::BackendOptions backend;
    // Bucket lifecycle rules the config wants ([s3.transition], abort_incomplete_upload_days).
    storage::s3::LifecyclePolicy s3_lifecycle;
  };
  // The repository this command works on (--repo, BULWARK_REPOSITORY, the config).
  Result<Target> PrimaryTarget() const;
  // `ref` as a configured name, else as a URL/path; kUsage for an unknown plain name.
  Result<Target> ResolveTarget(const std::string& ref) const;
  Result<std::unique_ptr<storage::Backend>> OpenBackendAt(const Target& target) const;
  // Opens a repository other than the primary one. The passphrase comes from `password_file`
  // (a flag), the environment variables `<env_prefix>_FILE` / `<env_prefix>` (e.g.
  // BULWARK_FROM_PASSWORD; skipped when env_prefix is empty), the target's password_file, or
  // else the primary repository's passphrase.
  Result<std::unique_ptr<repo::Repository>> OpenOtherRepository(const Target& target,
                                                                const std::string& password_file,
                                                                const char* env_prefix);
  // Passphrase for a repository other than the primary one (same order as above).
  Result<std::string> OtherPassphrase(const Target& target, const std::string& password_file,
                                      const char* env_prefix);

  // The passphrase from --password-file, BULWARK_PASSWORD_FILE, BULWARK_PASSWORD, the
  // config's password_file, or a prompt on the terminal (asked twice with `confirm`).
  Result<std::string> Passphrase(bool confirm = false);

  // Opens the repository: kNoRepository before asking for a passphrase when there is none.
  // The index is not loaded (commands that need it call LoadIndex).
  Result<std::unique_ptr<repo::Repository>> OpenRepository();
  // The same for a command that writes `component`'s objects: they carry the component's object
  // lock when the config sets one ([components.NAME]), else the repository's.
  Result<std::unique_ptr<repo::Repository>> OpenRepository(const std::string& component);
  // The config's object lock for `component` (disabled when it sets none).
  repo::ObjectLockConfig ComponentObjectLock(const std::string& component) const;
  // For commands that only read (restore, wal-get): also arranges the fallback repositories
  // (--fallback-repo, else the config's other [repositories] in file order). When the
  // primary one is unreachable (none there, or an I/O error), the next that opens is used,
  // saying so on stderr; damaged or unreadable chunks are read from the next repository
  // that shares the keys (see repo::Repository::SetFallbacks).
  Result<std::unique_ptr<repo::Repository>> OpenRepositoryForReading();

  // Operator recorded in audit records: BULWARK_OPERATOR (e.g. "automated_system"), the
  // config's audit.operator, or user@host.
  std::string Operator() const;
  // --compliance-tag values, else the config's audit.compliance_tags.
  std::vector<std::string> ComplianceTags() const;

 private:
  std::string passphrase_;
  bool have_passphrase_ = false;
};

}  // namespace bulwark::cli
