#include "repo/deletion.h"

#include <nlohmann/json.hpp>

#include "repo/repository.h"

namespace bulwark::repo {

namespace {

Error Corrupt(const std::string& what) {
  return Error(ErrorCode::kIntegrity, "deletion record: " + what);
}

bool ReadIds(const nlohmann::json& j, const char* name, std::vector<Id>& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return false;
  out.reserve(it->size());
  for (const auto& e : *it) {
    if (!e.is_string()) return false;
    auto id = Id::FromHex(e.get_ref<const std::string&>());
    if (!id) return false;
    out.push_back(*id);
  }
  return true;
}

}  // namespace

Bytes EncodeDeletionRecord(const DeletionRecord& record) {
  nlohmann::json packs = nlohmann::json::array(), index_files = nlohmann::json::array();
  for (const Id& id : record.packs) packs.push_back(id.Hex());
  for (const Id& id : record.index_files) index_files.push_back(id.Hex());
  nlohmann::json j = {{"version", 1},
                      {"time_unix_ns", record.time_unix_ns},
                      {"packs", packs},
                      {"index_files", index_files},
                      {"hostname", record.hostname},
                      {"pid", record.pid}};
  return ToBytes(j.dump());
}

Result<DeletionRecord> DecodeDeletionRecord(ByteView plaintext) {
  auto j = nlohmann::json::parse(AsString(plaintext), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("not a JSON object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_unsigned() || version->get<uint64_t>() != 1)
    return Corrupt("unsupported version");
  DeletionRecord r;
  auto time = j.find("time_unix_ns");
  if (time == j.end() || !time->is_number_integer()) return Corrupt("missing time");
  r.time_unix_ns = time->get<int64_t>();
  if (!ReadIds(j, "packs", r.packs)) return Corrupt("bad pack list");
  if (!ReadIds(j, "index_files", r.index_files)) return Corrupt("bad index file list");
  auto host = j.find("hostname");
  if (host == j.end() || !host->is_string()) return Corrupt("missing hostname");
  r.hostname = host->get<std::string>();
  auto pid = j.find("pid");
  if (pid == j.end() || !pid->is_number_integer()) return Corrupt("missing pid");
  int64_t p = pid->get<int64_t>();
  if (p < 0 || p > INT32_MAX) return Corrupt("bad pid");
  r.pid = static_cast<int>(p);
  return r;
}

Result<Id> SaveDeletionRecord(Repository& repo, const DeletionRecord& record) {
  return repo.SaveObject(ObjectKind::kDeletion, EncodeDeletionRecord(record));
}

Result<DeletionRecord> LoadDeletionRecord(const Repository& repo, const Id& id) {
  BW_ASSIGN_OR_RETURN(auto plain, repo.LoadObject(ObjectKind::kDeletion, id));
  auto r = DecodeDeletionRecord(plain);
  if (!r.ok()) return r.error().Wrap("deletions/" + id.ShortHex());
  return r;
}

Result<std::vector<std::pair<Id, DeletionRecord>>> LoadAllDeletionRecords(const Repository& repo) {
  BW_ASSIGN_OR_RETURN(auto ids, repo.ListObjects(ObjectKind::kDeletion));
  std::vector<std::pair<Id, DeletionRecord>> out;
  for (const Id& id : ids) {
    auto r = LoadDeletionRecord(repo, id);
    if (!r.ok()) {
      // Phase two of a prune removes its record last; a record that vanished meanwhile is
      // simply done.
      if (r.error().code() == ErrorCode::kNotFound) continue;
      return r.error();
    }
    out.emplace_back(id, std::move(*r));
  }
  return out;
}

}  // namespace bulwark::repo
