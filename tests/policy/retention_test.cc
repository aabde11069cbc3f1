#include "policy/retention.h"

#include <gtest/gtest.h>

#include <ctime>
#include <set>
#include <string>
#include <vector>

namespace bulwark::policy {
namespace {

// "YYYY-MM-DD HH:MM" in UTC -> unix ns.
int64_t T(const char* text) {
  std::tm tm{};
  int y, mo, d, h, mi;
  EXPECT_EQ(sscanf(text, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi), 5) << text;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
}

repo::Snapshot Snap(const char* time, std::string component = "config", std::string host = "h1",
                    std::vector<std::string> tags = {}) {
  repo::Snapshot s;
  s.time_unix_ns = T(time);
  s.component = std::move(component);
  s.hostname = std::move(host);
  s.tags = std::move(tags);
  // Distinct, time-ordered IDs so that results are easy to name.
  std::string name = time;
  for (size_t i = 0; i < name.size() && i < 32; ++i) s.id.bytes[i] = static_cast<uint8_t>(name[i]);
  return s;
}

// Times of the kept snapshots of the single group.
std::set<std::string> KeptTimes(const std::vector<repo::Snapshot>& snaps,
                                const RetentionPolicy& p) {
  auto groups = ApplyRetention(snaps, p);
  EXPECT_EQ(groups.size(), 1u);
  std::set<std::string> kept;
  for (const auto& d : groups[0].decisions) {
    if (!d.keep) continue;
    for (const auto& s : snaps)
      if (s.id == d.snapshot.id) {
        char buf[32];
        std::time_t secs = s.time_unix_ns / 1'000'000'000;
        std::tm tm{};
        gmtime_r(&secs, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
        kept.insert(buf);
      }
  }
  return kept;
}

std::vector<repo::Snapshot> Series(const std::vector<const char*>& times) {
  std::vector<repo::Snapshot> out;
  for (auto* t : times) out.push_back(Snap(t));
  return out;
}

// A realistic series: several snapshots a day over two months crossing a year boundary.
const std::vector<const char*> kSeries = {
    "2025-11-30 23:00", "2025-12-01 01:00", "2025-12-01 01:30", "2025-12-01 13:00",
    "2025-12-07 10:00",  // Sunday
    "2025-12-08 09:00",  // Monday
    "2025-12-31 22:00", "2025-12-31 23:59", "2026-01-01 00:01", "2026-01-01 00:30",
    "2026-01-05 12:00",  // Monday
    "2026-01-06 12:00",
};

struct RuleCase {
  const char* name;
  RetentionPolicy policy;
  std::set<std::string> kept;
};

RetentionPolicy P(int last, int hourly, int daily, int weekly, int monthly, int yearly) {
  RetentionPolicy p;
  p.keep_last = last;
  p.keep_hourly = hourly;
  p.keep_daily = daily;
  p.keep_weekly = weekly;
  p.keep_monthly = monthly;
  p.keep_yearly = yearly;
  return p;
}

TEST(RetentionTest, BucketRules) {
  std::vector<RuleCase> cases = {
      {"last1", P(1, 0, 0, 0, 0, 0), {"2026-01-06 12:00"}},
      {"last3", P(3, 0, 0, 0, 0, 0), {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30"}},
      {"last-all", P(-1, 0, 0, 0, 0, 0), std::set<std::string>(kSeries.begin(), kSeries.end())},
      {"last-more-than-exist", P(100, 0, 0, 0, 0, 0),
       std::set<std::string>(kSeries.begin(), kSeries.end())},
      // Hourly: 00:01 and 00:30 of Jan 1 share an hour; the newest of the two is kept.
      {"hourly4",
       P(0, 4, 0, 0, 0, 0),
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2025-12-31 23:59"}},
      {"hourly-dec1",
       P(0, 10, 0, 0, 0, 0),
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2025-12-31 23:59",
        "2025-12-31 22:00", "2025-12-08 09:00", "2025-12-07 10:00", "2025-12-01 13:00",
        "2025-12-01 01:30", "2025-11-30 23:00"}},
      {"daily3", P(0, 0, 3, 0, 0, 0), {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30"}},
      {"daily-unlimited",
       P(0, 0, -1, 0, 0, 0),
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2025-12-31 23:59",
        "2025-12-08 09:00", "2025-12-07 10:00", "2025-12-01 13:00", "2025-11-30 23:00"}},
      // Weeks start on Monday: Jan 5-6 2026 are one week, Dec 29 - Jan 4 another (crossing the
      // year), Dec 8 a third, Dec 1-7 a fourth (Sunday Dec 7 belongs with Monday Dec 1).
      {"weekly5",
       P(0, 0, 0, 5, 0, 0),
       {"2026-01-06 12:00", "2026-01-01 00:30", "2025-12-08 09:00", "2025-12-07 10:00",
        "2025-11-30 23:00"}},
      {"monthly2", P(0, 0, 0, 0, 2, 0), {"2026-01-06 12:00", "2025-12-31 23:59"}},
      {"monthly-all",
       P(0, 0, 0, 0, -1, 0),
       {"2026-01-06 12:00", "2025-12-31 23:59", "2025-11-30 23:00"}},
      {"yearly5", P(0, 0, 0, 0, 0, 5), {"2026-01-06 12:00", "2025-12-31 23:59"}},
      // Rules combine: a snapshot is kept if any rule keeps it.
      {"last1+monthly3",
       P(1, 0, 0, 0, 3, 0),
       {"2026-01-06 12:00", "2025-12-31 23:59", "2025-11-30 23:00"}},
      {"daily2+yearly2",
       P(0, 0, 2, 0, 0, 2),
       {"2026-01-06 12:00", "2026-01-05 12:00", "2025-12-31 23:59"}},
  };
  auto snaps = Series(kSeries);
  for (const auto& c : cases) {
    EXPECT_EQ(KeptTimes(snaps, c.policy), c.kept) << c.name;
  }
}

TEST(RetentionTest, KeepWithinIsRelativeToNewestSnapshot) {
  struct Case {
    const char* within;
    std::set<std::string> kept;
  };
  auto snaps = Series(kSeries);
  std::vector<Case> cases = {
      {"1h", {"2026-01-06 12:00"}},
      {"24h", {"2026-01-06 12:00", "2026-01-05 12:00"}},
      {"1d", {"2026-01-06 12:00", "2026-01-05 12:00"}},
      {"5d12h", {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2026-01-01 00:01"}},
      {"1w",
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2026-01-01 00:01",
        "2025-12-31 23:59", "2025-12-31 22:00"}},
      {"4w",
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2026-01-01 00:01",
        "2025-12-31 23:59", "2025-12-31 22:00"}},
      {"30d",
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2026-01-01 00:01",
        "2025-12-31 23:59", "2025-12-31 22:00", "2025-12-08 09:00"}},
      // 1 month back from Jan 6 12:00 is Dec 6 12:00.
      {"1m",
       {"2026-01-06 12:00", "2026-01-05 12:00", "2026-01-01 00:30", "2026-01-01 00:01",
        "2025-12-31 23:59", "2025-12-31 22:00", "2025-12-08 09:00", "2025-12-07 10:00"}},
      {"1y", std::set<std::string>(kSeries.begin(), kSeries.end())},
  };
  for (const auto& c : cases) {
    RetentionPolicy p;
    auto d = ParseDuration(c.within);
    ASSERT_TRUE(d.ok()) << c.within;
    p.keep_within = *d;
    EXPECT_EQ(KeptTimes(snaps, p), c.kept) << c.within;
  }
}

TEST(RetentionTest, KeepTag) {
  std::vector<repo::Snapshot> snaps = {
      Snap("2026-01-01 00:00", "config", "h1", {"release"}),
      Snap("2026-01-02 00:00", "config", "h1", {"nightly"}),
      Snap("2026-01-03 00:00", "config", "h1", {"nightly", "keep"}),
      Snap("2026-01-04 00:00", "config", "h1", {}),
  };
  RetentionPolicy p;
  p.keep_tags = {"release", "keep"};
  EXPECT_EQ(KeptTimes(snaps, p), (std::set<std::string>{"2026-01-01 00:00", "2026-01-03 00:00"}));
  auto groups = ApplyRetention(snaps, p);
  for (const auto& d : groups[0].decisions) {
    if (d.snapshot.id == snaps[2].id) {
      EXPECT_EQ(d.reasons, std::vector<std::string>{"tag keep"});
    }
  }
}

TEST(RetentionTest, GroupsByComponentThenHostAndListsReasons) {
  std::vector<repo::Snapshot> snaps = {
      Snap("2026-01-01 10:00", "pg", "db1"),     Snap("2026-01-02 10:00", "pg", "db1"),
      Snap("2026-01-01 11:00", "pg", "db2"),     Snap("2026-01-01 09:00", "config", "db1"),
      Snap("2026-01-01 08:00", "config", "db1"),
  };
  RetentionPolicy p;
  p.keep_last = 1;
  p.keep_daily = 2;
  auto groups = ApplyRetention(snaps, p);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].component, "config");
  EXPECT_EQ(groups[1].component, "pg");
  EXPECT_EQ(groups[1].hostname, "db1");
  EXPECT_EQ(groups[2].hostname, "db2");
  // Each group keeps its own newest snapshot, for both reasons.
  for (const auto& g : groups) {
    ASSERT_FALSE(g.decisions.empty());
    EXPECT_TRUE(g.decisions[0].keep);
    EXPECT_EQ(g.decisions[0].reasons,
              (std::vector<std::string>{"last snapshot", "daily snapshot"}));
    for (size_t i = 1; i < g.decisions.size(); ++i) {
      EXPECT_LE(g.decisions[i].snapshot.time_unix_ns, g.decisions[i - 1].snapshot.time_unix_ns);
    }
  }
  EXPECT_EQ(groups[0].KeptCount(), 1u);
  EXPECT_EQ(groups[0].RemovedCount(), 1u);
  EXPECT_EQ(groups[1].KeptCount(), 2u);  // two different days
  EXPECT_EQ(groups[2].KeptCount(), 1u);
}

TEST(RetentionTest, EmptyPolicyKeepsNothingAndSaysSo) {
  RetentionPolicy p;
  EXPECT_TRUE(p.Empty());
  auto groups = ApplyRetention(Series({"2026-01-01 00:00"}), p);
  EXPECT_FALSE(groups[0].decisions[0].keep);
  p.keep_within = Duration{0, 0, 1, 0};
  EXPECT_FALSE(p.Empty());
  EXPECT_EQ(p.ToString(), "keep-within 1d");
}

TEST(RetentionTest, ParseDuration) {
  struct Case {
    const char* text;
    bool ok;
    Duration want;
  };
  std::vector<Case> cases = {
      {"90d", true, {0, 0, 90, 0}},
      {"12h", true, {0, 0, 0, 12}},
      {"2w", true, {0, 0, 14, 0}},
      {"1y2m", true, {1, 2, 0, 0}},
      {"1y2m3w4d5h", true, {1, 2, 25, 5}},
      {"", false, {}},
      {"d", false, {}},
      {"10", false, {}},
      {"5x", false, {}},
      {"1d1d", false, {}},
      {"-1d", false, {}},
      {"1.5d", false, {}},
      {"99999999999d", false, {}},
  };
  for (const auto& c : cases) {
    auto r = ParseDuration(c.text);
    EXPECT_EQ(r.ok(), c.ok) << c.text;
    if (c.ok && r.ok()) {
      EXPECT_EQ(*r, c.want) << c.text;
    }
    if (!c.ok && !r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kUsage);
    }
  }
  EXPECT_EQ(ParseDuration("1y2m14d")->ToString(), "1y2m14d");
}

TEST(RetentionTest, SubtractDurationCalendar) {
  EXPECT_EQ(SubtractDuration(T("2026-03-31 10:00"), Duration{0, 1, 0, 0}), T("2026-02-28 10:00"));
  EXPECT_EQ(SubtractDuration(T("2024-03-31 10:00"), Duration{0, 1, 0, 0}), T("2024-02-29 10:00"));
  EXPECT_EQ(SubtractDuration(T("2026-01-15 00:00"), Duration{1, 2, 0, 0}), T("2024-11-15 00:00"));
  EXPECT_EQ(SubtractDuration(T("2026-01-01 05:00"), Duration{0, 0, 1, 6}), T("2025-12-30 23:00"));
  EXPECT_EQ(SubtractDuration(T("1970-01-01 00:00"), Duration{0, 0, 0, 1}), T("1969-12-31 23:00"));
}

}  // namespace
}  // namespace bulwark::policy
