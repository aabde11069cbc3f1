#include "cli/snapshot_util.h"

namespace bulwark::cli {

Result<repo::Snapshot> ResolveSnapshot(const repo::Repository& repo, std::string_view ref,
                                       std::string_view component) {
  auto snap = repo::FindSnapshot(repo, ref, component);
  if (!snap.ok()) {
    if (snap.error().code() == ErrorCode::kNotFound && ref == "latest") {
      return Error(ErrorCode::kNotFound,
                   component.empty() ? std::string("the repository has no snapshots")
                                     : "no snapshot of component " + std::string(component));
    }
    return snap.error().Wrap("snapshot " + std::string(ref));
  }
  return snap;
}

uint64_t SnapshotSize(const repo::Snapshot& snapshot) {
  for (const char* key : {"bytes_total", "total_bytes", "size", "bytes"}) {
    auto it = snapshot.summary.find(key);
    if (it != snapshot.summary.end() && it->is_number_unsigned()) return it->get<uint64_t>();
  }
  return 0;
}

}  // namespace bulwark::cli
