// Repository statistics for `bulwark stats`: snapshot count, distinct blobs and packs,
// bytes stored (sealed packs and all objects), distinct raw bytes, the logical size of all
// snapshots (what a restore of each would write), and the resulting dedup and compression
// ratios. Reads the index and every distinct tree; call from one thread after LoadIndex.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

struct RepoStats {
  uint64_t snapshots = 0;
  uint64_t packs = 0;       // indexed packs
  uint64_t data_blobs = 0;  // distinct
  uint64_t tree_blobs = 0;  // distinct
  uint64_t raw_bytes = 0;   // plaintext bytes of distinct blobs (data + trees)
  uint64_t raw_data_bytes = 0;
  uint64_t stored_bytes = 0;   // sealed bytes of distinct blobs as indexed
  uint64_t pack_bytes = 0;     // size of pack objects in storage
  uint64_t total_bytes = 0;    // every object in the repository
  uint64_t logical_bytes = 0;  // sum over snapshots of their files' sizes
  uint64_t files = 0;          // sum over snapshots of their regular files

  // logical bytes per distinct raw data byte (1.0 = no sharing); 0 when empty.
  double DedupRatio() const;
  // raw bytes per stored byte (>1 = compression paid off); 0 when empty.
  double CompressionRatio() const;
};

Result<RepoStats> ComputeStats(const Repository& repo);

nlohmann::json RepoStatsToJson(const RepoStats& stats);

}  // namespace bulwark::repo
