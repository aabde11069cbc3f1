// libFuzzer target: snapshot JSON as LoadSnapshot parses it; what parses must survive a
// ToJson/FromJson round trip.
#include <cstdlib>

#include "repo/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bulwark;
  auto j = nlohmann::json::parse(AsString(ByteView(data, size)), nullptr, false);
  if (j.is_discarded()) return 0;
  auto s = repo::SnapshotFromJson(j);
  if (!s.ok()) return 0;
  auto again = repo::SnapshotFromJson(repo::SnapshotToJson(*s));
  if (!again.ok() || again->tree != s->tree || again->time_unix_ns != s->time_unix_ns) std::abort();
  (void)repo::ParseTime(AsString(ByteView(data, size)));
  return 0;
}
