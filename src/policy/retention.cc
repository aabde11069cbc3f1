#include "policy/retention.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <tuple>

namespace bulwark::policy {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// Floor division, so times before 1970 land in the right day/hour.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Days since 1970-01-01 <-> proleptic Gregorian civil date (Howard Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return Civil{y + (m <= 2), m, d};
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

int64_t DayOf(int64_t t_ns) { return FloorDiv(t_ns, kNsPerSecond * kSecondsPerDay); }

int64_t HourBucket(int64_t t_ns) { return FloorDiv(t_ns, kNsPerSecond * 3600); }
int64_t DayBucket(int64_t t_ns) { return DayOf(t_ns); }
// The Monday that starts the (ISO) week; 1970-01-01 was a Thursday.
int64_t WeekBucket(int64_t t_ns) {
  int64_t d = DayOf(t_ns);
  int64_t weekday = ((d + 3) % 7 + 7) % 7;  // Monday = 0
  return d - weekday;
}
int64_t MonthBucket(int64_t t_ns) {
  Civil c = CivilFromDays(DayOf(t_ns));
  return c.year * 12 + (c.month - 1);
}
int64_t YearBucket(int64_t t_ns) { return CivilFromDays(DayOf(t_ns)).year; }

}  // namespace

std::string Duration::ToString() const {
  std::string out;
  if (years) out += fmt::format("{}y", years);
  if (months) out += fmt::format("{}m", months);
  if (days) out += fmt::format("{}d", days);
  if (hours) out += fmt::format("{}h", hours);
  return out.empty() ? "0h" : out;
}

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error(
        ErrorCode::kUsage,
        fmt::format("invalid duration \"{}\": {} (expected e.g. 90d, 12h, 2w, 1y2m)", text, why));
  };
  if (text.empty()) return bad("empty");
  Duration d;
  std::string seen;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return bad("a number must come before each unit");
    if (pos == text.size()) return bad("missing unit after the last number");
    int value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + pos, value);
    if (ec != std::errc() || ptr != text.data() + pos || value > 1'000'000)
      return bad("number out of range");
    char unit = text[pos++];
    if (seen.find(unit) != std::string::npos) return bad(fmt::format("unit '{}' twice", unit));
    seen += unit;
    switch (unit) {
      case 'y':
        d.years = value;
        break;
      case 'm':
        d.months = value;
        break;
      case 'w':
        d.days += value * 7;
        break;
      case 'd':
        d.days += value;
        break;
      case 'h':
        d.hours = value;
        break;
      default:
        return bad(fmt::format("unknown unit '{}'", unit));
    }
  }
  return d;
}

int64_t SubtractDuration(int64_t t_unix_ns, const Duration& d) {
  int64_t day = DayOf(t_unix_ns);
  int64_t within_day = t_unix_ns - day * kSecondsPerDay * kNsPerSecond;
  Civil c = CivilFromDays(day);
  // Years and months first, clamping the day to the target month (Mar 31 - 1m = Feb 28/29).
  int64_t month_index = c.year * 12 + (c.month - 1) - d.years * 12 - d.months;
  int64_t year = FloorDiv(month_index, 12);
  unsigned month = static_cast<unsigned>(month_index - year * 12) + 1;
  unsigned dom = std::min(c.day, DaysInMonth(year, month));
  int64_t new_day = DaysFromCivil(year, month, dom) - d.days;
  return new_day * kSecondsPerDay * kNsPerSecond + within_day -
         static_cast<int64_t>(d.hours) * 3600 * kNsPerSecond;
}

bool RetentionPolicy::Empty() const {
  return keep_last == 0 && keep_hourly == 0 && keep_daily == 0 && keep_weekly == 0 &&
         keep_monthly == 0 && keep_yearly == 0 && keep_within.IsZero() && keep_tags.empty();
}

std::string RetentionPolicy::ToString() const {
  std::vector<std::string> parts;
  auto count = [&](const char* name, int n) {
    if (n == 0) return;
    parts.push_back(n < 0 ? fmt::format("{} unlimited", name) : fmt::format("{} {}", name, n));
  };
  count("keep-last", keep_last);
  count("keep-hourly", keep_hourly);
  count("keep-daily", keep_daily);
  count("keep-weekly", keep_weekly);
  count("keep-monthly", keep_monthly);
  count("keep-yearly", keep_yearly);
  if (!keep_within.IsZero()) parts.push_back("keep-within " + keep_within.ToString());
  for (const auto& t : keep_tags) parts.push_back("keep-tag " + t);
  if (parts.empty()) return "(no rules)";
  std::string out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += ", " + parts[i];
  return out;
}

size_t RetentionGroup::KeptCount() const {
  return static_cast<size_t>(
      std::count_if(decisions.begin(), decisions.end(), [](const auto& d) { return d.keep; }));
}

std::vector<RetentionGroup> ApplyRetention(const std::vector<repo::Snapshot>& snapshots,
                                           const RetentionPolicy& policy) {
  std::map<std::pair<std::string, std::string>, std::vector<const repo::Snapshot*>> grouped;
  for (const auto& s : snapshots) grouped[{s.component, s.hostname}].push_back(&s);

  struct BucketRule {
    int count;
    const char* reason;
    std::function<int64_t(int64_t)> bucket;
  };
  std::vector<RetentionGroup> out;
  for (auto& [key, list] : grouped) {
    std::sort(list.begin(), list.end(), [](const repo::Snapshot* a, const repo::Snapshot* b) {
      return std::tie(a->time_unix_ns, a->id) > std::tie(b->time_unix_ns, b->id);
    });
    RetentionGroup group;
    group.component = key.first;
    group.hostname = key.second;

    // keep-last: every snapshot is its own bucket.
    std::vector<BucketRule> rules = {
        {policy.keep_last, "last snapshot", nullptr},
        {policy.keep_hourly, "hourly snapshot", HourBucket},
        {policy.keep_daily, "daily snapshot", DayBucket},
        {policy.keep_weekly, "weekly snapshot", WeekBucket},
        {policy.keep_monthly, "monthly snapshot", MonthBucket},
        {policy.keep_yearly, "yearly snapshot", YearBucket},
    };
    std::vector<std::optional<int64_t>> last_bucket(rules.size());
    std::vector<int> remaining;
    for (const auto& r : rules) remaining.push_back(r.count);

    std::optional<int64_t> within_limit;
    if (!policy.keep_within.IsZero() && !list.empty())
      within_limit = SubtractDuration(list.front()->time_unix_ns, policy.keep_within);

    for (size_t i = 0; i < list.size(); ++i) {
      const repo::Snapshot& s = *list[i];
      SnapshotDecision d;
      d.snapshot = s;
      for (size_t r = 0; r < rules.size(); ++r) {
        if (remaining[r] == 0) continue;
        int64_t b = rules[r].bucket ? rules[r].bucket(s.time_unix_ns) : static_cast<int64_t>(i);
        if (last_bucket[r] && *last_bucket[r] == b) continue;
        last_bucket[r] = b;
        if (remaining[r] > 0) --remaining[r];
        d.reasons.push_back(rules[r].reason);
      }
      if (within_limit && s.time_unix_ns >= *within_limit)
        d.reasons.push_back("within " + policy.keep_within.ToString());
      for (const auto& tag : policy.keep_tags) {
        if (std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end())
          d.reasons.push_back("tag " + tag);
      }
      d.keep = !d.reasons.empty();
      group.decisions.push_back(std::move(d));
    }
    out.push_back(std::move(group));
  }
  return out;
}

}  // namespace bulwark::policy
