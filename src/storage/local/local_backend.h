// LocalBackend: a Backend on a POSIX filesystem (local disk or NAS mount). Each key is a
// file below the root directory; writes go to <root>/tmp/ and are linked into place only
// when complete and fsynced, so a crash never leaves a partial object under its final name.
// Stateless apart from the root path: every method is safe from any number of threads.
#pragma once

#include <string>

#include "storage/backend.h"

namespace bulwark::storage {

class LocalBackend : public Backend {
 public:
  // `root` should be absolute; OpenBackend makes it so.
  explicit LocalBackend(std::string root);

  Status Put(const std::string& key, ByteView data) override;
  Result<Bytes> Get(const std::string& key) override;
  Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  void Prefetch(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<ByteView> GetRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                Bytes& buffer) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Result<ObjectInfo> Stat(const std::string& key) override;
  Status Remove(const std::string& key) override;
  Result<bool> RootExists() override;
  Status CreateRoot() override;
  std::string Location() const override { return root_; }

  // Directory below the root holding in-flight writes; never listed as objects.
  static constexpr const char* kTempDir = "tmp";

 private:
  std::string PathFor(const std::string& key) const { return root_ + "/" + key; }
  Status EnsureDirs(const std::string& key);
  Status WriteTemp(const std::string& tmp_path, const std::string& key, ByteView data);

  std::string root_;
};

}  // namespace bulwark::storage
