#include "cli/context.h"

#include <pwd.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "cli/passphrase.h"
#include "crypto/key_cache.h"
#include "storage/s3/s3_options.h"

namespace bulwark::cli {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

Error ConfigError(const std::string& path, const toml::source_region& where,
                  const std::string& what) {
  return Error(ErrorCode::kUsage,
               "config " + path + " line " + std::to_string(where.begin.line) + ": " + what);
}

// Reads an optional string key; a value of another type is an error naming its line.
Status GetString(const std::string& path, const toml::table& table, const char* section,
                 const char* key, std::string& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::Ok();
  if (!node->is_string()) {
    return ConfigError(path, node->source(),
                       std::string(section) + "." + key + " must be a string");
  }
  out = node->as_string()->get();
  return Status::Ok();
}

Status GetStringArray(const std::string& path, const toml::table& table, const char* section,
                      const char* key, std::vector<std::string>& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::Ok();
  const toml::array* arr = node->as_array();
  if (arr == nullptr) {
    return ConfigError(path, node->source(),
                       std::string(section) + "." + key + " must be an array of strings");
  }
  out.clear();
  for (const toml::node& item : *arr) {
    if (!item.is_string()) {
      return ConfigError(path, item.source(),
                         std::string(section) + "." + key + " must contain only strings");
    }
    out.push_back(item.as_string()->get());
  }
  return Status::Ok();
}

// The storage class settings of an [s3] or [repositories.NAME.s3] table.
Status GetS3Classes(const std::string& path, const toml::table& s3, const std::string& section,
                    S3ClassSettings& out) {
  auto check_type = [&](const std::string& type, const toml::node& where,
                        const std::string& table) -> Status {
    if (storage::s3::IsObjectType(type)) return Status::Ok();
    return ConfigError(path, where.source(),
                       section + "." + table + "." + type + ": unknown object type" +
                           (type == "locks" || type == "deletions"
                                ? " (" + type + "/ objects always use the bucket's default class)"
                                : " (known: data, index, snapshots, wal, audit, keys, config)"));
  };
  if (const toml::node* node = s3.get("storage_class")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      return ConfigError(path, node->source(), "[" + section + ".storage_class] must be a table");
    }
    for (const auto& [key, value] : *t) {
      const std::string type(key.str());
      BW_RETURN_IF_ERROR(check_type(type, value, "storage_class"));
      if (!value.is_string()) {
        return ConfigError(path, value.source(),
                           section + ".storage_class." + type + " must be a string");
      }
      const std::string cls = value.as_string()->get();
      if (Status st = storage::s3::CheckStorageClass(cls, section + ".storage_class." + type);
          !st.ok()) {
        return ConfigError(path, value.source(), st.error().message());
      }
      out.storage_class[type] = cls;
    }
  }
  if (const toml::node* node = s3.get("transition")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      return ConfigError(path, node->source(), "[" + section + ".transition] must be a table");
    }
    for (const auto& [key, value] : *t) {
      const std::string type(key.str());
      const std::string name = section + ".transition." + type;
      BW_RETURN_IF_ERROR(check_type(type, value, "transition"));
      const toml::table* tt = value.as_table();
      const toml::node* days = tt ? tt->get("days") : nullptr;
      const toml::node* cls = tt ? tt->get("class") : nullptr;
      if (days == nullptr || !days->is_integer() || cls == nullptr || !cls->is_string()) {
        return ConfigError(path, value.source(),
                           name + " must be a table { days = N, class = \"CLASS\" }");
      }
      storage::s3::Transition tr;
      const int64_t d = days->as_integer()->get();
      if (d < 0 || d > 36500) {
        return ConfigError(path, days->source(), name + ".days must be between 0 and 36500");
      }
      tr.days = static_cast<int>(d);
      tr.storage_class = cls->as_string()->get();
      if (Status st = storage::s3::CheckStorageClass(tr.storage_class, name + ".class"); !st.ok()) {
        return ConfigError(path, cls->source(), st.error().message());
      }
      out.transition[type] = tr;
    }
  }
  if (const toml::node* node = s3.get("abort_incomplete_upload_days")) {
    if (!node->is_integer() || node->as_integer()->get() < 1 || node->as_integer()->get() > 36500) {
      return ConfigError(path, node->source(),
                         section + ".abort_incomplete_upload_days must be a number of days >= 1");
    }
    out.abort_incomplete_upload_days = static_cast<int>(node->as_integer()->get());
  }
  return Status::Ok();
}

}  // namespace

Result<FileConfig> LoadConfigFile(const std::string& path) {
  FileConfig cfg;
  cfg.path = path;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source();
    std::string what(e.description());
    if (where.begin.line == 0) {
      // toml++ reports an unreadable file without a position.
      return Error(ErrorCode::kUsage, "config " + path + ": " + what);
    }
    return ConfigError(path, where, what);
  }
  if (const toml::node* node = root.get("repository")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[repository] must be a table");
    BW_RETURN_IF_ERROR(GetString(path, *t, "repository", "url", cfg.repository_url));
    BW_RETURN_IF_ERROR(GetString(path, *t, "repository", "password_file", cfg.password_file));
  }
  if (const toml::node* node = root.get("s3")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[s3] must be a table");
    BW_RETURN_IF_ERROR(GetString(path, *t, "s3", "endpoint", cfg.s3_endpoint));
    BW_RETURN_IF_ERROR(GetString(path, *t, "s3", "region", cfg.s3_region));
    BW_RETURN_IF_ERROR(GetString(path, *t, "s3", "ca_bundle", cfg.s3_ca_bundle));
    BW_RETURN_IF_ERROR(GetString(path, *t, "s3", "profile", cfg.s3_profile));
    BW_RETURN_IF_ERROR(GetS3Classes(path, *t, "s3", cfg.s3_classes));
  }
  if (const toml::node* node = root.get("repositories")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[repositories] must be a table");
    std::vector<std::pair<uint32_t, NamedRepository>> named;
    for (const auto& [key, value] : *t) {
      NamedRepository r;
      r.name = std::string(key.str());
      const std::string section = "repositories." + r.name;
      const toml::table* rt = value.as_table();
      if (rt == nullptr)
        return ConfigError(path, value.source(), "[" + section + "] must be a table");
      if (r.name.empty() || r.name.find_first_of("/:\\") != std::string::npos) {
        return ConfigError(path, value.source(),
                           "repository name '" + r.name + "' must not contain '/' or ':'");
      }
      BW_RETURN_IF_ERROR(GetString(path, *rt, section.c_str(), "url", r.url));
      if (r.url.empty()) return ConfigError(path, value.source(), section + ".url is required");
      BW_RETURN_IF_ERROR(GetString(path, *rt, section.c_str(), "password_file", r.password_file));
      if (const toml::node* s3 = rt->get("s3")) {
        const toml::table* st = s3->as_table();
        const std::string s3_section = section + ".s3";
        if (st == nullptr)
          return ConfigError(path, s3->source(), "[" + s3_section + "] must be a table");
        BW_RETURN_IF_ERROR(GetString(path, *st, s3_section.c_str(), "endpoint", r.s3_endpoint));
        BW_RETURN_IF_ERROR(GetString(path, *st, s3_section.c_str(), "region", r.s3_region));
        BW_RETURN_IF_ERROR(GetString(path, *st, s3_section.c_str(), "ca_bundle", r.s3_ca_bundle));
        BW_RETURN_IF_ERROR(GetString(path, *st, s3_section.c_str(), "profile", r.s3_profile));
        BW_RETURN_IF_ERROR(GetS3Classes(path, *st, s3_section, r.s3_classes));
      }
      named.emplace_back(static_cast<uint32_t>(value.source().begin.line), std::move(r));
    }
    // toml++ keeps tables sorted by key; the order of the file is the fallback order.
    std::stable_sort(named.begin(), named.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [line, r] : named) cfg.repositories.push_back(std::move(r));
  }
  if (const toml::node* node = root.get("components")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[components] must be a table");
    for (const auto& [key, value] : *t) {
      const std::string name(key.str());
      const std::string section = "components." + name;
      const toml::table* ct = value.as_table();
      if (ct == nullptr)
        return ConfigError(path, value.source(), "[" + section + "] must be a table");
      ComponentSettings c;
      BW_RETURN_IF_ERROR(GetString(path, *ct, section.c_str(), "object_lock", c.object_lock.mode));
      const toml::node* retain = ct->get("retain");
      if (c.object_lock.enabled() != (retain != nullptr)) {
        return ConfigError(path, value.source(),
                           section +
                               ": object_lock and retain go together (e.g. object_lock = "
                               "\"compliance\", retain = 2555)");
      }
      if (retain != nullptr) {
        std::string text;
        if (retain->is_integer()) {
          text = std::to_string(retain->as_integer()->get());
        } else if (retain->is_string()) {
          text = retain->as_string()->get();
        } else {
          return ConfigError(path, retain->source(),
                             section + ".retain must be a number of days or a string like \"36h\"");
        }
        auto seconds = repo::ParseRetention(text, section + ".retain");
        if (!seconds.ok()) return ConfigError(path, retain->source(), seconds.error().message());
        c.object_lock.retain_seconds = *seconds;
        if (Status st = repo::ValidateObjectLock(c.object_lock, ErrorCode::kUsage); !st.ok())
          return ConfigError(path, value.source(), section + ": " + st.error().message());
      }
      cfg.components[name] = c;
    }
  }
  if (const toml::node* node = root.get("redis")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[redis] must be a table");
    BW_RETURN_IF_ERROR(GetString(path, *t, "redis", "password_file", cfg.redis_password_file));
    BW_RETURN_IF_ERROR(GetString(path, *t, "redis", "ca_bundle", cfg.redis_ca_bundle));
    BW_RETURN_IF_ERROR(GetString(path, *t, "redis", "cert", cfg.redis_cert));
    BW_RETURN_IF_ERROR(GetString(path, *t, "redis", "key", cfg.redis_key));
  }
  if (const toml::node* node = root.get("audit")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[audit] must be a table");
    BW_RETURN_IF_ERROR(GetString(path, *t, "audit", "operator", cfg.operator_name));
    BW_RETURN_IF_ERROR(GetStringArray(path, *t, "audit", "compliance_tags", cfg.compliance_tags));
  }
  return cfg;
}

const NamedRepository* FileConfig::FindRepository(std::string_view name) const {
  for (const auto& r : repositories)
    if (r.name == name) return &r;
  return nullptr;
}

crypto::Argon2Params DefaultKdfParams() {
  crypto::Argon2Params p;
  p.lanes = 2;  // the same memory and passes, derived by two threads
  if (Env("BULWARK_TEST_KDF") == "fast") {
    p.ops_limit = 1;
    p.mem_limit = 64u << 10;
  }
  return p;
}

std::string CurrentUserAtHost() {
  std::string user = Env("USER");
  if (user.empty()) {
    if (const passwd* pw = getpwuid(geteuid())) user = pw->pw_name;
  }
  if (user.empty()) user = "uid" + std::to_string(geteuid());
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return user + "@" + (host[0] ? host : "unknown");
}

Status Context::Prepare() {
  if (!global.config_file.empty()) {
    BW_ASSIGN_OR_RETURN(config, LoadConfigFile(global.config_file));
  }
  // How long a derived key stays in this OS user's kernel keyring (0: not at all).
  if (const std::string ttl = Env("BULWARK_KEY_CACHE_SECONDS"); !ttl.empty()) {
    uint32_t seconds = 0;
    auto [end, ec] = std::from_chars(ttl.data(), ttl.data() + ttl.size(), seconds);
    if (ec != std::errc() || end != ttl.data() + ttl.size()) {
      return Error(ErrorCode::kUsage,
                   "BULWARK_KEY_CACHE_SECONDS must be a number of seconds (0 turns the key "
                   "cache off), not '" +
                       ttl + "'");
    }
    crypto::SetKeyCacheSeconds(seconds);
  }
  return Status::Ok();
}

namespace {

// The storage classes and lifecycle policy of `named` (may be null), per type, else those of
// the [s3] table.
void ResolveS3Classes(const FileConfig& config, const NamedRepository* named, Context::Target& t) {
  t.backend.s3_storage_classes = config.s3_classes.storage_class;
  t.s3_lifecycle.transitions = config.s3_classes.transition;
  int abort_days = config.s3_classes.abort_incomplete_upload_days;
  if (named != nullptr) {
    for (const auto& [type, cls] : named->s3_classes.storage_class) {
      t.backend.s3_storage_classes[type] = cls;
    }
    for (const auto& [type, tr] : named->s3_classes.transition) {
      t.s3_lifecycle.transitions[type] = tr;
    }
    if (named->s3_classes.abort_incomplete_upload_days > 0) {
      abort_days = named->s3_classes.abort_incomplete_upload_days;
    }
  }
  if (abort_days > 0) t.s3_lifecycle.abort_incomplete_upload_days = abort_days;
}

}  // namespace

Result<Context::Target> Context::ResolveTarget(const std::string& ref) const {
  auto pick = [](const std::string& flag, const std::string& a, const std::string& b) {
    return !flag.empty() ? flag : !a.empty() ? a : b;
  };
  Target t;
  if (const NamedRepository* named = config.FindRepository(ref)) {
    t.name = named->name;
    t.url = named->url;
    t.password_file = named->password_file;
    // Flags win over the config; the S3 backend falls back to the AWS environment.
    t.backend.s3_endpoint = pick(global.s3_endpoint, named->s3_endpoint, config.s3_endpoint);
    t.backend.s3_region = pick(global.s3_region, named->s3_region, config.s3_region);
    t.backend.s3_ca_bundle = pick(global.s3_ca_bundle, named->s3_ca_bundle, config.s3_ca_bundle);
    t.backend.s3_profile = pick("", named->s3_profile, config.s3_profile);
    ResolveS3Classes(config, named, t);
    return t;
  }
  // A plain word is a directory here, unless the config names repositories: then it is
  // taken for a mistyped name rather than silently used (or created) as a directory.
  if (!config.repositories.empty() && ref.find_first_of("/:") == std::string::npos && ref != "." &&
      ref != "..") {
    std::string known;
    for (const auto& r : config.repositories) known += (known.empty() ? "" : ", ") + r.name;
    return Error(ErrorCode::kUsage, "'" + ref + "' is not a repository named in the config (" +
                                        known + "); write ./" + ref + " for a directory here");
  }
  t.name = ref;
  t.url = ref;
  t.backend.s3_endpoint = pick(global.s3_endpoint, config.s3_endpoint, "");
  t.backend.s3_region = pick(global.s3_region, config.s3_region, "");
  t.backend.s3_ca_bundle = pick(global.s3_ca_bundle, config.s3_ca_bundle, "");
  t.backend.s3_profile = config.s3_profile;
  ResolveS3Classes(config, nullptr, t);
  return t;
}

Result<Context::Target> Context::PrimaryTarget() const {
  if (!global.repo.empty()) return ResolveTarget(global.repo);
  if (std::string env = Env("BULWARK_REPOSITORY"); !env.empty()) return ResolveTarget(env);
  if (!config.repository_url.empty()) {
    BW_ASSIGN_OR_RETURN(Target t, ResolveTarget(config.repository_url));
    return t;
  }
  if (!config.repositories.empty()) return ResolveTarget(config.repositories.front().name);
  return Error(ErrorCode::kUsage,
               "no repository given (use --repo, BULWARK_REPOSITORY or [repository] url in "
               "--config)");
}

Result<std::string> Context::RepositoryUrl() const {
  BW_ASSIGN_OR_RETURN(Target t, PrimaryTarget());
  return t.url;
}

Result<std::unique_ptr<storage::Backend>> Context::OpenBackendAt(const Target& target) const {
  return storage::OpenBackend(target.url, target.backend);
}

Result<std::unique_ptr<storage::Backend>> Context::OpenBackend() const {
  BW_ASSIGN_OR_RETURN(Target t, PrimaryTarget());
  return OpenBackendAt(t);
}

Result<std::string> Context::Passphrase(bool confirm) {
  if (have_passphrase_) return passphrase_;
  std::string pass;
  // A repository named in the config with its own password_file: that file, unless a flag
  // says otherwise (the environment variables are not specific to one repository).
  std::string named_file;
  if (auto t = PrimaryTarget(); t.ok()) named_file = t->password_file;
  if (!global.password_file.empty()) {
    BW_ASSIGN_OR_RETURN(pass, ReadPassphraseFile(global.password_file));
  } else if (!named_file.empty()) {
    BW_ASSIGN_OR_RETURN(pass, ReadPassphraseFile(named_file));
  } else if (std::string f = Env("BULWARK_PASSWORD_FILE"); !f.empty()) {
    BW_ASSIGN_OR_RETURN(pass, ReadPassphraseFile(f));
  } else if (const char* p = std::getenv("BULWARK_PASSWORD"); p != nullptr && *p != '\0') {
    pass = p;
  } else if (!config.password_file.empty()) {
    BW_ASSIGN_OR_RETURN(pass, ReadPassphraseFile(config.password_file));
  } else if (StdinIsTerminal()) {
    BW_ASSIGN_OR_RETURN(pass, PromptPassphrase(confirm ? "Enter a passphrase for the new "
                                                         "repository: "
                                                       : "Repository passphrase: ",
                                               confirm));
  } else {
    return Error(ErrorCode::kUsage,
                 "no passphrase given (use --password-file, BULWARK_PASSWORD_FILE or "
                 "BULWARK_PASSWORD)");
  }
  passphrase_ = pass;
  have_passphrase_ = true;
  return pass;
}

namespace {

// "No repository" before asking for a passphrase that cannot help.
Status CheckRepositoryThere(storage::Backend& backend) {
  auto root = backend.RootExists();
  bool missing = root.ok() && !*root;
  if (!missing && root.ok()) {
    auto st = backend.Stat("config");
    missing = !st.ok() && st.error().code() == ErrorCode::kNotFound;
  }
  if (missing) {
    return Error(ErrorCode::kNoRepository,
                 "no repository at " + backend.Location() + " (create one with `bulwark init`)");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<repo::Repository>> Context::OpenRepository() {
  BW_ASSIGN_OR_RETURN(Target target, PrimaryTarget());
  BW_ASSIGN_OR_RETURN(auto backend, OpenBackendAt(target));
  BW_RETURN_IF_ERROR(CheckRepositoryThere(*backend));
  BW_ASSIGN_OR_RETURN(std::string pass, Passphrase());
  BW_ASSIGN_OR_RETURN(auto repo, repo::Repository::Open(std::move(backend), pass));
  repo->SetDisplayName(target.name);
  return repo;
}

Result<std::unique_ptr<repo::Repository>> Context::OpenRepository(const std::string& component) {
  BW_ASSIGN_OR_RETURN(auto repo, OpenRepository());
  if (const repo::ObjectLockConfig lock = ComponentObjectLock(component); lock.enabled()) {
    BW_RETURN_IF_ERROR(repo->UseObjectLock(lock, component));
  }
  return repo;
}

repo::ObjectLockConfig Context::ComponentObjectLock(const std::string& component) const {
  auto it = config.components.find(component);
  return it == config.components.end() ? repo::ObjectLockConfig{} : it->second.object_lock;
}

Result<std::string> Context::OtherPassphrase(const Target& target, const std::string& password_file,
                                             const char* env_prefix) {
  if (!password_file.empty()) return ReadPassphraseFile(password_file);
  if (env_prefix != nullptr && *env_prefix != '\0') {
    const std::string prefix(env_prefix);
    if (std::string f = Env((prefix + "_FILE").c_str()); !f.empty()) return ReadPassphraseFile(f);
    if (std::string p = Env(prefix.c_str()); !p.empty()) return p;
  }
  if (!target.password_file.empty()) return ReadPassphraseFile(target.password_file);
  return Passphrase();
}

Result<std::unique_ptr<repo::Repository>> Context::OpenOtherRepository(
    const Target& target, const std::string& password_file, const char* env_prefix) {
  BW_ASSIGN_OR_RETURN(auto backend, OpenBackendAt(target));
  BW_RETURN_IF_ERROR(CheckRepositoryThere(*backend));
  BW_ASSIGN_OR_RETURN(std::string pass, OtherPassphrase(target, password_file, env_prefix));
  BW_ASSIGN_OR_RETURN(auto repo, repo::Repository::Open(std::move(backend), pass));
  repo->SetDisplayName(target.name);
  return repo;
}

Result<std::unique_ptr<repo::Repository>> Context::OpenRepositoryForReading() {
  BW_ASSIGN_OR_RETURN(Target primary, PrimaryTarget());
  // The chain: the primary, then --fallback-repo in order, else the config's other
  // repositories in file order.
  std::vector<Target> chain{primary};
  if (!global.fallback_repos.empty()) {
    for (const auto& ref : global.fallback_repos) {
      BW_ASSIGN_OR_RETURN(Target t, ResolveTarget(ref));
      chain.push_back(std::move(t));
    }
  } else if (config.FindRepository(primary.name) != nullptr) {
    for (const auto& r : config.repositories) {
      if (r.name == primary.name) continue;
      BW_ASSIGN_OR_RETURN(Target t, ResolveTarget(r.name));
      chain.push_back(std::move(t));
    }
  }
  auto notice = [](const std::string& line) {
    std::fprintf(stderr, "bulwark: %s\n", line.c_str());
  };
  // Unreachable (no repository there, or an I/O error) moves on to the next one; a wrong
  // passphrase or damage does not (that needs the operator).
  std::optional<Error> first_error;
  size_t used = 0;
  std::unique_ptr<repo::Repository> repo;
  for (; used < chain.size(); ++used) {
    auto opened = used == 0 ? OpenRepository() : OpenOtherRepository(chain[used], "", nullptr);
    if (opened.ok()) {
      repo = std::move(*opened);
      break;
    }
    const ErrorCode code = opened.error().code();
    const bool unreachable =
        code == ErrorCode::kNoRepository || code == ErrorCode::kIo || code == ErrorCode::kFailure;
    if (!first_error) first_error = opened.error();
    if (!unreachable || used + 1 == chain.size()) {
      return used == 0 ? opened.error() : *first_error;
    }
    notice("repository " + chain[used].name + " unreachable (" + opened.error().message() +
           "); trying " + chain[used + 1].name);
  }
  if (used > 0) notice("reading from repository " + chain[used].name);
  std::vector<repo::FallbackSource> fallbacks;
  for (size_t i = used + 1; i < chain.size(); ++i) {
    Target t = chain[i];
    fallbacks.push_back({t.name, [this, t] { return OpenOtherRepository(t, "", nullptr); }});
  }
  repo->SetFallbacks(std::move(fallbacks), notice);
  return repo;
}

std::string Context::Operator() const {
  if (std::string op = Env("BULWARK_OPERATOR"); !op.empty()) return op;
  if (!config.operator_name.empty()) return config.operator_name;
  return CurrentUserAtHost();
}

std::vector<std::string> Context::ComplianceTags() const {
  if (!global.compliance_tags.empty()) return global.compliance_tags;
  return config.compliance_tags;
}

}  // namespace bulwark::cli
