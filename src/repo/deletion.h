// Deletion records: prune's two-phase delete. Phase one saves a record naming the packs it
// condemns (and the index files it supersedes); readers may still read condemned packs, but
// writers must not deduplicate against blobs that live only there (Index::HasUsable), so a
// backup running during prune stores such blobs again. Phase two, after a grace period,
// deletes what the record names and then the record. Pure functions plus object helpers,
// safe from any thread given a Repository.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::repo {

class Repository;

struct DeletionRecord {
  int64_t time_unix_ns = 0;
  std::vector<Id> packs;        // condemned packs
  std::vector<Id> index_files;  // index files superseded by this prune
  std::string hostname;
  int pid = 0;
};

// JSON plaintext (see docs/FORMAT.md). Decode is strict and meant for untrusted input.
Bytes EncodeDeletionRecord(const DeletionRecord& record);
Result<DeletionRecord> DecodeDeletionRecord(ByteView plaintext);

// Sealed object under deletions/.
Result<Id> SaveDeletionRecord(Repository& repo, const DeletionRecord& record);
Result<DeletionRecord> LoadDeletionRecord(const Repository& repo, const Id& id);
// Every record in the repository (by object ID), in no particular order.
Result<std::vector<std::pair<Id, DeletionRecord>>> LoadAllDeletionRecords(const Repository& repo);

}  // namespace bulwark::repo
