#include "cli/parse.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace bulwark::cli {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<double> ParseNumber(std::string_view text, std::string_view what) {
  std::string s(text);
  if (s.empty()) return Error(ErrorCode::kUsage, std::string(what) + ": empty value");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || !std::isfinite(v) || v < 0) {
    return Error(ErrorCode::kUsage, std::string(what) + ": not a number: '" + s + "'");
  }
  return v;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  std::string s = Lower(text);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  uint64_t mult = 1;
  auto strip = [&](std::string_view suffix) {
    if (s.size() > suffix.size() && s.ends_with(suffix)) {
      s.resize(s.size() - suffix.size());
      return true;
    }
    return false;
  };
  if (!strip("ib")) strip("b");
  if (strip("k")) {
    mult = 1ull << 10;
  } else if (strip("m")) {
    mult = 1ull << 20;
  } else if (strip("g")) {
    mult = 1ull << 30;
  } else if (strip("t")) {
    mult = 1ull << 40;
  }
  BW_ASSIGN_OR_RETURN(double v, ParseNumber(s, "size '" + std::string(text) + "'"));
  double bytes = v * static_cast<double>(mult);
  if (bytes >= 1.8e19) {
    return Error(ErrorCode::kUsage, "size '" + std::string(text) + "' is too large");
  }
  return static_cast<uint64_t>(bytes);
}

Result<double> ParsePercent(std::string_view text) {
  std::string s(text);
  if (!s.empty() && s.back() == '%') s.pop_back();
  BW_ASSIGN_OR_RETURN(double v, ParseNumber(s, "percentage '" + std::string(text) + "'"));
  if (v <= 0 || v > 100) {
    return Error(ErrorCode::kUsage,
                 "percentage '" + std::string(text) + "' must be above 0% and at most 100%");
  }
  return v;
}

Result<Id> MatchIdPrefix(const std::vector<Id>& ids, std::string_view prefix,
                         std::string_view what) {
  std::string p = Lower(prefix);
  bool hex = !p.empty() && p.size() <= 64;
  for (char c : p) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
  if (!hex) {
    return Error(ErrorCode::kUsage,
                 std::string(what) + " ID '" + std::string(prefix) + "' is not a hex ID");
  }
  const Id* found = nullptr;
  int matches = 0;
  for (const Id& id : ids) {
    if (id.Hex().starts_with(p)) {
      found = &id;
      ++matches;
    }
  }
  if (matches == 0) {
    return Error(ErrorCode::kNotFound, "no " + std::string(what) + " with ID " + p);
  }
  if (matches > 1) {
    return Error(ErrorCode::kUsage, std::string(what) + " ID prefix " + p + " is ambiguous (" +
                                        std::to_string(matches) + " match); give more digits");
  }
  return *found;
}

}  // namespace bulwark::cli
