// `bulwark s3-lifecycle [--apply]`: shows, and with --apply writes, the bucket lifecycle rules
// the config wants for an S3 repository ([s3.transition] per object type, plus the abort of
// incomplete multipart uploads). Rules of others on the bucket are kept verbatim.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "storage/s3/lifecycle.h"
#include "storage/s3/s3_backend.h"

namespace bulwark::cli {

namespace {

namespace s3 = storage::s3;

nlohmann::json RuleJson(const s3::LifecycleRule& r) {
  nlohmann::json j = {{"id", r.id}, {"prefix", r.prefix}, {"enabled", r.enabled}};
  if (!r.storage_class.empty()) {
    j["transition_days"] = r.transition_days;
    j["storage_class"] = r.storage_class;
  }
  if (r.abort_days > 0) j["abort_incomplete_upload_days"] = r.abort_days;
  return j;
}

std::string RuleText(const s3::LifecycleRule& r) {
  std::string what;
  if (!r.storage_class.empty()) {
    what = fmt::format("to {} after {} day{}", r.storage_class, r.transition_days,
                       r.transition_days == 1 ? "" : "s");
  }
  if (r.abort_days > 0) {
    what += fmt::format("{}abort incomplete uploads after {} day{}", what.empty() ? "" : "; ",
                        r.abort_days, r.abort_days == 1 ? "" : "s");
  }
  return fmt::format("  {}  prefix '{}'  {}{}", r.id, r.prefix, what,
                     r.enabled ? "" : " (disabled)");
}

int RunS3Lifecycle(Context& ctx, bool apply) {
  const char* what = "s3-lifecycle";
  auto target = ctx.PrimaryTarget();
  if (!target.ok()) return ReportError(target.error(), what);
  if (Status st = s3::CheckLifecyclePolicy(target->s3_lifecycle); !st.ok()) {
    return ReportError(st.error(), what);
  }
  auto backend = ctx.OpenBackendAt(*target);
  if (!backend.ok()) return ReportError(backend.error(), what);
  auto* bucket = dynamic_cast<s3::S3Backend*>(backend->get());
  if (bucket == nullptr) {
    return ReportError(Error(ErrorCode::kUsage,
                             "lifecycle rules need an S3 repository "
                             "(s3://bucket/prefix), not " +
                                 (*backend)->Location()),
                       what);
  }
  const std::string& prefix = bucket->options().prefix;
  auto current = bucket->GetBucketLifecycle();
  if (!current.ok()) return ReportError(current.error(), what);
  const s3::BucketLifecycle have = s3::ParseBucketLifecycle(*current, prefix);
  const std::vector<s3::LifecycleRule> want =
      s3::WantedLifecycleRules(prefix, target->s3_lifecycle);
  const bool up_to_date = s3::SameRules(have.ours, want);
  bool applied = false;
  if (apply && !up_to_date) {
    Status st = bucket->PutBucketLifecycle(s3::BucketLifecycleXml(have.others, want));
    if (!st.ok()) return ReportError(st.error(), what);
    applied = true;
  }

  if (ctx.json()) {
    nlohmann::json j = {{"bucket", bucket->options().bucket},
                        {"prefix", prefix},
                        {"other_rules", have.other_ids},
                        {"current", nlohmann::json::array()},
                        {"wanted", nlohmann::json::array()},
                        {"up_to_date", up_to_date},
                        {"applied", applied}};
    for (const auto& r : have.ours) j["current"].push_back(RuleJson(r));
    for (const auto& r : want) j["wanted"].push_back(RuleJson(r));
    PrintJson(j);
    return 0;
  }
  if (ctx.quiet()) return 0;
  fmt::print("lifecycle of bucket {} for the repository under '{}'\n", bucket->options().bucket,
             prefix);
  fmt::print("Bulwark's rules on the bucket:{}\n", have.ours.empty() ? " none" : "");
  for (const auto& r : have.ours) fmt::print("{}\n", RuleText(r));
  fmt::print("rules the config wants:\n");
  for (const auto& r : want) fmt::print("{}\n", RuleText(r));
  if (!have.others.empty()) {
    std::string ids;
    for (const auto& id : have.other_ids) ids += (ids.empty() ? "" : ", ") + id;
    fmt::print("{} other rule{} on the bucket, kept as they are: {}\n", have.others.size(),
               have.others.size() == 1 ? "" : "s", ids);
  }
  if (up_to_date) {
    fmt::print("the bucket's rules are up to date\n");
  } else if (applied) {
    fmt::print("applied: the bucket now has the rules the config wants\n");
  } else {
    fmt::print("the bucket's rules differ: run `bulwark s3-lifecycle --apply` to write them\n");
  }
  return 0;
}

}  // namespace

void RegisterS3Lifecycle(CLI::App& app, Context& ctx) {
  auto apply = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand(
      "s3-lifecycle", "Show or write the bucket's lifecycle rules for storage class transitions");
  sub->add_flag("--apply", *apply,
                "Write the rules the config wants (needs s3:PutLifecycleConfiguration)");
  sub->callback(
      [&ctx, apply] { ctx.action = [&ctx, apply] { return RunS3Lifecycle(ctx, *apply); }; });
}

}  // namespace bulwark::cli
