// What Bulwark reads from a Redis server's INFO: its version, its replication offset and the
// keys per database, all from one reply (INFO runs between two commands, so the numbers agree
// with each other). ParseServerInfo is pure; the queries use a caller's connection from the
// thread that owns it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "sources/redis/redis_connection.h"

namespace bulwark::sources::redis {

struct DbKeys {
  uint64_t db = 0;
  uint64_t keys = 0;
  uint64_t expires = 0;  // keys with a TTL
};

struct ServerInfo {
  std::string redis_version;
  std::string master_replid;
  bool has_repl_offset = false;
  uint64_t master_repl_offset = 0;
  std::vector<DbKeys> keyspace;  // databases holding keys, ascending

  uint64_t TotalKeys() const;
  uint64_t TotalExpires() const;
};

// Reads the fields above from INFO text ("field:value" lines, "db3:keys=12,expires=1,...").
ServerInfo ParseServerInfo(std::string_view text);

// AUTH with the endpoint's user and password (nothing when it has none). Wrong credentials and
// NOPERM are kUsage naming `rights`.
Status Authenticate(RedisConnection& conn, const std::string& rights);

// INFO [section] (empty: the default sections, which hold server, replication and keyspace).
// A refusal is classified as ClassifyRedisError does, naming `rights`.
Result<ServerInfo> QueryServerInfo(RedisConnection& conn, const std::string& section,
                                   const std::string& rights);

}  // namespace bulwark::sources::redis
