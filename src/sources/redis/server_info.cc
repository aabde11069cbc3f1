#include "sources/redis/server_info.h"

#include <charconv>

#include "sources/redis/replication_client.h"

namespace bulwark::sources::redis {

namespace {

uint64_t ToU64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The number after `name=` in "keys=12,expires=1,avg_ttl=0" (0 when absent).
uint64_t Field(std::string_view list, std::string_view name) {
  size_t at = 0;
  while (at < list.size()) {
    size_t end = list.find(',', at);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(at, end - at);
    if (item.size() > name.size() && item.starts_with(name) && item[name.size()] == '=') {
      return ToU64(item.substr(name.size() + 1));
    }
    at = end + 1;
  }
  return 0;
}

}  // namespace

uint64_t ServerInfo::TotalKeys() const {
  uint64_t n = 0;
  for (const auto& d : keyspace) n += d.keys;
  return n;
}

uint64_t ServerInfo::TotalExpires() const {
  uint64_t n = 0;
  for (const auto& d : keyspace) n += d.expires;
  return n;
}

ServerInfo ParseServerInfo(std::string_view text) {
  ServerInfo info;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = line.substr(colon + 1);
    if (name == "redis_version") {
      info.redis_version = std::string(value);
    } else if (name == "master_replid") {
      info.master_replid = std::string(value);
    } else if (name == "master_repl_offset") {
      info.has_repl_offset = true;
      info.master_repl_offset = ToU64(value);
    } else if (name.size() > 2 && name.starts_with("db") &&
               name.find_first_not_of("0123456789", 2) == std::string_view::npos) {
      DbKeys db{ToU64(name.substr(2)), Field(value, "keys"), Field(value, "expires")};
      if (db.keys > 0) info.keyspace.push_back(db);
    }
  }
  return info;
}

Status Authenticate(RedisConnection& conn, const std::string& rights) {
  const RedisEndpoint& ep = conn.endpoint();
  if (ep.password.empty() && ep.user.empty()) return Status::Ok();
  std::vector<std::string> auth = {"AUTH"};
  if (!ep.user.empty()) auth.push_back(ep.user);
  auth.push_back(ep.password);
  BW_RETURN_IF_ERROR(conn.Send(auth));
  BW_ASSIGN_OR_RETURN(RespReply reply, conn.ReadReply());
  if (reply.IsError()) return ClassifyRedisError(ep, reply.str, "AUTH", rights);
  return Status::Ok();
}

Result<ServerInfo> QueryServerInfo(RedisConnection& conn, const std::string& section,
                                   const std::string& rights) {
  std::vector<std::string> cmd = {"INFO"};
  if (!section.empty()) cmd.push_back(section);
  BW_RETURN_IF_ERROR(conn.Send(cmd));
  BW_ASSIGN_OR_RETURN(RespReply reply, conn.ReadReply());
  if (reply.IsError()) {
    return ClassifyRedisError(conn.endpoint(), reply.str,
                              section.empty() ? std::string("INFO") : "INFO " + section, rights);
  }
  if (reply.type != '$') {
    return Error(ErrorCode::kFailure,
                 "Redis at " + conn.endpoint().Display() + " answered INFO with no text");
  }
  return ParseServerInfo(reply.str);
}

}  // namespace bulwark::sources::redis
