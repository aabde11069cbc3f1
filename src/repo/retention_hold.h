// Object lock for deduplicated data. A new snapshot, WAL record or stream segment may
// reference chunks stored in packs written long before, whose retention ends before the new
// object's; these functions extend the retention of such packs to the new object's date (plus
// a slack, so that the next backups find them held and need no new request). No-ops without
// object lock. Callers: SaveSnapshot, copy, PutWalRecord, PutRedisStreamRecord, before the new
// object is written. Safe from any thread.
#pragma once

#include <vector>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

// The packs holding `blobs` (data blobs; kIntegrity for one in no index) are retained at
// least as long as an object written now (with Repository::write_lock).
Status HoldDataBlobs(Repository& repo, const std::vector<Id>& blobs);
// The same for every tree and data blob reachable from `tree`.
Status HoldSnapshotData(Repository& repo, const Id& tree);

}  // namespace bulwark::repo
