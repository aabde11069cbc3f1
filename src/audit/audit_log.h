// Tamper-evident audit log stored in the repository: one sealed, create-only object per record
// under audit/<seq, 20 digits>, each bound to its own name (AEAD associated data) and chained
// to its predecessor by SHA-256. AuditLog methods may be called from any thread and from many
// processes at once (Append retries on a concurrent append); the object itself is stateless.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::audit {

// Field names and meanings follow the seed's "Audit Trail" record (spec/dr-strategy.md).
struct AuditRecord {
  uint64_t seq = 0;                // position in the log, 0-based; equals the object name
  std::string timestamp;           // RFC 3339 UTC; Append fills it in when empty
  std::string operation;           // init, backup, restore, forget, prune, check, key_add, ...
  std::string component;           // may be empty (repository-wide operations)
  std::string status = "success";  // success | failure | partial
  double duration_seconds = 0;
  uint64_t backup_size = 0;      // bytes (also written as backup_size_gb)
  std::string checksum;          // e.g. "sha256:<snapshot object id>"
  std::string storage_location;  // repository location, never with credentials
  bool validated = false;
  std::string validation_timestamp;  // RFC 3339, empty = null
  std::string operator_name;         // "user@host" or "automated_system" (JSON key "operator")
  std::vector<std::string> compliance_tags;
  std::string hostname;  // Append fills these two in when empty / zero
  int64_t pid = 0;
  nlohmann::json details = nlohmann::json::object();
  std::string prev_hash;    // hex SHA-256 of the previous record; 64 zeros for seq 0
  std::string record_hash;  // hex SHA-256(prev_hash bytes || canonical JSON w/o this)
};

// JSON form (what is sealed, and what `audit log --json` prints), keys sorted.
nlohmann::json RecordToJson(const AuditRecord& record);
Result<AuditRecord> RecordFromJson(const nlohmann::json& j);
// Canonical JSON of a record without "record_hash" and the resulting hash (hex).
std::string CanonicalJson(const nlohmann::json& record_json);
std::string ComputeRecordHash(const std::string& prev_hash_hex, const nlohmann::json& record_json);

std::string AuditKey(uint64_t seq);  // "audit/00000000000000000042"
// "user@host" of this process ($USER or the passwd entry), for AuditRecord::operator_name.
std::string CurrentOperator();

struct AuditOptions {
  // Optional local high-water mark outside the repository (e.g. in the user's cache
  // directory): Append and a clean Verify record "<seq> <hash>" there; Verify then also
  // requires the log to reach that seq with that hash, catching a tail truncation by someone
  // who can delete repository objects but not this file. Empty = not used.
  std::string anchor_file;
  int max_append_attempts = 100;  // concurrent appenders racing for the same seq
};

struct VerifyReport {
  bool ok = true;
  uint64_t records = 0;  // objects that verified, from seq 0 without a gap
  std::optional<uint64_t> first_bad_seq;
  std::string problem;                // the first problem, one line
  std::vector<std::string> problems;  // every problem found, first one first
  uint64_t required_length = 0;       // from snapshots' audit_seq and the anchor
};

class AuditLog {
 public:
  explicit AuditLog(repo::Repository& repo, AuditOptions options = {});

  // Appends `record` as the next seq (filling seq, prev_hash, record_hash, and timestamp,
  // hostname, pid, operator_name when empty) and returns it as stored. Fails (never silently)
  // on a storage error, or with kIntegrity when the previous record does not verify (the
  // chain cannot be extended; run `audit verify`).
  Result<AuditRecord> Append(AuditRecord record);

  // Every record that authenticates, in seq order. With `stop_at_damage` (default) a record
  // that does not authenticate is an error naming it; otherwise it is skipped.
  Result<std::vector<AuditRecord>> List(bool stop_at_damage = true) const;

  // Number of records (highest seq + 1, or 0), from a listing. Snapshots store this as
  // audit_seq.
  Result<uint64_t> Length() const;

  // Walks from seq 0 and reports the first bad record and why: a missing seq (removed), an
  // object that does not authenticate (edited, truncated, or moved/swapped under another
  // name), seq inside != name, hash mismatch (edited by a key holder), prev_hash mismatch
  // (reordered/edited), and a log shorter than any snapshot's audit_seq or the local anchor
  // (tail truncated). Storage errors are returned as errors, not as a report.
  Result<VerifyReport> Verify() const;

 private:
  Result<AuditRecord> ReadRecord(uint64_t seq) const;
  Status UpdateAnchor(uint64_t seq, const std::string& hash) const;
  repo::Repository& repo_;
  AuditOptions options_;
};

nlohmann::json VerifyReportToJson(const VerifyReport& report);

}  // namespace bulwark::audit
