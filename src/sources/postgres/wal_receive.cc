#include "sources/postgres/wal_receive.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>

#include "core/cancel.h"
#include "repo/blob_writer.h"
#include "repo/lock.h"
#include "repo/snapshot.h"
#include "repo/wal_store.h"
#include "sources/postgres/backup.h"
#include "sources/postgres/pg_conn.h"
#include "sources/postgres/wal_archive.h"

namespace bulwark::sources::postgres {

namespace {

constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000;  // 1970-01-01 .. 2000-01-01

uint64_t GetBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void PutBe64(Bytes& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

int64_t NowUnixUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using Clock = std::chrono::steady_clock;

bool ValidSlotName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// "16MB", "1GB", "64kB" as SHOW prints wal_segment_size.
std::optional<uint64_t> ParseSize(const std::string& s) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    n = n * 10 + static_cast<uint64_t>(s[i++] - '0');
  if (i == 0) return std::nullopt;
  const std::string unit = s.substr(i);
  if (unit == "kB") return n << 10;
  if (unit == "MB") return n << 20;
  if (unit == "GB") return n << 30;
  if (unit.empty() || unit == "B") return n;
  return std::nullopt;
}

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;
struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// Running SHA-256 of the bytes appended so far; Digest() does not end it.
class PrefixHash {
 public:
  PrefixHash() { Reset(); }
  void Reset() {
    ctx_.reset(EVP_MD_CTX_new());
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Update(ByteView b) { EVP_DigestUpdate(ctx_.get(), b.data(), b.size()); }
  Id Digest() const {
    MdCtxPtr copy(EVP_MD_CTX_new());
    EVP_MD_CTX_copy_ex(copy.get(), ctx_.get());
    uint8_t out[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(copy.get(), out, &len);
    return Id::FromBytes(ByteView(out, 32));
  }

 private:
  MdCtxPtr ctx_;
};

// Why a stream ended.
struct StreamEnd {
  enum Kind { kCancelled, kTimelineEnd, kLost } kind = kLost;
  uint32_t next_timeline = 0;
  Lsn next_start = 0;
  std::string why;  // kLost
};

class Receiver {
 public:
  Receiver(repo::Repository& repo, const WalReceiveOptions& options) : repo_(repo), o_(options) {}

  Status Run() {
    if (!ValidSlotName(o_.slot)) {
      return Error(ErrorCode::kUsage, "'" + o_.slot +
                                          "' is not a valid replication slot name (lower-case "
                                          "letters, digits and underscores, at most 63)");
    }
    BW_ASSIGN_OR_RETURN(lock_,
                        repo::RepoLock::Acquire(repo_, repo::LockKind::kShared, "wal-receive"));
    int backoff = 1;
    while (!CancelRequested()) {
      const auto started = Clock::now();
      Status st = Session();
      // Whatever arrived is valid WAL the server had flushed: keep it.
      Status kept = StorePartial();
      if (fatal_) return st;
      if (CancelRequested()) return kept;
      if (st.ok()) st = kept;
      if (Clock::now() - started > std::chrono::seconds(30)) backoff = 1;
      Log(fmt::format("{}; reconnecting in {} s", st.ok() ? "stream ended" : st.error().message(),
                      backoff));
      for (int i = 0; i < backoff * 10 && !CancelRequested(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      backoff = std::min(backoff * 2, 30);
    }
    return Status::Ok();
  }

 private:
  void Log(const std::string& line) {
    if (o_.log) o_.log(line);
  }

  Result<ResultPtr> Exec(const std::string& command, ExecStatusType want) {
    ResultPtr res(PQexec(conn_.get(), command.c_str()));
    if (!res || PQresultStatus(res.get()) != want) {
      std::string msg =
          OneLineMessage(res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn_.get()));
      if (msg.empty()) msg = OneLineMessage(PQerrorMessage(conn_.get()));
      return Error(ErrorCode::kFailure, command.substr(0, command.find(' ')) + ": " + msg);
    }
    return res;
  }

  Status Connect() {
    const char* keys[] = {"application_name", "dbname", "replication", nullptr};
    const char* values[] = {o_.application_name.c_str(), o_.conninfo.c_str(), "true", nullptr};
    conn_.reset(PQconnectdbParams(keys, values, 1));
    if (!conn_) return Error(ErrorCode::kFailure, "cannot connect to PostgreSQL: out of memory");
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      return Error(ErrorCode::kFailure,
                   "cannot connect to PostgreSQL: " + OneLineMessage(PQerrorMessage(conn_.get())));
    }
    return Status::Ok();
  }

  // The server must be the cluster the component's backups were taken from.
  Status CheckIdentity(const std::string& sysid) {
    if (!sysid_.empty() && sysid != sysid_) {
      fatal_ = true;
      return Error(ErrorCode::kFailure,
                   fmt::format("the server now has system identifier {}, not {} as when "
                               "wal-receive started; refusing to mix clusters in component '{}'",
                               sysid, sysid_, o_.component));
    }
    if (sysid_.empty()) {
      BW_ASSIGN_OR_RETURN(auto snapshots, repo::LoadAllSnapshots(repo_));
      for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
        if (it->component != o_.component || it->kind != kSnapshotKind) continue;
        std::string theirs = it->source.value("system_identifier", "");
        if (!theirs.empty() && theirs != sysid) {
          fatal_ = true;
          return Error(ErrorCode::kFailure,
                       fmt::format("the server (system identifier {}) is not the cluster "
                                   "component '{}' was backed up from (system identifier {} in "
                                   "snapshot {}); use another component name for another cluster",
                                   sysid, o_.component, theirs, it->id.ShortHex()));
        }
        break;
      }
      sysid_ = sysid;
    }
    return Status::Ok();
  }

  // Stores the timeline's history file unless the archive has it.
  Status EnsureHistory(uint32_t tli) {
    if (tli <= 1) return Status::Ok();
    const std::string name = fmt::format("{:08X}.history", tli);
    auto have = repo::GetWalRecord(repo_, o_.component, name);
    if (have.ok()) return Status::Ok();
    if (have.error().code() != ErrorCode::kNotFound) return have.error();
    BW_ASSIGN_OR_RETURN(auto res, Exec(fmt::format("TIMELINE_HISTORY {}", tli), PGRES_TUPLES_OK));
    if (PQntuples(res.get()) != 1 || PQnfields(res.get()) != 2) {
      return Error(ErrorCode::kFailure, "TIMELINE_HISTORY: unexpected result");
    }
    const char* content = PQgetvalue(res.get(), 0, 1);
    const auto len = static_cast<size_t>(PQgetlength(res.get(), 0, 1));
    BW_ASSIGN_OR_RETURN(auto pushed,
                        PushWalData(repo_, o_.component, PQgetvalue(res.get(), 0, 0),
                                    ByteView(reinterpret_cast<const uint8_t*>(content), len)));
    (void)pushed;
    Log("stored timeline history " + name);
    return Status::Ok();
  }

  struct Start {
    uint32_t timeline = 0;
    Lsn lsn = 0;
  };

  // Where to stream from: the end of the archive (the start of the newest segment it has only
  // partially, or the segment after the newest whole one), unless the slot only keeps WAL from
  // later on (a gap, reported); with an empty archive the slot's restart position. Always the
  // start of a segment, like pg_receivewal.
  Result<Start> FindStart(uint32_t server_tli, Lsn server_pos) {
    std::optional<Start> archive;
    BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo_, o_.component));
    for (const auto& r : records) {
      std::optional<Start> s;
      if (auto id = ParseWalFileName(r.name, seg_size_)) {
        s = Start{id->timeline, (id->segno + 1) * seg_size_};
      } else if (auto p = ParsePartialWalName(r.name)) {
        if (auto pid = ParseWalFileName(p->segment, seg_size_)) {
          s = Start{pid->timeline, pid->segno * seg_size_};
        }
      }
      if (s && (!archive || s->lsn > archive->lsn ||
                (s->lsn == archive->lsn && s->timeline > archive->timeline))) {
        archive = s;
      }
    }
    // Partial records of earlier runs, dropped once this run has stored as much.
    earlier_partials_.clear();
    for (const auto& r : records) {
      if (auto p = ParsePartialWalName(r.name)) earlier_partials_.emplace_back(r.name, p->size);
    }
    // The slot.
    BW_ASSIGN_OR_RETURN(auto slot, Exec("READ_REPLICATION_SLOT " + o_.slot, PGRES_TUPLES_OK));
    if (PQntuples(slot.get()) != 1 || PQgetisnull(slot.get(), 0, 0)) {
      BW_ASSIGN_OR_RETURN(
          auto created,
          Exec("CREATE_REPLICATION_SLOT " + o_.slot + " PHYSICAL RESERVE_WAL", PGRES_TUPLES_OK));
      (void)created;
      Log("created physical replication slot " + o_.slot);
      BW_ASSIGN_OR_RETURN(slot, Exec("READ_REPLICATION_SLOT " + o_.slot, PGRES_TUPLES_OK));
    }
    if (PQntuples(slot.get()) == 1 && !PQgetisnull(slot.get(), 0, 0) &&
        std::string(PQgetvalue(slot.get(), 0, 0)) != "physical") {
      fatal_ = true;
      return Error(ErrorCode::kFailure, "replication slot " + o_.slot + " is not a physical slot");
    }
    std::optional<Start> from_slot;
    if (PQntuples(slot.get()) == 1 && !PQgetisnull(slot.get(), 0, 1)) {
      auto lsn = ParseLsn(PQgetvalue(slot.get(), 0, 1));
      if (lsn.ok() && *lsn != 0) {
        uint32_t tli = server_tli;
        if (!PQgetisnull(slot.get(), 0, 2)) {
          tli = static_cast<uint32_t>(std::strtoul(PQgetvalue(slot.get(), 0, 2), nullptr, 10));
        }
        from_slot = Start{tli, *lsn - *lsn % seg_size_};
      }
    }
    Start s;
    if (archive && (!from_slot || archive->lsn >= from_slot->lsn)) {
      s = *archive;
    } else if (from_slot) {
      if (archive) {
        Log(
            fmt::format("the archive ends at {} but slot {} only keeps WAL from {}: the WAL in "
                        "between is missing",
                        FormatLsn(archive->lsn), o_.slot, FormatLsn(from_slot->lsn)));
      }
      s = *from_slot;
    } else {
      s = Start{server_tli, server_pos - server_pos % seg_size_};
    }
    if (s.timeline == 0) s.timeline = server_tli;
    return s;
  }

  // One connection: identify, pick the start, stream (across timeline switches).
  Status Session() {
    BW_RETURN_IF_ERROR(Connect());
    BW_ASSIGN_OR_RETURN(auto ident, Exec("IDENTIFY_SYSTEM", PGRES_TUPLES_OK));
    if (PQntuples(ident.get()) != 1 || PQnfields(ident.get()) < 3) {
      return Error(ErrorCode::kFailure, "IDENTIFY_SYSTEM: unexpected result");
    }
    BW_RETURN_IF_ERROR(CheckIdentity(PQgetvalue(ident.get(), 0, 0)));
    const auto server_tli =
        static_cast<uint32_t>(std::strtoul(PQgetvalue(ident.get(), 0, 1), nullptr, 10));
    BW_ASSIGN_OR_RETURN(Lsn server_pos, ParseLsn(PQgetvalue(ident.get(), 0, 2)));
    BW_ASSIGN_OR_RETURN(auto show, Exec("SHOW wal_segment_size", PGRES_TUPLES_OK));
    auto seg = ParseSize(PQntuples(show.get()) == 1 ? PQgetvalue(show.get(), 0, 0) : "");
    if (!seg || *seg == 0 || (*seg & (*seg - 1)) != 0) {
      return Error(ErrorCode::kFailure, "cannot read the server's wal_segment_size");
    }
    seg_size_ = *seg;
    BW_ASSIGN_OR_RETURN(Start start, FindStart(server_tli, server_pos));
    bool first = true;
    for (;;) {
      BW_RETURN_IF_ERROR(EnsureHistory(start.timeline));
      auto started = Exec(fmt::format("START_REPLICATION SLOT {} PHYSICAL {} TIMELINE {}", o_.slot,
                                      FormatLsn(start.lsn), start.timeline),
                          PGRES_COPY_BOTH);
      if (!started.ok() && first && start.timeline != server_tli) {
        // The archive's timeline is not in this server's history past that point: continue
        // on the server's.
        Log(started.error().message() + "; streaming timeline " + std::to_string(server_tli));
        start.timeline = server_tli;
        BW_RETURN_IF_ERROR(EnsureHistory(start.timeline));
        started = Exec(fmt::format("START_REPLICATION SLOT {} PHYSICAL {} TIMELINE {}", o_.slot,
                                   FormatLsn(start.lsn), start.timeline),
                       PGRES_COPY_BOTH);
      }
      if (!started.ok()) return started.error();
      first = false;
      BeginSegment(start.timeline, start.lsn / seg_size_);
      Log(fmt::format("streaming from {} on timeline {} (slot {}{})", FormatLsn(start.lsn),
                      start.timeline, o_.slot, o_.synchronous ? ", synchronous" : ""));
      BW_ASSIGN_OR_RETURN(StreamEnd end, Stream());
      if (end.kind == StreamEnd::kCancelled) return Status::Ok();
      if (end.kind == StreamEnd::kLost) return Error(ErrorCode::kFailure, end.why);
      // Timeline switch: the old timeline's last segment stays a partial record; the new
      // timeline's copy of that segment starts over from its beginning.
      BW_RETURN_IF_ERROR(StorePartial());
      Log(fmt::format("timeline {} ended; following timeline {} from {}", start.timeline,
                      end.next_timeline, FormatLsn(end.next_start)));
      start = Start{end.next_timeline, end.next_start - end.next_start % seg_size_};
    }
  }

  void BeginSegment(uint32_t tli, uint64_t segno) {
    tli_ = tli;
    segno_ = segno;
    data_.clear();
    data_.reserve(seg_size_);
    hash_.Reset();
    pieces_.clear();
    durable_ = 0;
    last_partial_.clear();
  }

  Lsn SegmentStart() const { return segno_ * seg_size_; }
  Lsn Received() const { return SegmentStart() + data_.size(); }
  Lsn Flushed() const { return SegmentStart() + durable_; }

  // Stores data_[0, size) under `name` (create-only; the same contents already there is fine).
  Status StoreRecord(const std::string& name, const Id& sha) {
    if (!lock_->StillValid()) {
      lock_.reset();
      BW_ASSIGN_OR_RETURN(lock_,
                          repo::RepoLock::Acquire(repo_, repo::LockKind::kShared, "wal-receive"));
    }
    repo::WalRecord rec;
    rec.component = o_.component;
    rec.name = name;
    rec.size = data_.size();
    rec.sha256 = sha;
    std::map<std::pair<uint64_t, uint64_t>, Id> kept;
    {
      repo::WriterOptions wo;
      wo.workers = 1;
      wo.uploaders = 1;
      repo::BlobWriter writer(repo_, wo);
      for (const auto& piece : WalPieceLayout(data_.size())) {
        auto it = pieces_.find(piece);
        if (it == pieces_.end()) {
          const auto from = data_.begin() + static_cast<std::ptrdiff_t>(piece.first);
          BW_ASSIGN_OR_RETURN(
              Id id, writer.Add(repo::BlobType::kData,
                                Bytes(from, from + static_cast<std::ptrdiff_t>(piece.second))));
          it = pieces_.emplace(piece, id).first;
        }
        rec.blobs.push_back(it->second);
        kept.emplace(piece, it->second);
      }
      BW_RETURN_IF_ERROR(writer.Flush());
    }
    pieces_ = std::move(kept);
    rec.pushed_unix_ns = NowUnixUs() * 1000;
    Status put = repo::PutWalRecord(repo_, rec);
    if (!put.ok() && put.error().code() == ErrorCode::kAlreadyExists) {
      BW_ASSIGN_OR_RETURN(auto other, repo::GetWalRecord(repo_, o_.component, name));
      if (other.size != rec.size || other.sha256 != rec.sha256) {
        return Error(ErrorCode::kAlreadyExists,
                     fmt::format("a different {} is already archived for component '{}'; the "
                                 "server's WAL does not match the archive",
                                 name, o_.component));
      }
      return Status::Ok();
    }
    return put;
  }

  // Makes everything received in the current segment durable as a partial record and drops
  // the previous partial record of the segment.
  Status StorePartial() {
    if (data_.size() <= durable_ || seg_size_ == 0) return Status::Ok();
    const std::string name =
        PartialWalName(WalFileName(tli_, segno_, seg_size_), static_cast<uint64_t>(data_.size()));
    BW_RETURN_IF_ERROR(StoreRecord(name, hash_.Digest()));
    DropPartial(name);
    durable_ = data_.size();
    last_partial_ = name;
    last_store_ = Clock::now();
    return Status::Ok();
  }

  // Removes the partial records of the current segment that the record just stored as `kept`
  // supersedes. A failure only leaves an old partial record for forget to expire.
  void DropPartial(const std::string& kept) {
    auto remove = [&](const std::string& name) {
      if (name != kept) {
        (void)repo_.backend().Remove(repo::WalRecordKey(repo_, o_.component, name));
      }
    };
    if (!last_partial_.empty()) remove(last_partial_);
    last_partial_.clear();
    const std::string segment = WalFileName(tli_, segno_, seg_size_);
    std::erase_if(earlier_partials_, [&](const std::pair<std::string, uint64_t>& p) {
      if (p.first.compare(0, segment.size(), segment) != 0 || p.second > data_.size()) {
        return false;
      }
      remove(p.first);
      return true;
    });
  }

  Status CompleteSegment() {
    const std::string name = WalFileName(tli_, segno_, seg_size_);
    BW_RETURN_IF_ERROR(StoreRecord(name, hash_.Digest()));
    DropPartial(name);
    Log("stored segment " + name);
    BeginSegment(tli_, segno_ + 1);
    last_store_ = Clock::now();
    return Status::Ok();
  }

  Status HandleData(const XLogDataMessage& m) {
    if (m.start != Received()) {
      return Error(ErrorCode::kFailure, fmt::format("the server sent WAL from {}, expected {}",
                                                    FormatLsn(m.start), FormatLsn(Received())));
    }
    size_t at = 0;
    while (at < m.data.size()) {
      const size_t room = seg_size_ - data_.size();
      const size_t take = std::min(room, m.data.size() - at);
      ByteView part = m.data.subspan(at, take);
      data_.insert(data_.end(), part.begin(), part.end());
      hash_.Update(part);
      at += take;
      if (data_.size() == seg_size_) BW_RETURN_IF_ERROR(CompleteSegment());
    }
    return Status::Ok();
  }

  bool SendStatus(bool reply) {
    Bytes msg =
        EncodeStandbyStatus(Received(), Flushed(), 0, NowUnixUs() - kPgEpochOffsetUs, reply);
    last_status_ = Clock::now();
    return PQputCopyData(conn_.get(), reinterpret_cast<const char*>(msg.data()),
                         static_cast<int>(msg.size())) > 0 &&
           PQflush(conn_.get()) == 0;
  }

  void DrainResults() {
    for (int i = 0; i < 16; ++i) {
      ResultPtr more(PQgetResult(conn_.get()));
      if (!more) return;
    }
  }

  // Reads the end-of-copy results: the next timeline, a clean end, or an error.
  StreamEnd EndOfCopy() {
    StreamEnd end;
    ResultPtr res(PQgetResult(conn_.get()));
    if (res && PQresultStatus(res.get()) == PGRES_COPY_IN) {
      if (PQputCopyEnd(conn_.get(), nullptr) <= 0 || PQflush(conn_.get()) != 0) {
        end.why = "ending the replication stream: " + OneLineMessage(PQerrorMessage(conn_.get()));
        return end;
      }
      res.reset(PQgetResult(conn_.get()));
    }
    if (res && PQresultStatus(res.get()) == PGRES_TUPLES_OK && PQntuples(res.get()) == 1 &&
        PQnfields(res.get()) >= 2) {
      auto next = ParseLsn(PQgetvalue(res.get(), 0, 1));
      const auto tli =
          static_cast<uint32_t>(std::strtoul(PQgetvalue(res.get(), 0, 0), nullptr, 10));
      DrainResults();  // the command's completion
      if (!next.ok() || tli == 0) {
        end.why = "unexpected end-of-timeline message from the server";
        return end;
      }
      end.kind = StreamEnd::kTimelineEnd;
      end.next_timeline = tli;
      end.next_start = *next;
      return end;
    }
    if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK) {
      end.why = "the server ended replication (shutting down?)";
    } else {
      end.why = "replication stream lost: " +
                OneLineMessage(res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn_.get()));
    }
    DrainResults();
    return end;
  }

  Result<StreamEnd> Stream() {
    const auto interval = std::chrono::seconds(std::max(1, o_.status_interval_seconds));
    last_status_ = Clock::now();
    last_store_ = Clock::now();
    bool reply_due = false;
    bool broken = false;
    bool pending = false;  // WAL received and not yet durable since pending_since
    Clock::time_point pending_since = Clock::now();
    for (;;) {
      if (CancelRequested()) {
        BW_RETURN_IF_ERROR(StorePartial());
        SendStatus(false);
        StreamEnd end;
        end.kind = StreamEnd::kCancelled;
        return end;
      }
      char* buf = nullptr;
      const int n = PQgetCopyData(conn_.get(), &buf, 1);
      if (n > 0) {
        std::unique_ptr<char, void (*)(void*)> guard(buf, PQfreemem);
        ByteView msg(reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n));
        if (msg[0] == 'w') {
          auto m = ParseXLogData(msg);
          if (!m) return StreamEnd{StreamEnd::kLost, 0, 0, "malformed XLogData message"};
          BW_RETURN_IF_ERROR(HandleData(*m));
          if (!pending && Received() > Flushed()) {
            pending = true;
            pending_since = Clock::now();
          }
        } else if (msg[0] == 'k') {
          auto m = ParseKeepalive(msg);
          if (!m) return StreamEnd{StreamEnd::kLost, 0, 0, "malformed keepalive message"};
          reply_due = reply_due || m->reply_requested;
        }
        if (Received() == Flushed()) pending = false;
        // Under a continuous stream, do not let synchronous commits wait for a lull.
        if (!(o_.synchronous && pending &&
              Clock::now() - pending_since > std::chrono::milliseconds(20))) {
          continue;
        }
      }
      if (n == -1) return EndOfCopy();
      if (n == -2) {
        return StreamEnd{StreamEnd::kLost, 0, 0,
                         "replication stream lost: " + OneLineMessage(PQerrorMessage(conn_.get()))};
      }
      // Nothing more buffered: make the received WAL durable as the mode asks, then report.
      const auto now = Clock::now();
      bool store =
          Received() > Flushed() && (o_.synchronous || reply_due || now - last_store_ >= interval);
      if (store) {
        BW_RETURN_IF_ERROR(StorePartial());
        pending = false;
      }
      if (store || reply_due || now - last_status_ >= interval) {
        if (!SendStatus(false)) {
          return StreamEnd{
              StreamEnd::kLost, 0, 0,
              "sending a status update: " + OneLineMessage(PQerrorMessage(conn_.get()))};
        }
        reply_due = false;
      }
      if (n > 0) continue;  // more may be buffered already
      if (broken) {
        return StreamEnd{StreamEnd::kLost, 0, 0,
                         "replication stream lost: " + OneLineMessage(PQerrorMessage(conn_.get()))};
      }
      pollfd pfd{PQsocket(conn_.get()), POLLIN, 0};
      if (pfd.fd < 0) return StreamEnd{StreamEnd::kLost, 0, 0, "the connection has no socket"};
      if (::poll(&pfd, 1, 100) > 0 && PQconsumeInput(conn_.get()) == 0) {
        // What was read before the failure is still buffered: take it, then give up.
        broken = true;
      }
    }
  }

  repo::Repository& repo_;
  const WalReceiveOptions o_;
  std::unique_ptr<repo::RepoLock> lock_;
  ConnPtr conn_;
  std::string sysid_;
  bool fatal_ = false;
  uint64_t seg_size_ = 0;

  // The segment being received.
  uint32_t tli_ = 0;
  uint64_t segno_ = 0;
  Bytes data_;
  PrefixHash hash_;
  std::map<std::pair<uint64_t, uint64_t>, Id> pieces_;  // stored pieces of data_
  uint64_t durable_ = 0;                                // bytes of data_ in a record
  std::string last_partial_;
  std::vector<std::pair<std::string, uint64_t>> earlier_partials_;  // name, size
  Clock::time_point last_status_{}, last_store_{};
};

}  // namespace

std::optional<XLogDataMessage> ParseXLogData(ByteView msg) {
  if (msg.size() < 25 || msg[0] != 'w') return std::nullopt;
  XLogDataMessage m;
  m.start = GetBe64(msg.data() + 1);
  m.server_end = GetBe64(msg.data() + 9);
  m.send_time = static_cast<int64_t>(GetBe64(msg.data() + 17));
  m.data = msg.subspan(25);
  return m;
}

std::optional<KeepaliveMessage> ParseKeepalive(ByteView msg) {
  if (msg.size() != 18 || msg[0] != 'k') return std::nullopt;
  KeepaliveMessage m;
  m.server_end = GetBe64(msg.data() + 1);
  m.send_time = static_cast<int64_t>(GetBe64(msg.data() + 9));
  m.reply_requested = msg[17] != 0;
  return m;
}

Bytes EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, int64_t now_pg_us, bool reply) {
  Bytes out;
  out.reserve(34);
  out.push_back('r');
  PutBe64(out, write);
  PutBe64(out, flush);
  PutBe64(out, apply);
  PutBe64(out, static_cast<uint64_t>(now_pg_us));
  out.push_back(reply ? 1 : 0);
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> WalPieceLayout(uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t at = 0;
  for (uint64_t level : {uint64_t{1} << 20, uint64_t{64} << 10, uint64_t{4} << 10}) {
    const uint64_t end = size - size % level;
    for (; at + level <= end; at += level) out.emplace_back(at, level);
  }
  if (at < size) out.emplace_back(at, size - at);
  return out;
}

Status ReceiveWal(repo::Repository& repo, const WalReceiveOptions& options) {
  if (options.component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  Receiver receiver(repo, options);
  return receiver.Run();
}

}  // namespace bulwark::sources::postgres
