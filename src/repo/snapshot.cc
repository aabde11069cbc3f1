#include "repo/snapshot.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "repo/listed_records.h"
#include "repo/retention_hold.h"

namespace bulwark::repo {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;

Error Corrupt(const std::string& what) { return Error(ErrorCode::kIntegrity, "snapshot: " + what); }

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), so time
// conversion does not depend on the process's time zone or locale.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits.
bool Digits(std::string_view s, size_t& pos, size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::string FormatTimeRfc3339(int64_t unix_ns) {
  int64_t secs = unix_ns / kNsPerSec;
  int64_t frac = unix_ns % kNsPerSec;
  if (frac < 0) {
    frac += kNsPerSec;
    --secs;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  char buf[64];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  std::string out(buf, n);
  if (frac != 0) {
    std::snprintf(buf, sizeof(buf), ".%09lld", static_cast<long long>(frac));
    out += buf;
  }
  return out + "Z";
}

// Accepts "YYYY-MM-DD", then optionally 'T' or ' ' and "HH:MM[:SS[.fraction]]", then
// optionally a zone: 'Z', or +HH, +HHMM, +HH:MM (or '-'), possibly after one space. No zone
// means UTC.
Result<int64_t> ParseTime(std::string_view text) {
  auto bad = [&] {
    return Error(ErrorCode::kUsage, "cannot parse time '" + std::string(text) +
                                        "' (expected e.g. 2026-11-24T10:15:00Z or "
                                        "\"2026-11-24 10:15:00+01\")");
  };
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  size_t pos = 0;
  int64_t year, month, day, hour = 0, minute = 0, second = 0, frac_ns = 0;
  if (!Digits(s, pos, 4, year) || !Expect(s, pos, '-') || !Digits(s, pos, 2, month) ||
      !Expect(s, pos, '-') || !Digits(s, pos, 2, day))
    return bad();
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, static_cast<unsigned>(month)))
    return bad();
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    if (!Digits(s, pos, 2, hour) || !Expect(s, pos, ':') || !Digits(s, pos, 2, minute))
      return bad();
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!Digits(s, pos, 2, second)) return bad();
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        size_t start = pos;
        int64_t scale = kNsPerSec / 10;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          frac_ns += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start || pos - start > 9) return bad();
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return bad();  // 60: leap second
  }
  int64_t offset_sec = 0;
  if (pos < s.size() && s[pos] == ' ') ++pos;
  if (pos < s.size()) {
    char c = s[pos];
    if (c == 'Z' || c == 'z') {
      ++pos;
    } else if (c == '+' || c == '-') {
      ++pos;
      int64_t oh = 0, om = 0;
      if (!Digits(s, pos, 2, oh)) return bad();
      if (pos < s.size()) {
        if (s[pos] == ':') ++pos;
        if (!Digits(s, pos, 2, om)) return bad();
      }
      if (oh > 23 || om > 59) return bad();
      offset_sec = (oh * 3600 + om * 60) * (c == '-' ? -1 : 1);
    } else {
      return bad();
    }
  }
  if (pos != s.size()) return bad();
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_sec;
  return secs * kNsPerSec + frac_ns;
}

nlohmann::json SnapshotToJson(const Snapshot& s) {
  nlohmann::json j;
  if (!s.id.IsZero()) j["id"] = s.id.Hex();
  j["version"] = 1;
  j["time"] = FormatTimeRfc3339(s.time_unix_ns);
  j["time_unix_ns"] = s.time_unix_ns;
  j["hostname"] = s.hostname;
  j["username"] = s.username;
  j["component"] = s.component;
  j["kind"] = s.kind;
  j["tags"] = s.tags;
  j["paths"] = s.paths;
  if (s.parent) j["parent"] = s.parent->Hex();
  j["tree"] = s.tree.Hex();
  j["source"] = s.source;
  j["summary"] = s.summary;
  j["errors"] = s.errors;
  j["audit_seq"] = s.audit_seq;
  j["program_version"] = s.program_version;
  return j;
}

Result<Snapshot> SnapshotFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Corrupt("not a JSON object");
  Snapshot s;
  try {
    if (j.at("version").get<int64_t>() != 1) return Corrupt("unsupported version");
    auto id_of = [](const nlohmann::json& v, const char* what) -> Result<Id> {
      auto id = Id::FromHex(v.get<std::string>());
      if (!id) return Corrupt(std::string("bad ") + what);
      return *id;
    };
    if (j.contains("id")) {
      BW_ASSIGN_OR_RETURN(s.id, id_of(j["id"], "id"));
    }
    s.time_unix_ns = j.at("time_unix_ns").get<int64_t>();
    s.hostname = j.at("hostname").get<std::string>();
    s.username = j.at("username").get<std::string>();
    s.component = j.at("component").get<std::string>();
    s.kind = j.at("kind").get<std::string>();
    s.tags = j.at("tags").get<std::vector<std::string>>();
    s.paths = j.at("paths").get<std::vector<std::string>>();
    if (j.contains("parent") && !j["parent"].is_null()) {
      BW_ASSIGN_OR_RETURN(s.parent, id_of(j["parent"], "parent"));
    }
    BW_ASSIGN_OR_RETURN(s.tree, id_of(j.at("tree"), "tree"));
    s.source = j.at("source");
    s.summary = j.at("summary");
    if (!s.source.is_object() || !s.summary.is_object()) return Corrupt("bad source or summary");
    s.errors = j.at("errors").get<std::vector<std::string>>();
    s.audit_seq = j.at("audit_seq").get<uint64_t>();
    s.program_version = j.at("program_version").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(e.what());
  }
  return s;
}

Result<Id> SaveSnapshot(Repository& repo, const Snapshot& snapshot) {
  // Under object lock, the data it shares with older backups is held as long as it.
  BW_RETURN_IF_ERROR(HoldSnapshotData(repo, snapshot.tree));
  nlohmann::json j = SnapshotToJson(snapshot);
  j.erase("id");  // the ID is the hash of the stored object, so it cannot be inside it
  return repo.SaveObject(ObjectKind::kSnapshot, AsBytes(j.dump()));
}

Result<Snapshot> LoadSnapshot(const Repository& repo, const Id& id) {
  BW_ASSIGN_OR_RETURN(auto plain, repo.LoadObject(ObjectKind::kSnapshot, id));
  auto j = nlohmann::json::parse(AsString(plain), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(id.ShortHex() + ": not JSON");
  j.erase("id");
  auto s = SnapshotFromJson(j);
  if (!s.ok()) return s.error().Wrap(id.ShortHex());
  s->id = id;
  return s;
}

Result<std::vector<Snapshot>> LoadAllSnapshots(const Repository& repo) {
  BW_ASSIGN_OR_RETURN(auto ids, repo.ListObjects(ObjectKind::kSnapshot));
  BW_ASSIGN_OR_RETURN(auto out, LoadEachPresent<Snapshot>(
                                    ids, [&](const Id& id) { return LoadSnapshot(repo, id); }));
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_unix_ns != b.time_unix_ns ? a.time_unix_ns < b.time_unix_ns : a.id < b.id;
  });
  return out;
}

Result<Snapshot> FindSnapshot(const Repository& repo, std::string_view ref,
                              std::string_view component) {
  if (ref == "latest") {
    BW_ASSIGN_OR_RETURN(auto all, LoadAllSnapshots(repo));
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (component.empty() || it->component == component) return std::move(*it);
    return Error(ErrorCode::kNotFound,
                 component.empty() ? std::string("the repository has no snapshots")
                                   : "no snapshot of component '" + std::string(component) + "'");
  }
  auto id = repo.ResolvePrefix(ObjectKind::kSnapshot, ref);
  if (!id.ok()) {
    if (id.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound, "no snapshot matches '" + std::string(ref) + "'");
    return id.error();
  }
  return LoadSnapshot(repo, *id);
}

}  // namespace bulwark::repo
