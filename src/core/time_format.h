// Unix times written out in UTC with a strftime pattern (object-lock dates, SigV4 dates,
// messages). Stateless; any thread.
#pragma once

#include <cstdint>
#include <string>

namespace bulwark {

// `pattern` must produce at most 63 characters.
std::string FormatUtc(int64_t unix_seconds, const char* pattern);

}  // namespace bulwark
