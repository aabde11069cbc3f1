// Facts about this machine and its clock that snapshots, locks and records carry: the wall
// clock in Unix nanoseconds, the host name, and the names of user and group IDs. Stateless;
// safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace bulwark {

int64_t NowNs();                   // wall clock, nanoseconds since the Unix epoch
std::string HostName();            // gethostname, or "unknown"
std::string UserName(uid_t uid);   // "" when the ID has no name here
std::string GroupName(gid_t gid);  // "" when the ID has no name here

}  // namespace bulwark
