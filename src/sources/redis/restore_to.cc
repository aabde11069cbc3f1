#include "sources/redis/restore_to.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "sources/files/dump.h"
#include "sources/redis/backup.h"
#include "sources/redis/crc64.h"
#include "sources/redis/replication_client.h"
#include "sources/redis/resp_stream.h"
#include "sources/redis/restore.h"
#include "sources/redis/server_info.h"

namespace bulwark::sources::redis {

namespace {

constexpr char kRights[] =
    "+@all, or at least +info +select +restore +function|restore and the write commands of the "
    "captured stream";

// At most this much of a key name goes into an error message.
std::string Quote(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 100)) {
    if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  if (key.size() > 100) out += "...";
  return "'" + out + "'";
}

// Commands written ahead of their replies, in batches bounded by bytes and count; each reply is
// checked against the command it answers.
class Pipeline {
 public:
  Pipeline(RedisConnection& conn, const RedisRestoreToOptions& options)
      : conn_(conn),
        max_bytes_(std::max<size_t>(options.batch_bytes, 1)),
        max_commands_(std::max<size_t>(options.batch_commands, 1)) {}

  // `what` names the command in an error (e.g. "RESTORE of key 'x' in db 3").
  Status Add(const std::vector<std::string_view>& args, std::string what) {
    out_ += fmt::format("*{}\r\n", args.size());
    for (std::string_view a : args) {
      out_ += fmt::format("${}\r\n", a.size());
      out_.append(a.data(), a.size());
      out_ += "\r\n";
    }
    return Queued(std::move(what), 1);
  }
  // Commands already in RESP form (`count` of them, each answered by one reply).
  Status AddRaw(ByteView resp, std::string what, size_t count) {
    out_.append(reinterpret_cast<const char*>(resp.data()), resp.size());
    return Queued(std::move(what), count);
  }

  // Sends what is queued, then reads the replies to the batch sent before it: one batch is in
  // flight while the next is built, so neither side waits for the other.
  Status Flush() {
    if (!out_.empty()) {
      BW_RETURN_IF_ERROR(conn_.SendRaw(AsBytes(out_)));
      out_.clear();
    }
    queued_commands_ = 0;
    BW_RETURN_IF_ERROR(ReadReplies(in_flight_));
    in_flight_.swap(pending_);
    return Status::Ok();
  }
  // Sends what is queued and reads every outstanding reply.
  Status Finish() {
    BW_RETURN_IF_ERROR(Flush());
    return Flush();
  }

 private:
  struct Pending {
    std::string what;
    size_t replies = 1;
  };

  Status ReadReplies(std::vector<Pending>& batch) {
    for (const Pending& p : batch) {
      for (size_t i = 0; i < p.replies; ++i) {
        BW_ASSIGN_OR_RETURN(RespReply reply, conn_.ReadReply());
        std::string err = reply.FirstError();
        if (!err.empty()) return Refused(p.what, err);
      }
    }
    batch.clear();
    return Status::Ok();
  }

  Status Queued(std::string what, size_t count) {
    pending_.push_back(Pending{std::move(what), count});
    queued_commands_ += count;
    if (out_.size() >= max_bytes_ || queued_commands_ >= max_commands_) return Flush();
    return Status::Ok();
  }

  Error Refused(const std::string& what, const std::string& err) const {
    const std::string where = conn_.endpoint().Display();
    if (err.find("DUMP payload version or checksum are wrong") != std::string::npos) {
      return Error(ErrorCode::kFailure,
                   fmt::format("Redis at {} cannot load the {}: {} (a server older than the one "
                               "the snapshot was taken from cannot read its RDB version; restore "
                               "into the same Redis version or newer)",
                               where, what, err));
    }
    if (err.starts_with("NOPERM") || err.starts_with("NOAUTH") || err.starts_with("WRONGPASS")) {
      return ClassifyRedisError(conn_.endpoint(), err, what, kRights);
    }
    return Error(ErrorCode::kFailure,
                 fmt::format("Redis at {} refused the {}: {} (what was sent before it stays in "
                             "the server)",
                             where, what, err));
  }

  RedisConnection& conn_;
  const size_t max_bytes_;
  const size_t max_commands_;
  std::string out_;
  std::vector<Pending> pending_;    // queued in out_
  std::vector<Pending> in_flight_;  // sent, replies not read yet
  size_t queued_commands_ = 0;
};

// Sends every key of the RDB as RESTORE, switching databases as the RDB does.
class RestoreVisitor : public RdbVisitor {
 public:
  RestoreVisitor(Pipeline& pipe, bool replace) : pipe_(pipe), replace_(replace) {}

  Status OnStart(int rdb_version) override {
    version_ = rdb_version;
    return Status::Ok();
  }

  Status OnEntry(const RdbEntry& e) override {
    if (static_cast<int64_t>(e.db) != db_) {
      db_ = static_cast<int64_t>(e.db);
      const std::string db = std::to_string(e.db);
      BW_RETURN_IF_ERROR(Check(pipe_.Add({"SELECT", db}, "SELECT " + db)));
    }
    payload_ = DumpPayload(e.type, e.value, version_);
    const std::string ttl = std::to_string(e.expire_ms >= 0 ? e.expire_ms : 0);
    std::vector<std::string_view> args = {"RESTORE", e.key, ttl, payload_};
    if (replace_) args.push_back("REPLACE");
    if (e.expire_ms >= 0) args.push_back("ABSTTL");
    std::string extra;
    if (e.idle_seconds >= 0) {
      extra = std::to_string(e.idle_seconds);
      args.push_back("IDLETIME");
      args.push_back(extra);
    } else if (e.freq >= 0) {
      extra = std::to_string(e.freq);
      args.push_back("FREQ");
      args.push_back(extra);
    }
    ++keys_;
    return Check(pipe_.Add(args, fmt::format("RESTORE of key {} in db {}", Quote(e.key), e.db)));
  }

  Status OnFunction(ByteView serialized) override {
    // FUNCTION DUMP's payload: the RDB function opcode and the library's code, version, CRC.
    payload_ = DumpPayload(245, serialized, version_);
    std::vector<std::string_view> args = {"FUNCTION", "RESTORE", payload_};
    if (replace_) args.push_back("REPLACE");
    ++functions_;
    return Check(pipe_.Add(args, "FUNCTION RESTORE of a function library"));
  }

  // Whether an error came from the server (not from the parser).
  bool failed() const { return failed_; }
  uint64_t keys() const { return keys_; }
  uint64_t functions() const { return functions_; }

 private:
  Pipeline& pipe_;
  const bool replace_;
  int version_ = 0;
  int64_t db_ = -1;  // the connection's database (unknown at first)
  std::string payload_;
  uint64_t keys_ = 0;
  uint64_t functions_ = 0;
  bool failed_ = false;

  Status Check(Status st) {
    if (!st.ok()) failed_ = true;
    return st;
  }
};

// Reads the dump from a pipe and counts the bytes for the progress display.
class CountingSource : public RdbSource {
 public:
  CountingSource(int fd, Progress* progress) : fd_(fd), progress_(progress) {}
  Result<size_t> Read(MutableByteView buf) override {
    BW_ASSIGN_OR_RETURN(size_t n, fd_.Read(buf));
    if (progress_ != nullptr) progress_->bytes_done += n;
    return n;
  }

 private:
  FdRdbSource fd_;
  Progress* progress_;
};

// Closes a file descriptor once.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace

std::string DumpPayload(uint8_t type, ByteView value, int rdb_version) {
  std::string p;
  p.reserve(value.size() + 11);
  p += static_cast<char>(type);
  p.append(reinterpret_cast<const char*>(value.data()), value.size());
  p += static_cast<char>(rdb_version & 0xff);
  p += static_cast<char>((rdb_version >> 8) & 0xff);
  uint64_t crc = Crc64(0, AsBytes(p));
  for (int i = 0; i < 8; ++i) p += static_cast<char>((crc >> (8 * i)) & 0xff);
  return p;
}

Result<RedisRestoreToResult> RestoreRedisTo(repo::Repository& repo,
                                            const std::optional<repo::Snapshot>& snapshot,
                                            const RedisRestoreToOptions& options) {
  RedisRestoreToResult result;
  std::optional<RedisPitrPlan> plan;
  if (options.time_unix_ns) {
    BW_ASSIGN_OR_RETURN(plan,
                        PlanRedisPitr(repo, snapshot, options.component, *options.time_unix_ns));
    result.snapshot = plan->snapshot;
    result.from_offset = plan->from_offset;
    result.to_offset = plan->to_offset;
    result.last_batch_unix_ns = plan->last_batch_unix_ns;
  } else {
    if (!snapshot) return Error(ErrorCode::kUsage, "no snapshot to restore");
    result.snapshot = *snapshot;
    if (IsIncrementalRedisSnapshot(*snapshot)) {
      BW_ASSIGN_OR_RETURN(plan, PlanRedisIncremental(repo, *snapshot));
      result.from_offset = plan->from_offset;
      result.to_offset = plan->to_offset;
    }
  }
  const repo::Snapshot& snap = result.snapshot;
  if (snap.kind != kRedisSnapshotKind) {
    return Error(ErrorCode::kUsage, fmt::format("snapshot {} is of kind '{}', not a Redis snapshot",
                                                snap.id.ShortHex(), snap.kind));
  }

  BW_ASSIGN_OR_RETURN(RedisConnection conn,
                      RedisConnection::Connect(options.endpoint, options.timeout_seconds));
  const std::string where = conn.endpoint().Display();
  BW_RETURN_IF_ERROR(Authenticate(conn, kRights));
  BW_ASSIGN_OR_RETURN(ServerInfo before, QueryServerInfo(conn, "keyspace", kRights));
  result.keys_existing = before.TotalKeys();
  if (result.keys_existing > 0 && !options.force) {
    std::string dbs;
    for (const DbKeys& db : before.keyspace) {
      dbs += fmt::format("{}db{}={}", dbs.empty() ? "" : ", ", db.db, db.keys);
    }
    return Error(ErrorCode::kUsage,
                 fmt::format("Redis at {} is not empty ({} keys: {}); restore into an empty "
                             "instance, or add --force to replace the snapshot's keys and keep "
                             "the others",
                             where, result.keys_existing, dbs));
  }

  Pipeline pipe(conn, options);
  RestoreVisitor visitor(pipe, options.force);
  if (options.progress != nullptr) {
    options.progress->bytes_total = snap.source.value("rdb_bytes", uint64_t{0});
    options.progress->totals_final = true;
  }
  {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("creating a pipe", errno);
    Fd read_end(fds[0]);
    Fd write_end(fds[1]);
    Status dumped = Status::Ok();
    // The repository reader fills the pipe (fetching chunks ahead in parallel) while this thread
    // parses and sends; a failed send closes the read end, which ends the reader (EPIPE).
    std::thread dumper([&] {
      dumped = files::DumpFile(repo, snap, std::string("/") + kRdbFileName, write_end.get());
      write_end.Close();
    });
    CountingSource source(read_end.get(), options.progress);
    auto info = ParseRdb(source, &visitor);
    read_end.Close();
    dumper.join();
    if (!info.ok()) {
      if (!visitor.failed() && !dumped.ok()) return dumped.error();
      if (!visitor.failed()) {
        return Error(
            ErrorCode::kIntegrity,
            fmt::format("the dump.rdb of snapshot {} does not verify: {} ({} keys were "
                        "already sent to {})",
                        snap.id.ShortHex(), info.error().message(), visitor.keys(), where));
      }
      return info.error();
    }
    if (!dumped.ok()) return dumped.error();
    result.rdb = std::move(*info);
  }
  BW_RETURN_IF_ERROR(pipe.Finish());
  result.keys_restored = visitor.keys();
  result.functions = visitor.functions();

  if (plan) {
    // The stream's commands as an AOF holds them (a transaction only with its EXEC), from db 0
    // as a replica starts after a full sync; PUBLISH is not replayed to live subscribers.
    BW_RETURN_IF_ERROR(pipe.Add({"SELECT", "0"}, "SELECT 0"));
    uint64_t sent = 0;
    uint64_t dropped = 0;
    AofFilter aof([&](ByteView bytes) -> Status {
      size_t pos = 0;
      while (pos < bytes.size()) {
        BW_ASSIGN_OR_RETURN(auto cmd,
                            ParseCommand(ByteView(bytes.data() + pos, bytes.size() - pos)));
        if (!cmd) return Error(ErrorCode::kIntegrity, "the captured stream ends inside a command");
        const ByteView one(bytes.data() + pos, cmd->length);
        pos += cmd->length;
        if (IsWord(cmd->args[0], "PUBLISH") || IsWord(cmd->args[0], "SPUBLISH")) {
          ++dropped;
          continue;
        }
        ++sent;
        std::string what = fmt::format("stream command {} ({}{})", sent, cmd->args[0],
                                       cmd->args.size() > 1 ? " " + Quote(cmd->args[1]) : "");
        BW_RETURN_IF_ERROR(pipe.AddRaw(one, std::move(what), 1));
      }
      return Status::Ok();
    });
    BW_RETURN_IF_ERROR(ReadRedisStream(repo, *plan, [&aof](ByteView b) { return aof.Append(b); }));
    BW_RETURN_IF_ERROR(aof.Finish());
    BW_RETURN_IF_ERROR(pipe.Finish());
    result.commands = sent;
    result.dropped_commands = aof.dropped() + dropped;
  }
  BW_ASSIGN_OR_RETURN(ServerInfo after, QueryServerInfo(conn, "keyspace", kRights));
  result.keys_after = after.TotalKeys();
  return result;
}

}  // namespace bulwark::sources::redis
