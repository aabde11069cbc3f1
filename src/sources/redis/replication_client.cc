#include "sources/redis/replication_client.h"

// GCC 12 reports a false maybe-uninitialized inside std::string::starts_with on strings moved
// out of Result<std::string> (a std::variant); the strings are always initialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <fmt/format.h>

#include <charconv>

namespace bulwark::sources::redis {

Result<ReplicationClient> ReplicationClient::Connect(const RedisEndpoint& endpoint,
                                                     int timeout_seconds) {
  BW_ASSIGN_OR_RETURN(RedisConnection conn, RedisConnection::Connect(endpoint, timeout_seconds));
  return ReplicationClient(std::move(conn));
}

Error ClassifyRedisError(const RedisEndpoint& endpoint, const std::string& reply,
                         const std::string& what, const std::string& rights) {
  const std::string where = endpoint.Display();
  if (reply.starts_with("WRONGPASS") || reply.starts_with("NOAUTH") ||
      reply.find("without any password configured") != std::string::npos ||
      reply.starts_with("ERR invalid password")) {
    return Error(ErrorCode::kUsage,
                 fmt::format("Redis at {} refused the credentials ({}): {}; check the user in "
                             "the URL and --redis-password-file / BULWARK_REDIS_PASSWORD",
                             where, what, reply));
  }
  if (reply.starts_with("NOPERM")) {
    return Error(
        ErrorCode::kUsage,
        fmt::format("Redis at {} denied {} to user '{}': {}; the ACL user needs {} (see "
                    "docs/REDIS.md)",
                    where, what, endpoint.user.empty() ? "default" : endpoint.user, reply, rights));
  }
  if (reply.starts_with("LOADING")) {
    return Error(ErrorCode::kFailure,
                 fmt::format("Redis at {} is still loading its dataset ({}); try again when it "
                             "has finished",
                             where, reply));
  }
  return Error(ErrorCode::kFailure, fmt::format("Redis at {} refused {}: {}", where, what, reply));
}

Error ReplicationClient::ClassifyError(const std::string& reply, const std::string& what) const {
  return ClassifyRedisError(conn_.endpoint(), reply, what, "+psync +replconf +ping");
}

Result<std::string> ReplicationClient::ReadNonEmptyLine() {
  while (true) {
    Result<std::string> line = conn_.ReadLine();
    if (!line.ok() || !line->empty()) return line;
  }
}

Result<std::string> ReplicationClient::Command(const std::vector<std::string>& args,
                                               const std::string& what) {
  BW_RETURN_IF_ERROR(conn_.Send(args));
  BW_ASSIGN_OR_RETURN(std::string line, conn_.ReadLine());
  if (line.starts_with("-")) return ClassifyError(line.substr(1), what);
  return line;
}

Status ReplicationClient::Handshake() {
  if (!conn_.endpoint().password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!conn_.endpoint().user.empty()) auth.push_back(conn_.endpoint().user);
    auth.push_back(conn_.endpoint().password);
    BW_RETURN_IF_ERROR(Command(auth, "AUTH"));
  } else if (!conn_.endpoint().user.empty()) {
    // A user without a password: only valid for a nopass user.
    BW_RETURN_IF_ERROR(Command({"AUTH", conn_.endpoint().user, ""}, "AUTH"));
  }
  BW_ASSIGN_OR_RETURN(std::string pong, Command({"PING"}, "PING"));
  if (pong != "+PONG") {
    return Error(ErrorCode::kFailure, "unexpected reply to PING from Redis: " + pong);
  }
  BW_RETURN_IF_ERROR(Command({"REPLCONF", "listening-port", "0"}, "REPLCONF"));
  BW_RETURN_IF_ERROR(Command({"REPLCONF", "capa", "eof", "capa", "psync2"}, "REPLCONF"));
  return Status::Ok();
}

namespace {

Result<FullResync> ParseFullResync(const std::string& line) {
  std::string_view rest = std::string_view(line).substr(12);
  size_t sp = rest.find(' ');
  if (sp != 40) return Error(ErrorCode::kFailure, "malformed FULLRESYNC reply: " + line);
  FullResync r;
  r.replid = std::string(rest.substr(0, sp));
  std::string_view off = rest.substr(sp + 1);
  auto [p, ec] = std::from_chars(off.data(), off.data() + off.size(), r.offset);
  if (ec != std::errc() || p != off.data() + off.size()) {
    return Error(ErrorCode::kFailure, "malformed FULLRESYNC offset: " + line);
  }
  return r;
}

}  // namespace

Result<FullResync> ReplicationClient::Psync() {
  BW_RETURN_IF_ERROR(conn_.Send({"PSYNC", "?", "-1"}));
  // A primary may send keep-alive newlines before its answer.
  BW_ASSIGN_OR_RETURN(std::string line, ReadNonEmptyLine());
  if (line.starts_with("-")) return ClassifyError(line.substr(1), "PSYNC");
  // +FULLRESYNC <40-char replid> <offset>
  if (!line.starts_with("+FULLRESYNC ")) {
    return Error(ErrorCode::kFailure, "unexpected reply to PSYNC from Redis: " + line);
  }
  return ParseFullResync(line);
}

Result<PsyncReply> ReplicationClient::PsyncFrom(const std::string& replid, uint64_t next_byte) {
  BW_RETURN_IF_ERROR(conn_.Send({"PSYNC", replid, std::to_string(next_byte)}));
  BW_ASSIGN_OR_RETURN(std::string line, ReadNonEmptyLine());
  if (line.starts_with("-")) return ClassifyError(line.substr(1), "PSYNC");
  PsyncReply reply;
  if (line.starts_with("+FULLRESYNC ")) {
    reply.full = true;
    BW_ASSIGN_OR_RETURN(reply.resync, ParseFullResync(line));
    return reply;
  }
  if (line == "+CONTINUE") return reply;
  if (line.starts_with("+CONTINUE ")) {
    reply.new_replid = line.substr(10);
    if (reply.new_replid.size() != 40) {
      return Error(ErrorCode::kFailure, "malformed CONTINUE reply: " + line);
    }
    return reply;
  }
  return Error(ErrorCode::kFailure, "unexpected reply to PSYNC from Redis: " + line);
}

Result<TransferHeader> ReplicationClient::ReadTransferHeader() {
  BW_ASSIGN_OR_RETURN(std::string line, ReadNonEmptyLine());
  if (line.starts_with("-")) {
    return Error(ErrorCode::kFailure, "Redis could not start the transfer: " + line.substr(1));
  }
  if (!line.starts_with("$")) {
    return Error(ErrorCode::kFailure, "unexpected transfer header from Redis: " + line);
  }
  TransferHeader h;
  if (line.starts_with("$EOF:")) {
    h.diskless = true;
    h.eof_mark = line.substr(5);
    if (h.eof_mark.size() != 40) {
      return Error(ErrorCode::kFailure, "malformed diskless transfer header: " + line);
    }
    return h;
  }
  std::string_view len = std::string_view(line).substr(1);
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), h.length);
  if (ec != std::errc() || p != len.data() + len.size()) {
    return Error(ErrorCode::kFailure, "malformed transfer header: " + line);
  }
  return h;
}

}  // namespace bulwark::sources::redis
