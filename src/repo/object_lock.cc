#include "repo/object_lock.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "core/time_format.h"

namespace bulwark::repo {

storage::ObjectLock ObjectLockConfig::ToBackend() const {
  storage::ObjectLock lock;
  lock.mode = mode == "governance" ? storage::ObjectLock::Mode::kGovernance
                                   : storage::ObjectLock::Mode::kCompliance;
  lock.retain_seconds = retain_seconds;
  lock.exempt_prefixes = {"locks/"};
  return lock;
}

std::string ObjectLockConfig::Describe() const {
  if (!enabled()) return "none";
  std::string period;
  if (retain_seconds % 86400 == 0) {
    int64_t d = retain_seconds / 86400;
    period = fmt::format("{} day{}", d, d == 1 ? "" : "s");
  } else {
    period = fmt::format("{} s", retain_seconds);
  }
  return mode + ", " + period;
}

Status ValidateObjectLock(const ObjectLockConfig& c, ErrorCode code) {
  if (!c.enabled()) return Status::Ok();
  if (c.mode != "governance" && c.mode != "compliance") {
    return Error(code, "object lock mode must be governance or compliance, not '" + c.mode + "'");
  }
  constexpr int64_t kMax = int64_t{100} * 366 * 86400;
  if (c.retain_seconds < 1 || c.retain_seconds > kMax) {
    return Error(code, "object lock retention must be between 1 second and 100 years");
  }
  return Status::Ok();
}

Result<int64_t> ParseRetention(const std::string& text, const std::string& what) {
  auto bad = Error(ErrorCode::kUsage, what +
                                          " must be a number of days (e.g. 90), or a number "
                                          "with s, m, h or d, greater than 0; got '" +
                                          text + "'");
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 9) return bad;
  const std::string unit = text.substr(digits);
  const int64_t n = std::stoll(text.substr(0, digits));
  int64_t scale = unit.empty() || unit == "d" ? 86400 : unit == "h" ? 3600 : unit == "m" ? 60 : 0;
  if (unit == "s") scale = 1;
  if (scale == 0 || n <= 0) return bad;
  return n * scale;
}

Status CheckComponentLock(const ObjectLockConfig& repository, const ObjectLockConfig& component,
                          const std::string& name) {
  if (!component.enabled()) return Status::Ok();
  if (Status st = ValidateObjectLock(component, ErrorCode::kUsage); !st.ok()) {
    return Error(ErrorCode::kUsage, "component " + name + ": " + st.error().message());
  }
  const std::string what = "component " + name + "'s object lock (" + component.Describe() + ")";
  if (!repository.enabled()) {
    return Error(ErrorCode::kUsage,
                 what +
                     " needs a repository created with object lock (`init --object-lock "
                     "governance|compliance --retain DAYS`); this one has none");
  }
  if (repository.mode == "compliance" && component.mode == "governance") {
    return Error(ErrorCode::kUsage, what + " is weaker than the repository's (" +
                                        repository.Describe() + "): governance can be bypassed");
  }
  if (component.retain_seconds < repository.retain_seconds) {
    return Error(ErrorCode::kUsage,
                 what + " is shorter than the repository's (" + repository.Describe() + ")");
  }
  return Status::Ok();
}

nlohmann::json ObjectLockToJson(const ObjectLockConfig& c) {
  return {{"mode", c.mode}, {"retain_seconds", c.retain_seconds}};
}

Result<ObjectLockConfig> ObjectLockFromJson(const nlohmann::json& j) {
  ObjectLockConfig c;
  try {
    c.mode = j.at("mode").get<std::string>();
    c.retain_seconds = j.at("retain_seconds").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kIntegrity, std::string("object_lock: ") + e.what());
  }
  if (c.mode.empty()) return Error(ErrorCode::kIntegrity, "object_lock: empty mode");
  BW_RETURN_IF_ERROR(ValidateObjectLock(c, ErrorCode::kIntegrity));
  return c;
}

int64_t RetainUntil(const ObjectLockConfig& c, const storage::ObjectInfo& info,
                    int64_t margin_seconds) {
  if (info.retain_until_unix > 0) return info.retain_until_unix;
  if (!c.enabled()) return 0;
  return info.mtime_unix + c.retain_seconds + margin_seconds;
}

void LockedTally::Add(uint64_t size, int64_t until_unix) {
  ++objects;
  bytes += size;
  first_unlock_unix = first_unlock_unix == 0 ? until_unix : std::min(first_unlock_unix, until_unix);
  last_unlock_unix = std::max(last_unlock_unix, until_unix);
}

std::string FormatUnlockTime(int64_t unix_seconds) {
  return FormatUtc(unix_seconds, "%Y-%m-%d %H:%M:%S UTC");
}

std::string LockedTally::Message(const std::string& one, const std::string& many) const {
  if (objects == 0) return "";
  std::string s = fmt::format("{} {} ({:.1f} MiB) {} under object lock and kept; ", objects,
                              objects == 1 ? one : many, static_cast<double>(bytes) / (1 << 20),
                              objects == 1 ? "is" : "are");
  if (objects == 1 || first_unlock_unix == last_unlock_unix) {
    return s + "deletable from " + FormatUnlockTime(first_unlock_unix);
  }
  return s + "the first becomes deletable on " + FormatUnlockTime(first_unlock_unix) +
         ", the last on " + FormatUnlockTime(last_unlock_unix);
}

nlohmann::json LockedTally::ToJson() const {
  nlohmann::json j = {{"objects", objects}, {"bytes", bytes}};
  if (objects > 0) {
    j["first_deletable"] = FormatUnlockTime(first_unlock_unix);
    j["last_deletable"] = FormatUnlockTime(last_unlock_unix);
    j["first_deletable_unix"] = first_unlock_unix;
    j["last_deletable_unix"] = last_unlock_unix;
  }
  return j;
}

}  // namespace bulwark::repo
