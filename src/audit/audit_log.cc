#include "audit/audit_log.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/host.h"
#include "crypto/hash.h"
#include "repo/parallel.h"
#include "repo/snapshot.h"

namespace bulwark::audit {
namespace {

constexpr std::string_view kPrefix = "audit/";
constexpr size_t kSeqDigits = 20;
const std::string kZeroHash(64, '0');

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

// "audit/00000000000000000042" -> 42; nullopt for anything else.
std::optional<uint64_t> ParseSeqKey(std::string_view key) {
  if (key.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view digits = key.substr(kPrefix.size());
  if (digits.size() != kSeqDigits) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string Dump(const nlohmann::json& j) {
  // Invalid UTF-8 in a caller's string must not throw; replacing it keeps the text that is
  // sealed and the text that is hashed identical.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What reading one record found. Storage errors other than "not found" are returned as
// Errors by ReadOne; everything else is a finding.
struct Loaded {
  enum Kind { kOk, kMissing, kUnauthentic, kMalformed, kWrongSeq, kHashMismatch } kind = kOk;
  AuditRecord record;
  std::string detail;
};

Result<Loaded> ReadOne(repo::Repository& repo, uint64_t seq) {
  Loaded out;
  std::string key = AuditKey(seq);
  auto sealed = repo.backend().Get(key);
  if (!sealed.ok()) {
    if (sealed.error().code() == ErrorCode::kNotFound) {
      out.kind = Loaded::kMissing;
      return out;
    }
    return sealed.error().Wrap("reading " + key);
  }
  auto plain = repo.OpenWithMasterKey(*sealed, AsBytes(key));
  if (!plain.ok()) {
    out.kind = Loaded::kUnauthentic;
    out.detail = plain.error().message();
    return out;
  }
  auto j = nlohmann::json::parse(AsString(*plain), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.kind = Loaded::kMalformed;
    out.detail = "not a JSON object";
    return out;
  }
  auto rec = RecordFromJson(j);
  if (!rec.ok()) {
    out.kind = Loaded::kMalformed;
    out.detail = rec.error().message();
    return out;
  }
  out.record = std::move(*rec);
  if (out.record.seq != seq) {
    out.kind = Loaded::kWrongSeq;
    out.detail = fmt::format("it says it is record {}", out.record.seq);
    return out;
  }
  std::string want = ComputeRecordHash(out.record.prev_hash, j);
  if (want != out.record.record_hash) {
    out.kind = Loaded::kHashMismatch;
    return out;
  }
  return out;
}

std::string Describe(uint64_t seq, const Loaded& l) {
  switch (l.kind) {
    case Loaded::kOk:
      return {};
    case Loaded::kMissing:
      return fmt::format("audit record {} is missing (removed)", seq);
    case Loaded::kUnauthentic:
      return fmt::format(
          "audit record {} does not authenticate (edited, truncated, or moved from another "
          "position)",
          seq);
    case Loaded::kMalformed:
      return fmt::format("audit record {} is malformed: {}", seq, l.detail);
    case Loaded::kWrongSeq:
      return fmt::format("audit record {} is out of place: {}", seq, l.detail);
    case Loaded::kHashMismatch:
      return fmt::format("audit record {} does not match its hash (edited)", seq);
  }
  return {};
}

struct Anchor {
  uint64_t seq = 0;
  std::string hash;
};

std::optional<Anchor> ReadAnchor(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  if (!in) return std::nullopt;
  Anchor a;
  if (!(in >> a.seq >> a.hash) || a.hash.size() != 64) return std::nullopt;
  return a;
}

}  // namespace

std::string AuditKey(uint64_t seq) { return fmt::format("audit/{:020d}", seq); }

std::string CurrentOperator() {
  std::string user;
  if (const char* u = std::getenv("USER"); u && *u) user = u;
  if (user.empty()) {
    if (struct passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) user = pw->pw_name;
  }
  if (user.empty()) user = std::to_string(geteuid());
  return user + "@" + Hostname();
}

nlohmann::json RecordToJson(const AuditRecord& r) {
  nlohmann::json j;
  j["seq"] = r.seq;
  j["timestamp"] = r.timestamp;
  j["operation"] = r.operation;
  j["component"] = r.component;
  j["status"] = r.status;
  j["duration_seconds"] = r.duration_seconds;
  j["backup_size"] = r.backup_size;
  j["backup_size_gb"] = std::round(static_cast<double>(r.backup_size) / 1e6) / 1e3;
  j["checksum"] = r.checksum;
  j["storage_location"] = r.storage_location;
  j["validated"] = r.validated;
  j["validation_timestamp"] = r.validation_timestamp.empty()
                                  ? nlohmann::json(nullptr)
                                  : nlohmann::json(r.validation_timestamp);
  j["operator"] = r.operator_name;
  j["compliance_tags"] = r.compliance_tags;
  j["hostname"] = r.hostname;
  j["pid"] = r.pid;
  j["details"] = r.details.is_object() ? r.details : nlohmann::json::object();
  j["prev_hash"] = r.prev_hash;
  j["record_hash"] = r.record_hash;
  return j;
}

Result<AuditRecord> RecordFromJson(const nlohmann::json& j) {
  AuditRecord r;
  try {
    r.seq = j.at("seq").get<uint64_t>();
    r.timestamp = j.at("timestamp").get<std::string>();
    r.operation = j.at("operation").get<std::string>();
    r.component = j.at("component").get<std::string>();
    r.status = j.at("status").get<std::string>();
    r.duration_seconds = j.at("duration_seconds").get<double>();
    r.backup_size = j.at("backup_size").get<uint64_t>();
    r.checksum = j.at("checksum").get<std::string>();
    r.storage_location = j.at("storage_location").get<std::string>();
    r.validated = j.at("validated").get<bool>();
    const auto& vt = j.at("validation_timestamp");
    r.validation_timestamp = vt.is_null() ? std::string() : vt.get<std::string>();
    r.operator_name = j.at("operator").get<std::string>();
    r.compliance_tags = j.at("compliance_tags").get<std::vector<std::string>>();
    r.hostname = j.at("hostname").get<std::string>();
    r.pid = j.at("pid").get<int64_t>();
    r.details = j.at("details");
    r.prev_hash = j.at("prev_hash").get<std::string>();
    r.record_hash = j.at("record_hash").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kIntegrity, std::string("audit record: ") + e.what());
  }
  if (!r.details.is_object()) return Error(ErrorCode::kIntegrity, "audit record: bad details");
  return r;
}

std::string CanonicalJson(const nlohmann::json& record_json) {
  nlohmann::json copy = record_json;
  copy.erase("record_hash");
  return Dump(copy);  // object keys are kept sorted by nlohmann::json
}

std::string ComputeRecordHash(const std::string& prev_hash_hex, const nlohmann::json& record_json) {
  auto prev = HexDecode(prev_hash_hex);
  Bytes input;
  if (prev && prev->size() == 32) {
    input = std::move(*prev);
  } else {
    // A malformed prev_hash never matches a real predecessor; hash it as text so the record
    // still gets a well-defined (and checkable) hash.
    input = ToBytes(prev_hash_hex);
  }
  std::string canonical = CanonicalJson(record_json);
  input.insert(input.end(), canonical.begin(), canonical.end());
  return crypto::Sha256(input).Hex();
}

AuditLog::AuditLog(repo::Repository& repo, AuditOptions options)
    : repo_(repo), options_(std::move(options)) {}

Result<uint64_t> AuditLog::Length() const {
  BW_ASSIGN_OR_RETURN(auto objects, repo_.backend().List(std::string(kPrefix)));
  uint64_t length = 0;
  for (const auto& o : objects) {
    if (auto seq = ParseSeqKey(o.key)) length = std::max(length, *seq + 1);
  }
  return length;
}

Result<AuditRecord> AuditLog::ReadRecord(uint64_t seq) const {
  BW_ASSIGN_OR_RETURN(Loaded l, ReadOne(repo_, seq));
  if (l.kind != Loaded::kOk) return Error(ErrorCode::kIntegrity, Describe(seq, l));
  return l.record;
}

Status AuditLog::UpdateAnchor(uint64_t seq, const std::string& hash) const {
  if (options_.anchor_file.empty()) return Status::Ok();
  if (auto existing = ReadAnchor(options_.anchor_file); existing && existing->seq >= seq) {
    return Status::Ok();  // never move the high-water mark backwards
  }
  std::string tmp = fmt::format("{}.tmp.{}", options_.anchor_file, getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << seq << ' ' << hash << '\n';
    out.flush();
    if (!out) return ErrnoError("writing audit anchor " + tmp, errno);
  }
  if (std::rename(tmp.c_str(), options_.anchor_file.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return ErrnoError("writing audit anchor " + options_.anchor_file, e);
  }
  return Status::Ok();
}

Result<AuditRecord> AuditLog::Append(AuditRecord record) {
  if (record.timestamp.empty()) record.timestamp = repo::FormatTimeRfc3339(NowNs());
  if (record.hostname.empty()) record.hostname = Hostname();
  if (record.pid == 0) record.pid = getpid();
  if (record.operator_name.empty()) record.operator_name = CurrentOperator();
  if (!record.details.is_object()) record.details = nlohmann::json::object();

  auto anchor = ReadAnchor(options_.anchor_file);
  for (int attempt = 0; attempt < std::max(1, options_.max_append_attempts); ++attempt) {
    BW_ASSIGN_OR_RETURN(uint64_t seq, Length());
    if (anchor && seq <= anchor->seq) {
      return Error(ErrorCode::kIntegrity,
                   fmt::format("audit log has {} records but this host has seen record {}: the "
                               "log was truncated; run `bulwark audit verify`",
                               seq, anchor->seq));
    }
    std::string prev_hash = kZeroHash;
    if (seq > 0) {
      auto prev = ReadRecord(seq - 1);
      if (!prev.ok()) {
        return prev.error().Wrap("cannot extend the audit log; run `bulwark audit verify`");
      }
      if (anchor && anchor->seq == seq - 1 && anchor->hash != prev->record_hash) {
        return Error(ErrorCode::kIntegrity,
                     fmt::format("audit record {} differs from the one this host recorded; run "
                                 "`bulwark audit verify`",
                                 seq - 1));
      }
      prev_hash = prev->record_hash;
    }
    record.seq = seq;
    record.prev_hash = prev_hash;
    record.record_hash.clear();
    nlohmann::json j = RecordToJson(record);
    record.record_hash = ComputeRecordHash(prev_hash, j);
    j["record_hash"] = record.record_hash;
    std::string key = AuditKey(seq);
    Bytes sealed = repo_.SealWithMasterKey(AsBytes(Dump(j)), AsBytes(key));
    Status st = repo_.backend().Put(key, sealed);
    if (st.ok()) {
      // The record is durable, so the append succeeded. The local anchor is a best-effort
      // extra (it only strengthens later truncation checks); a failure to update it must not
      // turn an audited operation into a failed one.
      (void)UpdateAnchor(seq, record.record_hash);
      return record;
    }
    if (st.error().code() != ErrorCode::kAlreadyExists) {
      return st.error().Wrap("appending audit record " + std::to_string(seq));
    }
    // Another process appended this seq first: take the next one. Jitter avoids lockstep.
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + (getpid() + attempt) % 7));
  }
  return Error(ErrorCode::kFailure,
               "could not append the audit record: too many concurrent appenders");
}

Result<std::vector<AuditRecord>> AuditLog::List(bool stop_at_damage) const {
  BW_ASSIGN_OR_RETURN(uint64_t length, Length());
  std::vector<Loaded> loaded(length);
  BW_RETURN_IF_ERROR(repo::ParallelFor(length, repo::kIoThreads, [&](size_t i) -> Status {
    BW_ASSIGN_OR_RETURN(loaded[i], ReadOne(repo_, i));
    return Status::Ok();
  }));
  std::vector<AuditRecord> out;
  for (uint64_t i = 0; i < length; ++i) {
    if (loaded[i].kind == Loaded::kOk) {
      out.push_back(std::move(loaded[i].record));
    } else if (loaded[i].kind != Loaded::kMissing && stop_at_damage) {
      return Error(ErrorCode::kIntegrity, Describe(i, loaded[i]) + "; run `bulwark audit verify`");
    }
  }
  return out;
}

Result<VerifyReport> AuditLog::Verify() const {
  VerifyReport report;
  BW_ASSIGN_OR_RETURN(auto objects, repo_.backend().List(std::string(kPrefix)));
  std::vector<std::string> strays;
  uint64_t length = 0;
  for (const auto& o : objects) {
    if (auto seq = ParseSeqKey(o.key)) {
      length = std::max(length, *seq + 1);
    } else if (o.key.find(".tmp") == std::string::npos) {
      strays.push_back(o.key);
    }
  }
  std::sort(strays.begin(), strays.end());

  std::vector<Loaded> loaded(length);
  BW_RETURN_IF_ERROR(repo::ParallelFor(length, repo::kIoThreads, [&](size_t i) -> Status {
    BW_ASSIGN_OR_RETURN(loaded[i], ReadOne(repo_, i));
    return Status::Ok();
  }));

  std::vector<std::pair<uint64_t, std::string>> found;  // (seq, problem)
  auto problem = [&](uint64_t seq, std::string text) { found.emplace_back(seq, std::move(text)); };

  std::optional<std::string> prev = kZeroHash;  // nullopt: predecessor unknown (bad/missing)
  bool clean_prefix = true;
  for (uint64_t seq = 0; seq < length; ++seq) {
    const Loaded& l = loaded[seq];
    if (l.kind != Loaded::kOk) {
      problem(seq, Describe(seq, l));
      prev.reset();
      clean_prefix = false;
      continue;
    }
    if (prev && l.record.prev_hash != *prev) {
      problem(seq, seq == 0 ? "audit record 0 does not start the chain (records before it were "
                              "removed, or it was edited)"
                            : fmt::format("audit record {} does not chain to record {} (record "
                                          "{} was edited or replaced, or records were reordered)",
                                          seq, seq - 1, seq - 1));
      clean_prefix = false;
    }
    prev = l.record.record_hash;
    if (clean_prefix) report.records = seq + 1;
  }

  // Tail anchors: every snapshot records the log length when it was written.
  BW_ASSIGN_OR_RETURN(auto snapshot_ids, repo_.ListObjects(repo::ObjectKind::kSnapshot));
  std::vector<std::optional<repo::Snapshot>> snaps(snapshot_ids.size());
  BW_RETURN_IF_ERROR(
      repo::ParallelFor(snapshot_ids.size(), repo::kIoThreads, [&](size_t i) -> Status {
        auto s = repo::LoadSnapshot(repo_, snapshot_ids[i]);
        if (s.ok()) snaps[i] = std::move(*s);  // damaged snapshots are check's business
        return Status::Ok();
      }));
  const repo::Snapshot* longest = nullptr;
  for (const auto& s : snaps) {
    if (s && (!longest || s->audit_seq > longest->audit_seq)) longest = &*s;
  }
  if (longest) report.required_length = longest->audit_seq;
  if (longest && longest->audit_seq > length) {
    problem(length, fmt::format("audit log truncated: it has {} records, but snapshot {} was "
                                "written when it had {}; record {} onwards were removed",
                                length, longest->id.ShortHex(), longest->audit_seq, length));
  }
  if (auto anchor = ReadAnchor(options_.anchor_file)) {
    report.required_length = std::max(report.required_length, anchor->seq + 1);
    if (anchor->seq >= length) {
      problem(length,
              fmt::format("audit log truncated: it has {} records, but this host has seen record "
                          "{}; record {} onwards were removed",
                          length, anchor->seq, length));
    } else if (loaded[anchor->seq].kind == Loaded::kOk &&
               loaded[anchor->seq].record.record_hash != anchor->hash) {
      problem(anchor->seq, fmt::format("audit record {} differs from the one this host recorded "
                                       "earlier (the log was rewritten from there)",
                                       anchor->seq));
    }
  }
  // Problems are reported in seq order, whichever check found them.
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!found.empty()) {
    report.first_bad_seq = found.front().first;
    report.problem = found.front().second;
  }
  for (auto& [seq, text] : found) report.problems.push_back(std::move(text));
  for (const auto& key : strays) {
    report.problems.push_back(fmt::format("unexpected object {} in the audit area", key));
  }
  if (report.problem.empty() && !report.problems.empty()) report.problem = report.problems[0];
  report.ok = report.problems.empty();
  if (report.ok && length > 0) {
    (void)UpdateAnchor(length - 1, loaded[length - 1].record.record_hash);  // best effort
  }
  return report;
}

nlohmann::json VerifyReportToJson(const VerifyReport& report) {
  nlohmann::json j;
  j["ok"] = report.ok;
  j["records"] = report.records;
  j["first_bad_seq"] =
      report.first_bad_seq ? nlohmann::json(*report.first_bad_seq) : nlohmann::json(nullptr);
  j["problem"] = report.problem;
  j["problems"] = report.problems;
  j["required_length"] = report.required_length;
  return j;
}

}  // namespace bulwark::audit
