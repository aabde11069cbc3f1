#include "audit/audit_copy.h"

#include <set>

namespace bulwark::audit {

Result<uint64_t> CopyAuditRecords(const AuditLog& from, const std::string& from_repository_id,
                                  const std::string& from_location, AuditLog& to) {
  BW_ASSIGN_OR_RETURN(auto existing, to.List());
  std::set<uint64_t> copied;
  for (const auto& r : existing) {
    auto it = r.details.find("copied_from");
    if (it == r.details.end() || !it->is_object()) continue;
    if (it->value("repository_id", std::string()) != from_repository_id) continue;
    if (auto seq = it->find("seq"); seq != it->end() && seq->is_number_unsigned()) {
      copied.insert(seq->get<uint64_t>());
    }
  }
  BW_ASSIGN_OR_RETURN(auto source, from.List());
  uint64_t appended = 0;
  for (const auto& r : source) {
    if (copied.count(r.seq)) continue;
    AuditRecord copy = r;
    nlohmann::json provenance = {{"repository_id", from_repository_id},
                                 {"location", from_location},
                                 {"seq", r.seq},
                                 {"record_hash", r.record_hash}};
    if (!copy.details.is_object()) copy.details = nlohmann::json::object();
    // A record that was itself a copy keeps its origin one level down.
    if (auto it = copy.details.find("copied_from"); it != copy.details.end()) {
      provenance["copied_from"] = *it;
    }
    copy.details["copied_from"] = provenance;
    copy.seq = 0;
    copy.prev_hash.clear();
    copy.record_hash.clear();
    auto st = to.Append(std::move(copy));
    if (!st.ok()) return st.error().Wrap("copying audit record " + std::to_string(r.seq));
    ++appended;
  }
  return appended;
}

}  // namespace bulwark::audit
