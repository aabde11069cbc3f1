// Printing helpers shared by the commands: the one-line error format, human-readable sizes,
// durations and rates, simple aligned tables, and JSON on stdout. Called from the CLI's main
// thread only (stdout/stderr are not synchronised here).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace bulwark::cli {

// Prints "bulwark: <context>: <error message>" (context may be empty) plus, when given, a
// hint on what to do, and returns the process exit code for the error.
int ReportError(const Error& error, std::string_view context = {}, std::string_view hint = {});
// Prints one line to stderr prefixed "bulwark: ".
void PrintWarning(std::string_view message);

std::string FormatBytes(uint64_t bytes);          // "1.50 GiB", "512 B"
std::string FormatDuration(double seconds);       // "0:05", "1:02:03", "2.31s" for short ones
std::string FormatRate(double bytes_per_second);  // "123.4 MiB/s"
std::string FormatLocalTime(int64_t unix_ns);     // "2026-11-24 10:15:00" in the local zone

// Prints rows as left-aligned columns separated by two spaces; `header` first with a rule.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Pretty-printed JSON followed by a newline, on stdout.
void PrintJson(const nlohmann::json& j);

}  // namespace bulwark::cli
