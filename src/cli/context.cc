#include "cli/context.h"

#include <pwd.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>

#include "cli/passphrase.h"

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
  }
  if (const toml::node* node = root.get("audit")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return ConfigError(path, node->source(), "[audit] must be a table");
    BW_RETURN_IF_ERROR(GetString(path, *t, "audit", "operator", cfg.operator_name));
    BW_RETURN_IF_ERROR(GetStringArray(path, *t, "audit", "compliance_tags", cfg.compliance_tags));
  }
  return cfg;
}

crypto::Argon2Params DefaultKdfParams() {
  crypto::Argon2Params p;
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
  return Status::Ok();
}

Result<std::string> Context::RepositoryUrl() const {
  if (!global.repo.empty()) return global.repo;
  if (std::string env = Env("BULWARK_REPOSITORY"); !env.empty()) return env;
  if (!config.repository_url.empty()) return config.repository_url;
  return Error(ErrorCode::kUsage,
               "no repository given (use --repo, BULWARK_REPOSITORY or [repository] url in "
               "--config)");
}

Result<std::unique_ptr<storage::Backend>> Context::OpenBackend() const {
  BW_ASSIGN_OR_RETURN(std::string url, RepositoryUrl());
  // Flags win over the config; the S3 backend falls back to the AWS environment for the rest.
  auto pick = [](const std::string& flag, const std::string& cfg) {
    return flag.empty() ? cfg : flag;
  };
  storage::BackendOptions opts;
  opts.s3_endpoint = pick(global.s3_endpoint, config.s3_endpoint);
  opts.s3_region = pick(global.s3_region, config.s3_region);
  opts.s3_ca_bundle = pick(global.s3_ca_bundle, config.s3_ca_bundle);
  opts.s3_profile = config.s3_profile;
  return storage::OpenBackend(url, opts);
}

Result<std::string> Context::Passphrase(bool confirm) {
  if (have_passphrase_) return passphrase_;
  std::string pass;
  if (!global.password_file.empty()) {
    BW_ASSIGN_OR_RETURN(pass, ReadPassphraseFile(global.password_file));
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

Result<std::unique_ptr<repo::Repository>> Context::OpenRepository() {
  BW_ASSIGN_OR_RETURN(auto backend, OpenBackend());
  // Say "no repository" without first asking for a passphrase that cannot help.
  auto root = backend->RootExists();
  bool missing = root.ok() && !*root;
  if (!missing && root.ok()) {
    auto st = backend->Stat("config");
    missing = !st.ok() && st.error().code() == ErrorCode::kNotFound;
  }
  if (missing) {
    return Error(ErrorCode::kNoRepository,
                 "no repository at " + backend->Location() + " (create one with `bulwark init`)");
  }
  BW_ASSIGN_OR_RETURN(std::string pass, Passphrase());
  return repo::Repository::Open(std::move(backend), pass);
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
