// Snapshots: the record of one backup (component, kind, time, host, tags, parent, root tree,
// source metadata, summary, unreadable inputs), stored as a sealed JSON object under
// snapshots/. Functions are safe from any thread given a Repository.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

struct Snapshot {
  Id id;  // object name; not part of the encoding
  int64_t time_unix_ns = 0;
  std::string hostname;
  std::string username;
  std::string component;  // e.g. "config", "pg-primary"
  std::string kind;       // "files", "stdin", later "postgres", "redis", ...
  std::vector<std::string> tags;
  std::vector<std::string> paths;  // what was backed up (absolute paths, or a stdin name)
  std::optional<Id> parent;
  Id tree;
  nlohmann::json source = nlohmann::json::object();   // source-specific metadata
  nlohmann::json summary = nlohmann::json::object();  // files, bytes, new bytes, duration...
  std::vector<std::string> errors;                    // inputs that could not be read
  uint64_t audit_seq = 0;  // audit log length when the snapshot was written
  std::string program_version;
};

std::string FormatTimeRfc3339(int64_t unix_ns);    // UTC, e.g. 2026-11-24T10:15:00.123456789Z
Result<int64_t> ParseTime(std::string_view text);  // RFC 3339 / "YYYY-MM-DD HH:MM:SS[+TZ]"

nlohmann::json SnapshotToJson(const Snapshot& s);  // includes "id"
Result<Snapshot> SnapshotFromJson(const nlohmann::json& j);

Result<Id> SaveSnapshot(Repository& repo, const Snapshot& snapshot);
Result<Snapshot> LoadSnapshot(const Repository& repo, const Id& id);
// All snapshots, sorted by time (oldest first). Loads in parallel.
Result<std::vector<Snapshot>> LoadAllSnapshots(const Repository& repo);
// "latest" (optionally of `component`), a full ID or a unique prefix.
Result<Snapshot> FindSnapshot(const Repository& repo, std::string_view ref,
                              std::string_view component = {});

}  // namespace bulwark::repo
