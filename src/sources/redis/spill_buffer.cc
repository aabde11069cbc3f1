#include "sources/redis/spill_buffer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace bulwark::sources::redis {

namespace {

// A directory that is missing, not a directory or not writable is a configuration error.
Error CreateError(const std::string& dir, int err) {
  Error e = ErrnoError(
      fmt::format("creating the temporary spill file in {} (choose another with --spill-dir)", dir),
      err);
  if (err == ENOENT || err == ENOTDIR || err == EACCES || err == EPERM || err == EROFS) {
    return Error(ErrorCode::kUsage, e.message());
  }
  return e;
}

// An unlinked file in `dir`: O_TMPFILE where the filesystem supports it, else mkstemp+unlink.
Result<int> OpenTempFile(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return CreateError(dir, errno);
  std::string path = dir + "/.bulwark-redis-spill-XXXXXX";
  fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return CreateError(dir, errno);
  ::unlink(path.c_str());
  return fd;
}

}  // namespace

Result<std::unique_ptr<SpillBuffer>> SpillBuffer::Create(const SpillOptions& options) {
  int fd = -1;
  if (!options.spill_dir.empty()) {
    BW_ASSIGN_OR_RETURN(fd, OpenTempFile(options.spill_dir));
  }
  return std::unique_ptr<SpillBuffer>(new SpillBuffer(options, fd));
}

SpillBuffer::SpillBuffer(const SpillOptions& options, int fd)
    : options_(options),
      max_blocks_(
          std::max<size_t>(2, options.memory_bytes / std::max<size_t>(1, options.block_size))),
      fd_(fd) {}

SpillBuffer::~SpillBuffer() {
  if (fd_ >= 0) ::close(fd_);
}

SpillBuffer::Block* SpillBuffer::TakeFreeBlock() {
  if (!free_.empty()) {
    Block* b = free_.back();
    free_.pop_back();
    b->size = 0;
    return b;
  }
  if (blocks_.size() >= max_blocks_) return nullptr;
  auto b = std::make_unique<Block>();
  // Not value-initialised: pages are only touched (and counted) as bytes arrive.
  b->data.reset(new uint8_t[options_.block_size]);
  blocks_.push_back(std::move(b));
  stats_.memory_blocks_used = blocks_.size();
  return blocks_.back().get();
}

void SpillBuffer::Publish(Entry entry) {
  if (entry.block == nullptr && !entries_.empty()) {
    Entry& last = entries_.back();
    if (last.block == nullptr && last.offset + last.length == entry.offset) {
      last.length += entry.length;
      cv_.notify_all();
      return;
    }
  }
  entries_.push_back(entry);
  cv_.notify_all();
}

void SpillBuffer::PublishCurrent() {
  if (current_ == nullptr) return;
  if (current_->size == 0) {
    free_.push_back(current_);
  } else {
    Publish(Entry{current_, 0, current_->size});
  }
  current_ = nullptr;
}

Result<bool> SpillBuffer::Spill(ByteView data, std::unique_lock<std::mutex>& lock) {
  const uint64_t offset = write_offset_;
  lock.unlock();
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      lock.lock();
      return ErrnoError(fmt::format("spilling the RDB to a temporary file in {} ({} bytes "
                                    "waiting; free space there or choose --spill-dir)",
                                    options_.spill_dir, file_backlog_ + done),
                        err);
    }
    done += static_cast<size_t>(n);
  }
  lock.lock();
  write_offset_ += data.size();
  file_backlog_ += data.size();
  stats_.bytes_spilled += data.size();
  stats_.spill_file_peak = std::max(stats_.spill_file_peak, file_backlog_);
  Publish(Entry{nullptr, offset, data.size()});
  return !cancelled_;
}

Result<bool> SpillBuffer::Write(ByteView data) {
  std::unique_lock lock(mu_);
  while (!data.empty()) {
    if (cancelled_) return false;
    if (current_ == nullptr) {
      current_ = TakeFreeBlock();
      if (current_ == nullptr) {
        if (fd_ >= 0) return Spill(data, lock);
        cv_.wait(lock, [&] { return cancelled_ || !free_.empty(); });
        continue;
      }
    }
    // The block being filled belongs to the producer alone: copy without the lock.
    Block* b = current_;
    size_t n = std::min(data.size(), options_.block_size - b->size);
    lock.unlock();
    std::memcpy(b->data.get() + b->size, data.data(), n);
    lock.lock();
    b->size += n;
    data = data.subspan(n);
    if (b->size == options_.block_size) PublishCurrent();
  }
  return !cancelled_;
}

void SpillBuffer::Finish() {
  std::lock_guard lock(mu_);
  PublishCurrent();
  finished_ = true;
  cv_.notify_all();
}

void SpillBuffer::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

Result<ByteView> SpillBuffer::Next() {
  std::unique_lock lock(mu_);
  if (held_ != nullptr) {
    free_.push_back(held_);
    held_ = nullptr;
    cv_.notify_all();
  }
  cv_.wait(lock, [&] { return cancelled_ || finished_ || !entries_.empty(); });
  if (cancelled_ || entries_.empty()) return ByteView();
  Entry& front = entries_.front();
  if (front.block != nullptr) {
    held_ = front.block;
    entries_.pop_front();
    return ByteView(held_->data.get(), held_->size);
  }
  const uint64_t offset = front.offset;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(front.length, options_.block_size));
  front.offset += n;
  front.length -= n;
  if (front.length == 0) entries_.pop_front();
  lock.unlock();
  if (!read_buf_) read_buf_.reset(new uint8_t[options_.block_size]);
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd_, read_buf_.get() + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoError("reading back the temporary spill file", errno);
    if (got == 0)
      return Error(ErrorCode::kFailure, "the temporary spill file is shorter than written");
    done += static_cast<size_t>(got);
  }
  // Give the disk space (and page cache) of what was read back; whole pages only.
  const uint64_t end = (offset + n) & ~uint64_t{4095};
  if (end > punch_from_) {
    (void)::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(punch_from_), static_cast<off_t>(end - punch_from_));
    punch_from_ = end;
  }
  lock.lock();
  file_backlog_ -= n;
  return ByteView(read_buf_.get(), n);
}

SpillStats SpillBuffer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace bulwark::sources::redis
