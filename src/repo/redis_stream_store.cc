#include "repo/redis_stream_store.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "repo/listed_records.h"
#include "repo/retention_hold.h"
#include "repo/snapshot.h"

namespace bulwark::repo {

namespace {

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string KeyAd(const std::string& key) { return "bulwark-redis-stream-record:" + key; }

Result<RedisStreamRecord> LoadRecordAt(const Repository& repo, const std::string& key) {
  Repository& r = const_cast<Repository&>(repo);  // Backend::Get is non-const but thread-safe
  BW_ASSIGN_OR_RETURN(Bytes sealed, r.backend().Get(key));
  auto plain = repo.OpenWithMasterKey(sealed, AsBytes(KeyAd(key)));
  if (!plain.ok()) {
    return Error(ErrorCode::kIntegrity, "Redis stream record " + key + " is damaged");
  }
  auto rec = DecodeRedisStreamRecord(*plain);
  if (!rec.ok()) return rec.error().Wrap("Redis stream record " + key);
  if (RedisStreamRecordKey(repo, rec->component, rec->snapshot, rec->start_offset) != key) {
    return Error(ErrorCode::kIntegrity, "Redis stream record " + key + " names another segment");
  }
  return rec;
}

Result<std::vector<RedisStreamRecord>> LoadAll(const Repository& repo, const std::string& prefix) {
  BW_ASSIGN_OR_RETURN(auto records,
                      LoadListedRecords<RedisStreamRecord>(
                          const_cast<Repository&>(repo).backend(), prefix,
                          [&](const std::string& key) { return LoadRecordAt(repo, key); }));
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
                                 const Id& snapshot, uint64_t start_offset) {
  std::string s = "bulwark-redis-stream-segment";
  s.push_back('\0');
  s += component;
  s.push_back('\0');
  s += snapshot.Hex();
  s.push_back('\0');
  s += std::to_string(start_offset);
  return RedisStreamSnapshotPrefix(repo, component, snapshot) + repo.BlobId(ToBytes(s)).Hex();
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
  nlohmann::json blobs = nlohmann::json::array();
  for (const auto& b : r.blobs) blobs.push_back(b.Hex());
  j["blobs"] = blobs;
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
    for (const auto& b : j.at("blobs")) {
      auto id = Id::FromHex(b.get<std::string>());
      if (!id) return Error(ErrorCode::kIntegrity, "bad blob id");
      r.blobs.push_back(*id);
    }
    r.stored_unix_ns = j.at("stored_unix_ns").get<int64_t>();
    if (r.end_offset < r.start_offset) return Error(ErrorCode::kIntegrity, "offsets reversed");
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
  return LoadRecordAt(repo, key);
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
  BW_ASSIGN_OR_RETURN(auto records, LoadAll(repo, kRedisStreamPrefix));
  for (const auto& r : records) {
    for (const auto& b : r.blobs) fn(b);
  }
  return Status::Ok();
}

}  // namespace bulwark::repo
