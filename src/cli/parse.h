// Small parsers for command-line values (sizes, percentages, ID prefixes). Pure functions,
// safe from any thread; errors are kUsage with a message naming the bad value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::cli {

// "1048576", "512K", "4MiB", "1.5G" (binary units; case-insensitive; optional "B"/"iB").
Result<uint64_t> ParseSize(std::string_view text);
// "10%", "2.5%", or a bare number in (0, 100].
Result<double> ParsePercent(std::string_view text);
// The one ID in `ids` whose hex form starts with `prefix` (at least 4 hex digits unless it is
// a full ID); kNotFound if none, kUsage if ambiguous or not hex.
Result<Id> MatchIdPrefix(const std::vector<Id>& ids, std::string_view prefix,
                         std::string_view what);

}  // namespace bulwark::cli
