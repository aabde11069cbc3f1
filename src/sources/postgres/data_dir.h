// What of a PostgreSQL data directory a physical backup stores, following what PostgreSQL's own
// base backup leaves out: WAL and runtime state directories are kept empty, server runtime files
// and temporary files are skipped, unlogged relations keep only their init fork. Also tells
// relation files (verified page by page, stored in fixed page-aligned blocks) from the rest.
// Pure functions over relative paths ("base/5", "global"); safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace bulwark::sources::postgres {

enum class EntryRule {
  kStore,     // store it (a directory with all its contents)
  kSkip,      // leave it out entirely
  kEmptyDir,  // store the directory itself, none of its contents
};

// `dir` is the parent's path relative to the data directory ("" for the top level).
EntryRule ClassifyEntry(std::string_view dir, std::string_view name, bool is_dir);

// True for directories holding relation files: "global", "base/<oid>" and
// "pg_tblspc/<oid>/<PG_version_dir>/<oid>".
bool IsRelationDir(std::string_view dir);

struct RelationFile {
  std::string relfilenode;  // "16384"
  std::string fork;         // "", "fsm", "vm" or "init"
  uint32_t segment = 0;     // ".N" suffix
};
// Parses "<digits>[_fsm|_vm|_init][.<digits>]"; nullopt for anything else (pg_filenode.map,
// PG_VERSION, pg_internal.init...).
std::optional<RelationFile> ParseRelationFileName(std::string_view name);

// Within one relation directory: relfilenodes that have an "_init" fork (unlogged relations,
// whose other forks are reset at recovery and therefore not backed up).
bool SkipUnloggedFork(const std::set<std::string>& unlogged, std::string_view name);

}  // namespace bulwark::sources::postgres
