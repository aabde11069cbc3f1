#include "core/host.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <vector>

namespace bulwark {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string UserName(uid_t uid) {
  struct passwd pw;
  struct passwd* out = nullptr;
  std::vector<char> buf(4096);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) == 0 && out != nullptr) {
    return out->pw_name;
  }
  return {};
}

std::string GroupName(gid_t gid) {
  struct group gr;
  struct group* out = nullptr;
  std::vector<char> buf(4096);
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &out) == 0 && out != nullptr) {
    return out->gr_name;
  }
  return {};
}

}  // namespace bulwark
