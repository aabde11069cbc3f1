// Copy: transfers snapshots (with their trees and chunks), WAL archive records and Redis stream
// segments from one repository to another that shares its keys (`init --from-repo`), storing
// only the blobs the target lacks, through the target's own BlobWriter (so its pack size and
// compression apply). Snapshots and records are copied byte for byte, so they keep their IDs
// and a re-run skips them. Called by `bulwark copy` on one thread (it fans out internally); the
// caller holds shared locks on both repositories and has loaded both indexes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "repo/blob_writer.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::repo {

struct CopyOptions {
  std::string component;  // only this component's snapshots and WAL; empty = everything
  WriterOptions writer;
  // Checked between snapshots; false stops the copy (e.g. the lock was lost) with kLocked.
  std::function<bool()> still_locked;
  // Called after each snapshot is durable in the target (for progress lines).
  std::function<void(const Snapshot&)> on_snapshot;
};

struct CopyResult {
  uint64_t snapshots_copied = 0;
  uint64_t snapshots_skipped = 0;  // already in the target
  uint64_t wal_copied = 0;
  uint64_t wal_skipped = 0;
  uint64_t redis_stream_copied = 0;   // segments of snapshots the target has
  uint64_t redis_stream_skipped = 0;  // already in the target
  uint64_t blobs_copied = 0;          // stored in the target
  uint64_t blobs_present = 0;         // referenced, but the target had them
  uint64_t bytes_copied = 0;          // plaintext bytes of the blobs stored
  uint64_t bytes_stored = 0;          // their sealed size in the target's packs
  std::vector<Id> copied;             // snapshot IDs written to the target
};

// The snapshots of `from` (of options.component, if set), oldest first, split into those
// the target lacks and those it has. Used to plan (and by the CLI before copying audit
// records).
struct CopyPlan {
  std::vector<Snapshot> to_copy;
  uint64_t present = 0;
};
Result<CopyPlan> PlanCopy(const Repository& from, const Repository& to,
                          const std::string& component);

// kUsage (one line saying to create the target with `init --from-repo`) when the keys differ.
Status CheckSharedKeys(const Repository& from, const Repository& to);

// WAL records first (their blobs, then the records), then each planned snapshot: its trees
// and chunks, flushed and indexed in the target, and only then the snapshot object; last the
// Redis stream segments of the snapshots the target now has. A crash at any point leaves the
// target consistent; a re-run transfers only what is still missing.
Result<CopyResult> CopySnapshots(Repository& from, Repository& to, const CopyPlan& plan,
                                 const CopyOptions& options);

}  // namespace bulwark::repo
