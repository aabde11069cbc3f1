// Loading many small repository objects at once (snapshots, WAL records, Redis stream
// segments): in parallel, skipping objects removed between the listing and the read (a
// concurrent forget or prune). Callable from any thread; `load` must be safe to run
// concurrently with itself.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/result.h"
#include "repo/parallel.h"
#include "storage/backend.h"

namespace bulwark::repo {

// load(key) for every key, kIoThreads at a time; the records in the keys' order, without the
// ones that were not found. The first other error fails the call.
template <typename Record, typename Key>
Result<std::vector<Record>> LoadEachPresent(
    const std::vector<Key>& keys,
    const std::type_identity_t<std::function<Result<Record>(const Key&)>>& load) {
  std::vector<std::optional<Record>> loaded(keys.size());
  BW_RETURN_IF_ERROR(ParallelFor(keys.size(), kIoThreads, [&](size_t i) -> Status {
    auto record = load(keys[i]);
    if (!record.ok()) {
      if (record.error().code() == ErrorCode::kNotFound) return Status::Ok();  // removed meanwhile
      return record.error();
    }
    loaded[i] = std::move(*record);
    return Status::Ok();
  }));
  std::vector<Record> records;
  records.reserve(loaded.size());
  for (auto& r : loaded) {
    if (r) records.push_back(std::move(*r));
  }
  return records;
}

// LoadEachPresent over every object stored under `prefix`, in no particular order.
template <typename Record>
Result<std::vector<Record>> LoadListedRecords(
    storage::Backend& backend, const std::string& prefix,
    const std::function<Result<Record>(const std::string& key)>& load) {
  BW_ASSIGN_OR_RETURN(auto listing, backend.List(prefix));
  std::vector<std::string> keys;
  keys.reserve(listing.size());
  for (auto& object : listing) keys.push_back(std::move(object.key));
  return LoadEachPresent<Record>(keys, load);
}

}  // namespace bulwark::repo
