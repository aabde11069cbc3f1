// Bucket lifecycle rules that Bulwark manages for one repository: age-based transitions of an
// object type (data, index, ...) to another storage class, and the abort of incomplete
// multipart uploads. Builds the rules a policy wants, reads Bulwark's rules out of a bucket's
// lifecycle configuration, and writes a configuration that keeps every other rule verbatim.
// Pure functions; safe from any thread. Only the `s3-lifecycle` admin command uses them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace bulwark::storage::s3 {

// Move objects of one type to `storage_class` `days` days after they were written.
struct Transition {
  int days = 0;
  std::string storage_class;
};

struct LifecyclePolicy {
  std::map<std::string, Transition> transitions;  // object type (kObjectTypes) -> transition
  int abort_incomplete_upload_days = 7;
};

// kUsage for an unknown object type, a negative day count, a storage class that needs a
// restore request (CheckStorageClass) or abort_incomplete_upload_days < 1.
Status CheckLifecyclePolicy(const LifecyclePolicy& policy);

// One rule in the shape Bulwark writes: a Filter Prefix plus either a Transition or an
// AbortIncompleteMultipartUpload.
struct LifecycleRule {
  std::string id;
  std::string prefix;  // Filter Prefix (full key prefix in the bucket)
  bool enabled = true;
  int transition_days = 0;
  std::string storage_class;  // empty: no Transition
  int abort_days = 0;         // 0: no AbortIncompleteMultipartUpload
  bool operator==(const LifecycleRule&) const = default;
};

inline constexpr const char kAbortRuleType[] = "abort-incomplete-uploads";

// "bulwark-<type>", and "bulwark-<type>:<repo prefix>" for a repository under a prefix (so
// that repositories sharing a bucket have rules of their own).
std::string LifecycleRuleId(const std::string& type, const std::string& repo_prefix);

// The rules `policy` wants for the repository at `repo_prefix` (no leading/trailing '/'):
// one per transition, Filter Prefix <repo prefix>/<type>/ (<repo prefix>/config for the
// config object), then always bulwark-abort-incomplete-uploads on <repo prefix>/.
std::vector<LifecycleRule> WantedLifecycleRules(const std::string& repo_prefix,
                                                const LifecyclePolicy& policy);

// A bucket's lifecycle configuration split into this repository's rules (IDs that
// LifecycleRuleId gives for `repo_prefix`) and every other rule, kept as raw
// "<Rule>...</Rule>" text in their order.
struct BucketLifecycle {
  std::vector<LifecycleRule> ours;
  std::vector<std::string> others;
  std::vector<std::string> other_ids;  // the IDs of `others` ("" when a rule has none)
};
BucketLifecycle ParseBucketLifecycle(const std::string& xml, const std::string& repo_prefix);

// A LifecycleConfiguration document: `others` verbatim, then `ours`.
std::string BucketLifecycleXml(const std::vector<std::string>& others,
                               const std::vector<LifecycleRule>& ours);

// Whether `have` holds exactly the rules of `want`, in any order.
bool SameRules(std::vector<LifecycleRule> have, std::vector<LifecycleRule> want);

}  // namespace bulwark::storage::s3
