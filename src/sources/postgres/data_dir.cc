#include "sources/postgres/data_dir.h"

#include <array>
#include <cctype>

namespace bulwark::sources::postgres {

namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Top-level directories whose contents are runtime state, recreated or reset by the server.
constexpr std::array<std::string_view, 7> kEmptyTopDirs = {
    "pg_dynshmem",  "pg_notify",   "pg_replslot", "pg_serial",
    "pg_snapshots", "pg_stat_tmp", "pg_subtrans"};

// Files left out in any directory.
constexpr std::array<std::string_view, 9> kSkipFiles = {
    "postmaster.pid",       "postmaster.opts",    "postgresql.auto.conf.tmp",
    "current_logfiles.tmp", "backup_label",       "backup_label.old",
    "tablespace_map",       "tablespace_map.old", "backup_manifest"};

// "t<digits>_<digits>[...]": files of temporary relations.
bool LooksLikeTempRelation(std::string_view name) {
  if (name.size() < 4 || name[0] != 't') return false;
  size_t us = name.find('_');
  if (us == std::string_view::npos || us < 2) return false;
  if (!AllDigits(name.substr(1, us - 1))) return false;
  size_t end = us + 1;
  while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
  return end > us + 1;
}

}  // namespace

EntryRule ClassifyEntry(std::string_view dir, std::string_view name, bool is_dir) {
  // Temporary files and directories (sorts, hashes) anywhere.
  if (StartsWith(name, "pgsql_tmp")) return EntryRule::kSkip;
  // pg_wal is archived separately; keep the directory and its archive_status subdirectory.
  if (dir == "pg_wal") {
    return is_dir && name == "archive_status" ? EntryRule::kEmptyDir : EntryRule::kSkip;
  }
  if (!is_dir) {
    for (auto f : kSkipFiles) {
      if (name == f) return EntryRule::kSkip;
    }
    // Relation cache init files (and their temporary versions "pg_internal.init.<pid>").
    if (StartsWith(name, "pg_internal.init")) return EntryRule::kSkip;
    if (IsRelationDir(dir) && LooksLikeTempRelation(name)) return EntryRule::kSkip;
    return EntryRule::kStore;
  }
  if (dir.empty()) {
    for (auto d : kEmptyTopDirs) {
      if (name == d) return EntryRule::kEmptyDir;
    }
  }
  return EntryRule::kStore;
}

bool IsRelationDir(std::string_view dir) {
  if (dir == "global") return true;
  if (StartsWith(dir, "base/")) return AllDigits(dir.substr(5));
  if (StartsWith(dir, "pg_tblspc/")) {
    // pg_tblspc/<oid>/PG_15_<catversion>/<dboid>
    std::string_view rest = dir.substr(10);
    size_t a = rest.find('/');
    if (a == std::string_view::npos || !AllDigits(rest.substr(0, a))) return false;
    rest = rest.substr(a + 1);
    size_t b = rest.find('/');
    if (b == std::string_view::npos || !StartsWith(rest, "PG_")) return false;
    return AllDigits(rest.substr(b + 1));
  }
  return false;
}

std::optional<RelationFile> ParseRelationFileName(std::string_view name) {
  RelationFile rf;
  size_t i = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == 0) return std::nullopt;
  rf.relfilenode = std::string(name.substr(0, i));
  std::string_view rest = name.substr(i);
  if (StartsWith(rest, "_")) {
    size_t dot = rest.find('.');
    std::string_view fork = rest.substr(1, dot == std::string_view::npos ? rest.npos : dot - 1);
    if (fork != "fsm" && fork != "vm" && fork != "init") return std::nullopt;
    rf.fork = std::string(fork);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot);
  }
  if (!rest.empty()) {
    if (rest[0] != '.' || !AllDigits(rest.substr(1)) || rest.size() > 11) return std::nullopt;
    uint64_t seg = 0;
    for (char c : rest.substr(1)) seg = seg * 10 + static_cast<uint64_t>(c - '0');
    if (seg > 0xFFFFFFFFull) return std::nullopt;
    rf.segment = static_cast<uint32_t>(seg);
  }
  return rf;
}

bool SkipUnloggedFork(const std::set<std::string>& unlogged, std::string_view name) {
  auto rf = ParseRelationFileName(name);
  if (!rf || rf->fork == "init") return false;
  return unlogged.count(rf->relfilenode) > 0;
}

}  // namespace bulwark::sources::postgres
