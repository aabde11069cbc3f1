#include "sources/files/dump.h"

#include <deque>
#include <future>
#include <memory>

#include "core/cancel.h"
#include "core/thread_pool.h"
#include "sources/files/fs_util.h"
#include "sources/files/list.h"

namespace bulwark::sources::files {

namespace {
// Chunks fetched ahead of the one being written: enough to keep several range reads and
// decodes busy, few enough to bound memory (window x max chunk size).
constexpr size_t kPrefetchWindow = 8;
constexpr int kFetchThreads = 4;
}  // namespace

Status DumpFile(repo::Repository& repo, const repo::Snapshot& snapshot, std::string_view path,
                int out_fd) {
  BW_ASSIGN_OR_RETURN(repo::Node node, FindNode(repo, snapshot, path));
  if (node.type == repo::NodeType::kDir) {
    return Error(ErrorCode::kUsage,
                 "'" + std::string(path) + "' is a directory; dump needs a file (use restore)");
  }
  if (node.type != repo::NodeType::kFile) {
    return Error(ErrorCode::kUsage, "'" + std::string(path) + "' is not a regular file");
  }
  const auto& ids = node.content;
  ThreadPool pool(kFetchThreads, kPrefetchWindow * 2);
  std::deque<std::future<Result<Bytes>>> inflight;
  size_t next = 0;
  Status status;
  for (size_t i = 0; i < ids.size(); ++i) {
    while (next < ids.size() && inflight.size() < kPrefetchWindow) {
      auto promise = std::make_shared<std::promise<Result<Bytes>>>();
      inflight.push_back(promise->get_future());
      const Id id = ids[next++];
      pool.Submit(
          [&repo, promise, id] { promise->set_value(repo.LoadBlob(repo::BlobType::kData, id)); });
    }
    if (CancelRequested()) {
      status = Error(ErrorCode::kCancelled, "dump cancelled");
      break;
    }
    Result<Bytes> blob = inflight.front().get();
    inflight.pop_front();
    if (!blob.ok()) {
      status = Error(ErrorCode::kIntegrity, std::string(path) + ": " + blob.error().message());
      break;
    }
    Status w = WriteAll(out_fd, *blob, -1, "writing output");
    if (!w.ok()) {
      status = w;
      break;
    }
  }
  // The pool's destructor waits for fetches still running; their results are discarded.
  return status;
}

}  // namespace bulwark::sources::files
