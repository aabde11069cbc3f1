#include "repo/types.h"

namespace bulwark::repo {

const char* ObjectPrefix(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kSnapshot:
      return "snapshots/";
    case ObjectKind::kIndex:
      return "index/";
    case ObjectKind::kLock:
      return "locks/";
    case ObjectKind::kDeletion:
      return "deletions/";
  }
  return "unknown/";
}

std::string ObjectKey(ObjectKind kind, const Id& id) { return ObjectPrefix(kind) + id.Hex(); }

std::string PackKey(const Id& pack_id) {
  std::string hex = pack_id.Hex();
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

}  // namespace bulwark::repo
