// What `bulwark check` verifies of the Redis data beyond packs, trees and snapshots: for each
// component with Redis snapshots, the captured stream after each full snapshot continues from
// its offset without a gap or an overlap, every blob-form segment's blobs are indexed, and
// each incremental snapshot's stream.resp is as long as its offsets say; with read_data, every
// segment's bytes open and hash right and, like each stream.resp, are whole RESP commands.
// One call per check, from any one thread; the repository index must be loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::sources::redis {

struct RedisCheckResult {
  std::string component;
  uint64_t snapshots = 0;  // Redis snapshots of the component
  uint64_t incremental = 0;
  uint64_t segments = 0;      // captured stream segments of its snapshots
  uint64_t stream_bytes = 0;  // their bytes
  uint64_t bytes_read = 0;    // stream bytes read and parsed (read_data)
  std::vector<std::string> problems;
};

Result<std::vector<RedisCheckResult>> CheckRedisData(const repo::Repository& repo, bool read_data);

}  // namespace bulwark::sources::redis
