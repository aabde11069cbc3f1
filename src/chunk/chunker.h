// Content-defined chunking (FastCDC with a gear hash and normalized chunking) and fixed
// page-aligned block chunking. A Chunker is fed a byte stream in arbitrary pieces and emits
// chunk boundaries; it is used by one thread at a time. Gear tables are derived from a
// per-repository seed so boundaries reveal nothing about content to someone without the key.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/bytes.h"

namespace bulwark::chunk {

struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;  // must be a power of two
  uint32_t max_size = 4 * 1024 * 1024;
};

using GearTable = std::array<uint64_t, 256>;
// Deterministic gear table from a 32-byte seed (e.g. the repository's chunker seed).
GearTable MakeGearTable(ByteView seed);

// Finds the next cut point in `data` (the start of a chunk); returns the chunk length,
// which is data.size() when no cut is found before the end and data.size() < max_size.
// Stateless; `data` must begin at a chunk start. Safe from any thread.
size_t FindBoundary(const GearTable& gear, const ChunkerParams& params, ByteView data);

// Streaming splitter: reads from a source callback into an internal buffer of max_size*2
// bytes (memory bounded) and yields chunks one at a time.
class StreamChunker {
 public:
  // read(buf) fills up to buf.size() bytes and returns the number read (0 = end of stream)
  // or -1 on error (errno set).
  using ReadFn = std::function<ssize_t(MutableByteView buf)>;

  StreamChunker(const GearTable* gear, ChunkerParams params, ReadFn read);
  // Sets `chunk` to a view of the next chunk, valid until the next call. Returns false at the
  // end of the stream or on a read error (check error()).
  bool Next(ByteView& chunk);
  int error() const { return error_; }  // errno of a failed read, 0 otherwise

 private:
  bool Fill();
  const GearTable* gear_;
  ChunkerParams params_;
  ReadFn read_;
  Bytes buf_;
  size_t start_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  int error_ = 0;
};

// Fixed-size blocks (e.g. 128 KiB = 16 PostgreSQL pages), aligned to the start of the file.
inline size_t FixedBoundary(size_t block_size, ByteView data) {
  return data.size() < block_size ? data.size() : block_size;
}

}  // namespace bulwark::chunk
