#include "storage/s3/lifecycle.h"

#include <algorithm>
#include <cstdlib>

#include "storage/s3/s3_options.h"
#include "storage/s3/xml.h"

namespace bulwark::storage::s3 {

namespace {

int ToInt(const std::string& s) { return static_cast<int>(std::strtol(s.c_str(), nullptr, 10)); }

std::string TypePrefix(const std::string& type, const std::string& repo_prefix) {
  std::string base = repo_prefix.empty() ? "" : repo_prefix + "/";
  return type == "config" ? base + "config" : base + type + "/";
}

}  // namespace

Status CheckLifecyclePolicy(const LifecyclePolicy& policy) {
  for (const auto& [type, t] : policy.transitions) {
    if (!IsObjectType(type)) {
      return Error(ErrorCode::kUsage, "transition for unknown object type '" + type +
                                          "' (known: data, index, snapshots, wal, audit, keys, "
                                          "config)");
    }
    if (t.days < 0) {
      return Error(ErrorCode::kUsage, "transition." + type + ".days must not be negative");
    }
    BW_RETURN_IF_ERROR(CheckStorageClass(t.storage_class, "transition." + type + ".class"));
  }
  if (policy.abort_incomplete_upload_days < 1) {
    return Error(ErrorCode::kUsage, "abort_incomplete_upload_days must be at least 1");
  }
  return Status::Ok();
}

std::string LifecycleRuleId(const std::string& type, const std::string& repo_prefix) {
  return "bulwark-" + type + (repo_prefix.empty() ? "" : ":" + repo_prefix);
}

std::vector<LifecycleRule> WantedLifecycleRules(const std::string& repo_prefix,
                                                const LifecyclePolicy& policy) {
  std::vector<LifecycleRule> out;
  for (const char* type : kObjectTypes) {
    auto it = policy.transitions.find(type);
    if (it == policy.transitions.end()) continue;
    LifecycleRule r;
    r.id = LifecycleRuleId(type, repo_prefix);
    r.prefix = TypePrefix(type, repo_prefix);
    r.transition_days = it->second.days;
    r.storage_class = it->second.storage_class;
    out.push_back(std::move(r));
  }
  LifecycleRule abort;
  abort.id = LifecycleRuleId(kAbortRuleType, repo_prefix);
  abort.prefix = repo_prefix.empty() ? "" : repo_prefix + "/";
  abort.abort_days = policy.abort_incomplete_upload_days;
  out.push_back(std::move(abort));
  return out;
}

BucketLifecycle ParseBucketLifecycle(const std::string& xml, const std::string& repo_prefix) {
  std::vector<std::string> our_ids{LifecycleRuleId(kAbortRuleType, repo_prefix)};
  for (const char* type : kObjectTypes) our_ids.push_back(LifecycleRuleId(type, repo_prefix));
  BucketLifecycle out;
  for (std::string_view raw : XmlElements(xml, "Rule")) {
    std::string id = XmlText(raw, "ID");
    if (std::find(our_ids.begin(), our_ids.end(), id) == our_ids.end()) {
      out.others.push_back("<Rule>" + std::string(raw) + "</Rule>");
      out.other_ids.push_back(id);
      continue;
    }
    LifecycleRule r;
    r.id = id;
    std::vector<std::string_view> filter = XmlElements(raw, "Filter");
    r.prefix = XmlText(filter.empty() ? raw : filter.front(), "Prefix");
    r.enabled = XmlText(raw, "Status") == "Enabled";
    if (auto t = XmlElements(raw, "Transition"); !t.empty()) {
      r.transition_days = ToInt(XmlText(t.front(), "Days"));
      r.storage_class = XmlText(t.front(), "StorageClass");
    }
    if (auto a = XmlElements(raw, "AbortIncompleteMultipartUpload"); !a.empty()) {
      r.abort_days = ToInt(XmlText(a.front(), "DaysAfterInitiation"));
    }
    out.ours.push_back(std::move(r));
  }
  return out;
}

std::string BucketLifecycleXml(const std::vector<std::string>& others,
                               const std::vector<LifecycleRule>& ours) {
  std::string xml = "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& raw : others) xml += raw;
  for (const auto& r : ours) {
    xml += "<Rule><ID>" + XmlEscape(r.id) + "</ID><Filter><Prefix>" + XmlEscape(r.prefix) +
           "</Prefix></Filter><Status>" + (r.enabled ? "Enabled" : "Disabled") + "</Status>";
    if (!r.storage_class.empty()) {
      xml += "<Transition><Days>" + std::to_string(r.transition_days) + "</Days><StorageClass>" +
             XmlEscape(r.storage_class) + "</StorageClass></Transition>";
    }
    if (r.abort_days > 0) {
      xml += "<AbortIncompleteMultipartUpload><DaysAfterInitiation>" +
             std::to_string(r.abort_days) +
             "</DaysAfterInitiation></AbortIncompleteMultipartUpload>";
    }
    xml += "</Rule>";
  }
  xml += "</LifecycleConfiguration>";
  return xml;
}

bool SameRules(std::vector<LifecycleRule> have, std::vector<LifecycleRule> want) {
  auto by_id = [](const LifecycleRule& a, const LifecycleRule& b) { return a.id < b.id; };
  std::sort(have.begin(), have.end(), by_id);
  std::sort(want.begin(), want.end(), by_id);
  return have == want;
}

}  // namespace bulwark::storage::s3
