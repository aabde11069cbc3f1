#include "repo/redis_stream_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "repo/listed_records.h"

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

std::string RedisStreamRecordKey(const Repository& repo, const std::string& component,
                                 const Id& snapshot, uint64_t start_offset) {
  std::string s = "bulwark-redis-stream-segment";
  s.push_back('\0');
  s += component;
  s.push_back('\0');
  s += snapshot.Hex();
  s.push_back('\0');
  s += std::to_string(start_offset);
  return RedisStreamComponentPrefix(repo, component) + repo.BlobId(ToBytes(s)).Hex();
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
  const std::string key =
      RedisStreamRecordKey(repo, record.component, record.snapshot, record.start_offset);
  Bytes sealed = repo.SealWithMasterKey(EncodeRedisStreamRecord(record), AsBytes(KeyAd(key)));
  return repo.backend().Put(key, sealed);
}

Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component) {
  return LoadAll(repo, RedisStreamComponentPrefix(repo, component));
}

Status ForEachRedisStreamBlob(const Repository& repo, const std::function<void(const Id&)>& fn) {
  BW_ASSIGN_OR_RETURN(auto records, LoadAll(repo, kRedisStreamPrefix));
  for (const auto& r : records) {
    for (const auto& b : r.blobs) fn(b);
  }
  return Status::Ok();
}

}  // namespace bulwark::repo
