#include "repo/redis_stream_store.h"

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "repo/listed_records.h"
#include "repo/retention_hold.h"
#include "repo/snapshot.h"

namespace bulwark::repo {

namespace {

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string KeyAd(const std::string& key) { return "bulwark-redis-stream-record:" + key; }
std::string DataAd(const std::string& key) { return "bulwark-redis-stream-data:" + key; }

constexpr uint8_t kFrameRaw = 0;
constexpr uint8_t kFrameZstd = 1;
// An inline record's header is read with one ranged read of this many bytes (or the whole
// object when smaller), a second one only for a header longer than that.
constexpr uint64_t kHeaderProbe = 64u << 10;

Error Damaged(const std::string& key, const std::string& what) {
  return Error(ErrorCode::kIntegrity, "Redis stream record " + key + " is damaged: " + what);
}

storage::Backend& BackendOf(const Repository& repo) {
  // Backend reads are non-const but thread-safe.
  return const_cast<Repository&>(repo).backend();
}

Result<uint32_t> HeaderLength(const std::string& key, ByteView object) {
  if (object.size() < 4) return Damaged(key, "shorter than its length field");
  uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = (n << 8) | object[static_cast<size_t>(i)];
  return n;
}

// Opens and decodes a header and checks that it belongs under `key`.
Result<RedisStreamRecord> OpenHeader(const Repository& repo, const std::string& key,
                                     ByteView sealed) {
  auto plain = repo.OpenWithMasterKey(sealed, AsBytes(KeyAd(key)));
  if (!plain.ok()) {
    return Error(ErrorCode::kIntegrity, "Redis stream record " + key + " is damaged");
  }
  auto rec = DecodeRedisStreamRecord(*plain);
  if (!rec.ok()) return rec.error().Wrap("Redis stream record " + key);
  if (rec->is_inline != IsInlineRedisStreamKey(key) ||
      RedisStreamRecordKey(repo, rec->component, rec->snapshot, rec->start_offset,
                           rec->is_inline) != key) {
    return Error(ErrorCode::kIntegrity, "Redis stream record " + key + " names another segment");
  }
  return rec;
}

// The record under `key`: the whole object for the blob form; for the inline form only its
// header, read by range when the object's size (`size`, 0 = unknown) is known.
Result<RedisStreamRecord> LoadRecordAt(const Repository& repo, const std::string& key,
                                       uint64_t size) {
  if (!IsInlineRedisStreamKey(key)) {
    BW_ASSIGN_OR_RETURN(Bytes sealed, BackendOf(repo).Get(key));
    return OpenHeader(repo, key, sealed);
  }
  Bytes head;
  if (size == 0) {
    BW_ASSIGN_OR_RETURN(head, BackendOf(repo).Get(key));
  } else {
    BW_ASSIGN_OR_RETURN(head, BackendOf(repo).GetRange(key, 0, std::min(size, kHeaderProbe)));
  }
  BW_ASSIGN_OR_RETURN(uint32_t n, HeaderLength(key, head));
  if (head.size() - 4 < n) {
    if (size == 0 || size - 4 < n) return Damaged(key, "shorter than its header");
    BW_ASSIGN_OR_RETURN(head, BackendOf(repo).GetRange(key, 4, n));
    return OpenHeader(repo, key, head);
  }
  return OpenHeader(repo, key, ByteView(head.data() + 4, n));
}

// Inflates an inline record's data frame into exactly `size` bytes.
Result<Bytes> Unframe(const std::string& key, ByteView frame, uint64_t size) {
  if (frame.empty()) return Damaged(key, "empty data frame");
  ByteView body = frame.subspan(1);
  if (frame[0] == kFrameRaw) {
    if (body.size() != size) return Damaged(key, "holds another number of bytes than it says");
    return Bytes(body.begin(), body.end());
  }
  if (frame[0] != kFrameZstd) return Damaged(key, "unknown data frame type");
  const unsigned long long content = ZSTD_getFrameContentSize(body.data(), body.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || content != size) {
    return Damaged(key, "bad compressed frame");
  }
  Bytes out(static_cast<size_t>(size));
  const size_t got = ZSTD_decompress(out.data(), out.size(), body.data(), body.size());
  if (ZSTD_isError(got) || got != size) return Damaged(key, "decompression failed");
  return out;
}

Result<std::vector<RedisStreamRecord>> LoadAll(const Repository& repo, const std::string& prefix) {
  BW_ASSIGN_OR_RETURN(auto listing, BackendOf(repo).List(prefix));
  BW_ASSIGN_OR_RETURN(
      auto records, LoadEachPresent<RedisStreamRecord>(listing, [&](const storage::ObjectInfo& o) {
        return LoadRecordAt(repo, o.key, o.size);
      }));
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    if (a.snapshot != b.snapshot) return a.snapshot < b.snapshot;
    return a.start_offset < b.start_offset;
  });
  return records;
}

}  // namespace

std::string RedisStreamComponentPrefix(const Repository& repo, const std::string& component) {
  std::string s = "bulwark-redis-stream-component";
  s.push_back('\0');
  s += component;
  return std::string(kRedisStreamPrefix) + repo.BlobId(ToBytes(s)).Hex() + "/";
}

std::string RedisStreamSnapshotPrefix(const Repository& repo, const std::string& component,
                                      const Id& snapshot) {
  std::string s = "bulwark-redis-stream-snapshot";
  s.push_back('\0');
  s += component;
  s.push_back('\0');
  s += snapshot.Hex();
  return RedisStreamComponentPrefix(repo, component) + repo.BlobId(ToBytes(s)).Hex() + "/";
}

std::string RedisStreamRecordKey(const Repository& repo, const std::string& component,
                                 const Id& snapshot, uint64_t start_offset, bool is_inline) {
  std::string s = "bulwark-redis-stream-segment";
  s.push_back('\0');
  s += component;
  s.push_back('\0');
  s += snapshot.Hex();
  s.push_back('\0');
  s += std::to_string(start_offset);
  return RedisStreamSnapshotPrefix(repo, component, snapshot) + repo.BlobId(ToBytes(s)).Hex() +
         (is_inline ? kRedisStreamInlineSuffix : "");
}

bool IsInlineRedisStreamKey(const std::string& key) {
  return key.ends_with(kRedisStreamInlineSuffix);
}

Bytes EncodeRedisStreamRecord(const RedisStreamRecord& r) {
  nlohmann::json j;
  j["component"] = r.component;
  j["snapshot"] = r.snapshot.Hex();
  j["replid"] = r.replid;
  j["start_offset"] = r.start_offset;
  j["end_offset"] = r.end_offset;
  nlohmann::json batches = nlohmann::json::array();
  for (const auto& b : r.batches) batches.push_back({b.offset, b.unix_ns});
  j["batches"] = batches;
  if (r.is_inline) {
    j["inline_id"] = r.inline_id.Hex();
  } else {
    nlohmann::json blobs = nlohmann::json::array();
    for (const auto& b : r.blobs) blobs.push_back(b.Hex());
    j["blobs"] = blobs;
  }
  j["stored_unix_ns"] = r.stored_unix_ns;
  return ToBytes(j.dump());
}

Result<RedisStreamRecord> DecodeRedisStreamRecord(ByteView plaintext) {
  try {
    auto j = nlohmann::json::parse(plaintext.begin(), plaintext.end());
    RedisStreamRecord r;
    r.component = j.at("component").get<std::string>();
    auto snap = Id::FromHex(j.at("snapshot").get<std::string>());
    if (!snap) return Error(ErrorCode::kIntegrity, "bad snapshot id");
    r.snapshot = *snap;
    r.replid = j.at("replid").get<std::string>();
    r.start_offset = j.at("start_offset").get<uint64_t>();
    r.end_offset = j.at("end_offset").get<uint64_t>();
    for (const auto& b : j.at("batches")) {
      r.batches.push_back({b.at(0).get<uint64_t>(), b.at(1).get<int64_t>()});
    }
    if (j.contains("inline_id")) {
      if (j.contains("blobs")) return Error(ErrorCode::kIntegrity, "both inline and blobs");
      auto id = Id::FromHex(j.at("inline_id").get<std::string>());
      if (!id) return Error(ErrorCode::kIntegrity, "bad inline id");
      r.is_inline = true;
      r.inline_id = *id;
    } else {
      for (const auto& b : j.at("blobs")) {
        auto id = Id::FromHex(b.get<std::string>());
        if (!id) return Error(ErrorCode::kIntegrity, "bad blob id");
        r.blobs.push_back(*id);
      }
    }
    r.stored_unix_ns = j.at("stored_unix_ns").get<int64_t>();
    if (r.end_offset < r.start_offset) return Error(ErrorCode::kIntegrity, "offsets reversed");
    if (r.is_inline && r.end_offset - r.start_offset > kRedisStreamMaxInline) {
      return Error(ErrorCode::kIntegrity, "an inline segment larger than the limit");
    }
    return r;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kIntegrity, std::string("does not decode: ") + e.what());
  }
}

Status PutRedisStreamRecord(Repository& repo, const RedisStreamRecord& record) {
  BW_RETURN_IF_ERROR(HoldDataBlobs(repo, record.blobs));
  const std::string key =
      RedisStreamRecordKey(repo, record.component, record.snapshot, record.start_offset);
  Bytes sealed = repo.SealWithMasterKey(EncodeRedisStreamRecord(record), AsBytes(KeyAd(key)));
  return repo.backend().Put(key, sealed);
}

Bytes EncodeInlineRedisStreamObject(const Repository& repo, const std::string& key,
                                    const RedisStreamRecord& record, ByteView bytes) {
  Bytes header = repo.SealWithMasterKey(EncodeRedisStreamRecord(record), AsBytes(KeyAd(key)));
  // Framed like a blob: compressed when that saves at least ~3 %.
  Bytes frame(1 + ZSTD_compressBound(bytes.size()));
  const size_t limit = bytes.size() - bytes.size() / 32;
  size_t c = bytes.size() >= 64 ? ZSTD_compress(frame.data() + 1, limit, bytes.data(), bytes.size(),
                                                repo.config().compression_level)
                                : 0;
  if (bytes.size() >= 64 && !ZSTD_isError(c) && c < limit) {
    frame[0] = kFrameZstd;
    frame.resize(1 + c);
  } else {
    frame[0] = kFrameRaw;
    if (!bytes.empty()) std::memcpy(frame.data() + 1, bytes.data(), bytes.size());
    frame.resize(1 + bytes.size());
  }
  Bytes data = repo.SealWithMasterKey(frame, AsBytes(DataAd(key)));
  Bytes out;
  out.reserve(4 + header.size() + data.size());
  const auto n = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Status PutInlineRedisStreamRecord(Repository& repo, const RedisStreamRecord& record,
                                  ByteView bytes) {
  if (bytes.size() != record.end_offset - record.start_offset || !record.blobs.empty() ||
      bytes.size() > kRedisStreamMaxInline) {
    return Error(ErrorCode::kFailure, "an inline Redis stream segment that does not fit");
  }
  RedisStreamRecord r = record;
  r.is_inline = true;
  r.inline_id = repo.BlobId(bytes);
  const std::string key =
      RedisStreamRecordKey(repo, r.component, r.snapshot, r.start_offset, /*is_inline=*/true);
  return repo.backend().Put(key, EncodeInlineRedisStreamObject(repo, key, r, bytes));
}

Status ReadRedisStreamBytes(const Repository& repo, const RedisStreamRecord& record, uint64_t limit,
                            const std::function<Status(ByteView)>& sink) {
  const uint64_t size = record.end_offset - record.start_offset;
  uint64_t left = std::min(limit, size);
  if (record.is_inline) {
    if (left == 0) return Status::Ok();
    const std::string key = RedisStreamRecordKey(repo, record.component, record.snapshot,
                                                 record.start_offset, /*is_inline=*/true);
    BW_ASSIGN_OR_RETURN(Bytes object, BackendOf(repo).Get(key));
    BW_ASSIGN_OR_RETURN(uint32_t n, HeaderLength(key, object));
    if (object.size() - 4 < n) return Damaged(key, "shorter than its header");
    // The header is opened again: the data must belong to the record the caller holds.
    BW_ASSIGN_OR_RETURN(RedisStreamRecord header,
                        OpenHeader(repo, key, ByteView(object.data() + 4, n)));
    if (header.inline_id != record.inline_id || header.end_offset != record.end_offset) {
      return Damaged(key, "changed since it was listed");
    }
    auto frame = repo.OpenWithMasterKey(ByteView(object.data() + 4 + n, object.size() - 4 - n),
                                        AsBytes(DataAd(key)));
    if (!frame.ok()) return Damaged(key, "its data does not open");
    BW_ASSIGN_OR_RETURN(Bytes bytes, Unframe(key, *frame, size));
    if (repo.BlobId(bytes) != record.inline_id) return Damaged(key, "its data has another hash");
    return sink(ByteView(bytes.data(), static_cast<size_t>(left)));
  }
  for (const Id& id : record.blobs) {
    if (left == 0) break;
    auto data = repo.LoadBlob(BlobType::kData, id);
    if (!data.ok()) return Error(ErrorCode::kIntegrity, data.error().message());
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, data->size()));
    BW_RETURN_IF_ERROR(sink(ByteView(data->data(), n)));
    left -= n;
  }
  if (left != 0) {
    return Error(ErrorCode::kIntegrity, "the record holds fewer bytes than it says");
  }
  return Status::Ok();
}

Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component) {
  return LoadAll(repo, RedisStreamComponentPrefix(repo, component));
}

Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component,
                                                              const Id& snapshot) {
  return LoadAll(repo, RedisStreamSnapshotPrefix(repo, component, snapshot));
}

Result<RedisStreamRecord> LoadRedisStreamRecord(const Repository& repo, const std::string& key) {
  return LoadRecordAt(repo, key, 0);
}

Result<RedisStreamExpireResult> ExpireRedisStream(Repository& repo, const std::string& component,
                                                  const std::set<Id>& forgotten, bool dry_run) {
  RedisStreamExpireResult result;
  // Listed before the snapshots are read: a record is stored only after its snapshot, so a
  // record listed here whose snapshot is not read below is an orphan, never a stream that
  // has just begun.
  BW_ASSIGN_OR_RETURN(
      auto listing,
      repo.backend().List(component.empty() ? std::string(kRedisStreamPrefix)
                                            : RedisStreamComponentPrefix(repo, component)));
  if (listing.empty()) return result;
  BW_ASSIGN_OR_RETURN(auto snapshots, LoadAllSnapshots(repo));
  std::set<std::string> live;
  for (const auto& s : snapshots) {
    if (!forgotten.count(s.id)) live.insert(RedisStreamSnapshotPrefix(repo, s.component, s.id));
  }
  const auto& lock = repo.config().object_lock;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::vector<std::string> doomed;
  for (const auto& object : listing) {
    const std::string folder = object.key.substr(0, object.key.rfind('/') + 1);
    if (live.count(folder)) continue;
    if (lock.enabled()) {
      BW_ASSIGN_OR_RETURN(auto info, repo.backend().Stat(object.key));
      // The server would refuse the delete: a later forget removes it.
      if (const int64_t until = RetainUntil(lock, info, 60); until > now) {
        result.locked.Add(object.size, until);
        continue;
      }
    }
    doomed.push_back(object.key);
    ++result.removed;
    result.bytes += object.size;
  }
  if (dry_run || doomed.empty()) return result;
  BW_RETURN_IF_ERROR(ParallelFor(doomed.size(), kIoThreads, [&](size_t i) -> Status {
    Status st = repo.backend().Remove(doomed[i]);
    if (!st.ok() && st.error().code() != ErrorCode::kNotFound) return st;
    return Status::Ok();
  }));
  return result;
}

Status ForEachRedisStreamBlob(const Repository& repo, const std::function<void(const Id&)>& fn) {
  BW_ASSIGN_OR_RETURN(auto listing, BackendOf(repo).List(kRedisStreamPrefix));
  std::erase_if(listing, [](const auto& o) { return IsInlineRedisStreamKey(o.key); });
  BW_ASSIGN_OR_RETURN(
      auto records, LoadEachPresent<RedisStreamRecord>(listing, [&](const storage::ObjectInfo& o) {
        return LoadRecordAt(repo, o.key, o.size);
      }));
  for (const auto& r : records) {
    for (const auto& b : r.blobs) fn(b);
  }
  return Status::Ok();
}

}  // namespace bulwark::repo
