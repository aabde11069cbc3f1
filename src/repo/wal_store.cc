#include "repo/wal_store.h"

#include <mutex>
#include <nlohmann/json.hpp>

#include "repo/listed_records.h"
#include "repo/retention_hold.h"

namespace bulwark::repo {

namespace {

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string KeyAd(const std::string& key) { return "bulwark-wal-record:" + key; }

Result<WalRecord> LoadRecordAt(const Repository& repo, const std::string& key) {
  Repository& r = const_cast<Repository&>(repo);  // Backend::Get is non-const but thread-safe
  BW_ASSIGN_OR_RETURN(Bytes sealed, r.backend().Get(key));
  const std::string ad = KeyAd(key);
  auto plain = repo.OpenWithMasterKey(
      sealed, ByteView(reinterpret_cast<const uint8_t*>(ad.data()), ad.size()));
  if (!plain.ok()) return Error(ErrorCode::kIntegrity, "WAL record " + key + " is damaged");
  auto rec = DecodeWalRecord(*plain);
  if (!rec.ok()) return rec.error().Wrap("WAL record " + key);
  return rec;
}

}  // namespace

std::string WalComponentPrefix(const Repository& repo, const std::string& component) {
  std::string s = "bulwark-wal-component";
  s.push_back('\0');
  s += component;
  return std::string(kWalPrefix) + repo.BlobId(ToBytes(s)).Hex() + "/";
}

std::string WalRecordKey(const Repository& repo, const std::string& component,
                         const std::string& name) {
  std::string s = "bulwark-wal-file";
  s.push_back('\0');
  s += component;
  s.push_back('\0');
  s += name;
  return WalComponentPrefix(repo, component) + repo.BlobId(ToBytes(s)).Hex();
}

Bytes EncodeWalRecord(const WalRecord& r) {
  nlohmann::json j;
  j["component"] = r.component;
  j["name"] = r.name;
  j["size"] = r.size;
  j["sha256"] = r.sha256.Hex();
  nlohmann::json blobs = nlohmann::json::array();
  for (const auto& b : r.blobs) blobs.push_back(b.Hex());
  j["blobs"] = blobs;
  j["pushed_unix_ns"] = r.pushed_unix_ns;
  return ToBytes(j.dump());
}

Result<WalRecord> DecodeWalRecord(ByteView plaintext) {
  try {
    auto j = nlohmann::json::parse(plaintext.begin(), plaintext.end());
    WalRecord r;
    r.component = j.at("component").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.size = j.at("size").get<uint64_t>();
    auto sha = Id::FromHex(j.at("sha256").get<std::string>());
    if (!sha) return Error(ErrorCode::kIntegrity, "bad sha256");
    r.sha256 = *sha;
    for (const auto& b : j.at("blobs")) {
      auto id = Id::FromHex(b.get<std::string>());
      if (!id) return Error(ErrorCode::kIntegrity, "bad blob id");
      r.blobs.push_back(*id);
    }
    r.pushed_unix_ns = j.at("pushed_unix_ns").get<int64_t>();
    return r;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kIntegrity, std::string("does not decode: ") + e.what());
  }
}

Status PutWalRecord(Repository& repo, const WalRecord& record) {
  BW_RETURN_IF_ERROR(HoldDataBlobs(repo, record.blobs));
  const std::string key = WalRecordKey(repo, record.component, record.name);
  const std::string ad = KeyAd(key);
  Bytes sealed = repo.SealWithMasterKey(
      EncodeWalRecord(record), ByteView(reinterpret_cast<const uint8_t*>(ad.data()), ad.size()));
  return repo.backend().Put(key, sealed);
}

Result<WalRecord> GetWalRecord(const Repository& repo, const std::string& component,
                               const std::string& name) {
  const std::string key = WalRecordKey(repo, component, name);
  BW_ASSIGN_OR_RETURN(WalRecord rec, LoadRecordAt(repo, key));
  if (rec.component != component || rec.name != name) {
    return Error(ErrorCode::kIntegrity, "WAL record " + key + " names another file");
  }
  return rec;
}

namespace {

Result<std::vector<WalRecord>> LoadAll(const Repository& repo, const std::string& prefix) {
  return LoadListedRecords<WalRecord>(
      const_cast<Repository&>(repo).backend(), prefix,
      [&](const std::string& key) { return LoadRecordAt(repo, key); });
}

}  // namespace

Result<std::vector<WalRecord>> ListWalRecords(const Repository& repo,
                                              const std::string& component) {
  return LoadAll(repo, WalComponentPrefix(repo, component));
}

Status ForEachWalBlob(const Repository& repo, const std::function<void(const Id&)>& fn) {
  BW_ASSIGN_OR_RETURN(auto records, LoadAll(repo, kWalPrefix));
  for (const auto& r : records) {
    for (const auto& b : r.blobs) fn(b);
  }
  return Status::Ok();
}

}  // namespace bulwark::repo
