// Shared fixtures for repo tests: a real temporary directory (removed afterwards) and a
// repository in it with cheap Argon2 parameters so tests stay fast.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "repo/repository.h"
#include "storage/local/local_backend.h"

namespace bulwark::repo::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bulwark-repo-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    // Tests may make directories read-only; restore permissions so removal works.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    }
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline InitOptions FastInitOptions() {
  InitOptions o;
  o.kdf.ops_limit = 1;
  o.kdf.mem_limit = 8u << 20;
  o.key_user = "tester";
  return o;
}

inline std::unique_ptr<storage::Backend> LocalAt(const std::string& path) {
  return std::make_unique<storage::LocalBackend>(path);
}

// A real local backend that tests derive from to change one operation.
class ForwardingBackend : public storage::Backend {
 public:
  explicit ForwardingBackend(std::string root) : inner_(std::move(root)) {}
  Status Put(const std::string& key, ByteView data) override { return inner_.Put(key, data); }
  Result<Bytes> Get(const std::string& key) override { return inner_.Get(key); }
  Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) override {
    return inner_.GetRange(key, offset, length);
  }
  Result<std::vector<storage::ObjectInfo>> List(const std::string& prefix) override {
    return inner_.List(prefix);
  }
  Result<storage::ObjectInfo> Stat(const std::string& key) override { return inner_.Stat(key); }
  Status Remove(const std::string& key) override { return inner_.Remove(key); }
  Result<bool> RootExists() override { return inner_.RootExists(); }
  Status CreateRoot() override { return inner_.CreateRoot(); }
  std::string Location() const override { return inner_.Location(); }

 protected:
  storage::LocalBackend inner_;
};

// Counts the ranged reads of packs (data/...).
class CountingBackend : public ForwardingBackend {
 public:
  CountingBackend(std::string root, std::shared_ptr<std::atomic<int>> pack_reads)
      : ForwardingBackend(std::move(root)), pack_reads_(std::move(pack_reads)) {}
  Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) override {
    if (key.starts_with("data/")) pack_reads_->fetch_add(1);
    return inner_.GetRange(key, offset, length);
  }

 private:
  std::shared_ptr<std::atomic<int>> pack_reads_;
};

inline std::unique_ptr<Repository> MakeRepo(const std::string& path,
                                            InitOptions options = FastInitOptions(),
                                            std::string_view passphrase = "secret") {
  auto repo = Repository::Init(LocalAt(path), passphrase, options);
  if (!repo.ok()) {
    ADD_FAILURE() << repo.error().message();
    return nullptr;
  }
  return std::move(*repo);
}

// Flips one bit of a stored object, `offset_from_end` bytes before its end.
inline void FlipByte(const std::string& file, long offset_from_end = -1) {
  std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  FILE* f = std::fopen(file.c_str(), "r+b");
  ASSERT_NE(f, nullptr) << file;
  std::fseek(f, offset_from_end, SEEK_END);
  int c = std::fgetc(f);
  std::fseek(f, offset_from_end, SEEK_END);
  std::fputc(c ^ 0x01, f);
  std::fclose(f);
}

}  // namespace bulwark::repo::testing
