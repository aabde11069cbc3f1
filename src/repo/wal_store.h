// WAL archive area of the repository: one small sealed record per archived PostgreSQL WAL file
// (segment, timeline history, backup history, partial segment, and the prefixes of a segment in
// progress that wal-receive stores as "<segment>.partial.<size>"), whose contents live as data
// blobs in ordinary packs. Records are stored under
//   wal/<HMAC(component)>/<HMAC(component, file name)>
// (keyed with the repository MAC key, domain-separated), so neither component nor file names
// appear in plaintext, a record is found without listing, and a component's records can be
// listed without opening other components'. The key is the AEAD's associated data, so a record
// cannot be moved to another name. Records are written create-only and never modified.
// Functions are safe from any thread given a Repository.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

inline constexpr const char* kWalPrefix = "wal/";

struct WalRecord {
  std::string component;
  std::string name;  // file name as PostgreSQL names it, e.g. 000000010000000000000003
  uint64_t size = 0;
  Id sha256;              // of the whole file, for idempotent pushes and restore checks
  std::vector<Id> blobs;  // data blobs in order
  int64_t pushed_unix_ns = 0;
};

std::string WalComponentPrefix(const Repository& repo, const std::string& component);
std::string WalRecordKey(const Repository& repo, const std::string& component,
                         const std::string& name);

// Stores the record create-only: kAlreadyExists if a record of that name exists (compare
// with GetWalRecord to tell an idempotent retry from a conflict). Durable when ok.
Status PutWalRecord(Repository& repo, const WalRecord& record);
// kNotFound if the component has no such file archived; kIntegrity if the record is damaged.
Result<WalRecord> GetWalRecord(const Repository& repo, const std::string& component,
                               const std::string& name);
// Every record of the component (loaded in parallel), in no particular order.
Result<std::vector<WalRecord>> ListWalRecords(const Repository& repo, const std::string& component);
// Data blobs referenced by every WAL record of every component: prune and check must count
// them as used (records are decoded with the repository key; unreadable ones are an error).
Status ForEachWalBlob(const Repository& repo, const std::function<void(const Id&)>& fn);

Bytes EncodeWalRecord(const WalRecord& record);
Result<WalRecord> DecodeWalRecord(ByteView plaintext);

}  // namespace bulwark::repo
