#include "core/time_format.h"

#include <ctime>

namespace bulwark {

std::string FormatUtc(int64_t unix_seconds, const char* pattern) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), pattern, &tm);
  return std::string(buf, n);
}

}  // namespace bulwark
