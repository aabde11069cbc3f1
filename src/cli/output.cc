#include "cli/output.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

namespace bulwark::cli {

int ReportError(const Error& error, std::string_view context, std::string_view hint) {
  std::string line = "bulwark: ";
  if (!context.empty()) {
    line += context;
    line += ": ";
  }
  line += error.message();
  // Messages from lower layers may carry newlines (e.g. a wrapped OS message); an error is
  // always exactly one line.
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (hint.empty() && error.code() == ErrorCode::kNoSpace) {
    hint = "the storage is full; free space, then `bulwark prune` removes what was left over";
  }
  if (!hint.empty()) {
    line += " (";
    line += hint;
    line += ")";
  }
  std::fflush(stdout);  // keep the report's order when both streams go to one place
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  return ExitCodeFor(error.code());
}

void PrintWarning(std::string_view message) {
  std::fflush(stdout);
  std::fprintf(stderr, "bulwark: %.*s\n", static_cast<int>(message.size()), message.data());
}

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  return fmt::format("{:.2f} {}", v, kUnits[unit]);
}

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 10) return fmt::format("{:.2f}s", seconds);
  auto total = static_cast<uint64_t>(seconds + 0.5);
  uint64_t h = total / 3600, m = (total / 60) % 60, s = total % 60;
  if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
  return fmt::format("{}:{:02}", m, s);
}

std::string FormatRate(double bytes_per_second) {
  if (bytes_per_second < 0) bytes_per_second = 0;
  return FormatBytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
}

std::string FormatLocalTime(int64_t unix_ns) {
  std::time_t t = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

namespace {

// Display width of a UTF-8 string, counting code points (good enough for names and tags).
size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) width[i] = DisplayWidth(header[i]);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], DisplayWidth(row[i]));
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < width.size()) line += std::string(width[i] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  };
  print_row(header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  std::printf("%s\n", std::string(total > 2 ? total - 2 : 0, '-').c_str());
  for (const auto& row : rows) print_row(row);
}

void PrintJson(const nlohmann::json& j) {
  // Replace invalid UTF-8 (file names are bytes) instead of throwing.
  std::string s = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

}  // namespace bulwark::cli
