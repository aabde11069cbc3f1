// SpillBuffer: the single-producer single-consumer byte FIFO between the Redis receiver thread
// (which must drain the socket at the server's pace) and the backup's consumer (parser,
// chunker, writer). Up to a configured number of bytes wait in fixed-size memory blocks that are
// allocated once and reused; beyond that the producer appends to an unlinked temporary file
// (O_TMPFILE) instead of waiting, so memory is bounded by configuration and the backlog by
// disk. Write/Finish from the producer thread only, Next/Cancel from the consumer thread only.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::sources::redis {

struct SpillOptions {
  size_t memory_bytes = 32u << 20;  // bytes held in memory blocks before spilling
  size_t block_size = 1u << 20;     // size of one memory block (and of one file read)
  // Directory of the temporary file; empty = never spill (the producer waits for the consumer).
  std::string spill_dir;
};

struct SpillStats {
  uint64_t bytes_spilled = 0;     // bytes that went through the file
  uint64_t spill_file_peak = 0;   // largest unread backlog in the file at any time
  size_t memory_blocks_used = 0;  // memory blocks ever allocated
};

class SpillBuffer {
 public:
  // Creates the temporary file up front (when spilling is enabled) so a bad directory fails
  // before the transfer starts: kUsage for a missing or unwritable one, naming it.
  static Result<std::unique_ptr<SpillBuffer>> Create(const SpillOptions& options);
  ~SpillBuffer();
  SpillBuffer(const SpillBuffer&) = delete;
  SpillBuffer& operator=(const SpillBuffer&) = delete;

  // Producer: appends bytes; waits only when memory is full and spilling is off. Returns false
  // once the consumer has cancelled; an error if the temporary file cannot be written.
  Result<bool> Write(ByteView data);
  // Producer: no more bytes. Whatever is buffered is still delivered.
  void Finish();

  // Consumer: the next bytes in order, valid until the next call; empty at the end (after
  // Finish). Waits while nothing is buffered.
  Result<ByteView> Next();
  // Consumer: stop; the producer's next Write returns false. Safe to call more than once.
  void Cancel();

  SpillStats stats() const;

 private:
  struct Block {
    std::unique_ptr<uint8_t[]> data;
    size_t size = 0;
  };
  struct Entry {
    Block* block = nullptr;  // memory block, or null for a range of the file
    uint64_t offset = 0;     // file range (block == null)
    uint64_t length = 0;
  };

  SpillBuffer(const SpillOptions& options, int fd);
  // Producer helpers (called with mu_ held).
  Block* TakeFreeBlock();
  void Publish(Entry entry);
  void PublishCurrent();
  Result<bool> Spill(ByteView data, std::unique_lock<std::mutex>& lock);

  const SpillOptions options_;
  const size_t max_blocks_;
  int fd_ = -1;  // the unlinked spill file, or -1

  mutable std::mutex mu_;
  std::condition_variable cv_;                  // entries published, blocks freed, finish, cancel
  std::vector<std::unique_ptr<Block>> blocks_;  // every block ever allocated (owner)
  std::vector<Block*> free_;
  std::deque<Entry> entries_;
  Block* current_ = nullptr;   // producer: block being filled, not yet published
  uint64_t write_offset_ = 0;  // producer: end of the file
  uint64_t file_backlog_ = 0;  // bytes in the file not yet read
  bool finished_ = false;
  bool cancelled_ = false;
  SpillStats stats_;

  // Consumer state.
  Block* held_ = nullptr;                // memory block returned by the last Next
  std::unique_ptr<uint8_t[]> read_buf_;  // file bytes returned by the last Next
  uint64_t punch_from_ = 0;              // file bytes before this were freed
};

}  // namespace bulwark::sources::redis
