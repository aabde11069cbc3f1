// SpillBuffer, the receiver-to-consumer FIFO of the Redis backup: bytes come out in order and
// complete whether they stayed in memory or went through the temporary file, a producer far
// ahead of a slow (or absent) consumer never waits and never holds more than the memory limit in
// blocks, cancel wakes the producer, and a bad spill directory fails up front.
#include "sources/redis/spill_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace bulwark::sources::redis {
namespace {

std::string TempDir() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

Bytes Pattern(size_t n, uint32_t seed) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : b) {
    x = x * 1103515245u + 12345u;
    c = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

// Produces `data` in pieces of odd sizes on one thread, consumes on this one (sleeping
// `consumer_delay` per piece), and returns what came out.
Bytes RoundTrip(SpillBuffer& buf, const Bytes& data, std::chrono::microseconds consumer_delay) {
  std::thread producer([&] {
    size_t pos = 0, step = 1;
    while (pos < data.size()) {
      size_t n = std::min(data.size() - pos, (step * 7919) % 300000 + 1);
      auto ok = buf.Write(ByteView(data.data() + pos, n));
      ASSERT_TRUE(ok.ok());
      ASSERT_TRUE(*ok);
      pos += n;
      ++step;
    }
    buf.Finish();
  });
  Bytes out;
  while (true) {
    auto piece = buf.Next();
    EXPECT_TRUE(piece.ok());
    if (!piece.ok() || piece->empty()) break;
    out.insert(out.end(), piece->begin(), piece->end());
    if (consumer_delay.count() > 0) std::this_thread::sleep_for(consumer_delay);
  }
  producer.join();
  return out;
}

TEST(SpillBufferTest, FastConsumerStaysInMemory) {
  SpillOptions o;
  o.memory_bytes = 4u << 20;
  o.block_size = 64u << 10;
  o.spill_dir = TempDir();
  auto buf = SpillBuffer::Create(o);
  ASSERT_TRUE(buf.ok());
  Bytes data = Pattern(3u << 20, 1);
  EXPECT_EQ(RoundTrip(**buf, data, std::chrono::microseconds(0)), data);
  EXPECT_LE((*buf)->stats().memory_blocks_used, 64u);
}

TEST(SpillBufferTest, SlowConsumerSpillsAndProducerNeverWaits) {
  SpillOptions o;
  o.memory_bytes = 256u << 10;  // 4 blocks
  o.block_size = 64u << 10;
  o.spill_dir = TempDir();
  auto buf = SpillBuffer::Create(o);
  ASSERT_TRUE(buf.ok());
  Bytes data = Pattern(8u << 20, 2);
  EXPECT_EQ(RoundTrip(**buf, data, std::chrono::microseconds(300)), data);
  SpillStats st = (*buf)->stats();
  EXPECT_LE(st.memory_blocks_used, 4u);
  EXPECT_GT(st.bytes_spilled, 4u << 20);
}

TEST(SpillBufferTest, ProducerFinishesWithoutAnyConsumer) {
  SpillOptions o;
  o.memory_bytes = 256u << 10;
  o.block_size = 64u << 10;
  o.spill_dir = TempDir();
  auto buf = SpillBuffer::Create(o);
  ASSERT_TRUE(buf.ok());
  Bytes data = Pattern(16u << 20, 5);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (size_t pos = 0; pos < data.size(); pos += 100000) {
      auto ok =
          (*buf)->Write(ByteView(data).subspan(pos, std::min<size_t>(100000, data.size() - pos)));
      ASSERT_TRUE(ok.ok());
      if (!*ok) return;
    }
    (*buf)->Finish();
    done = true;
  });
  // Nothing is consumed yet: the producer must still get through all 16 MiB.
  for (int i = 0; i < 1000 && !done; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(done.load()) << "the producer waited for the consumer";
  if (!done) (*buf)->Cancel();
  producer.join();
  if (!done) return;
  SpillStats st = (*buf)->stats();
  EXPECT_LE(st.memory_blocks_used, 4u);
  EXPECT_EQ(st.spill_file_peak, st.bytes_spilled);
  EXPECT_GE(st.bytes_spilled, data.size() - o.memory_bytes);
  Bytes out;
  while (true) {
    auto piece = (*buf)->Next();
    ASSERT_TRUE(piece.ok());
    if (piece->empty()) break;
    out.insert(out.end(), piece->begin(), piece->end());
  }
  EXPECT_EQ(out, data);
}

TEST(SpillBufferTest, WithoutSpillDirProducerWaitsWithinMemory) {
  SpillOptions o;
  o.memory_bytes = 256u << 10;
  o.block_size = 64u << 10;
  auto buf = SpillBuffer::Create(o);
  ASSERT_TRUE(buf.ok());
  Bytes data = Pattern(2u << 20, 3);
  EXPECT_EQ(RoundTrip(**buf, data, std::chrono::microseconds(200)), data);
  EXPECT_EQ((*buf)->stats().bytes_spilled, 0u);
  EXPECT_LE((*buf)->stats().memory_blocks_used, 4u);
}

TEST(SpillBufferTest, CancelReleasesWaitingProducer) {
  SpillOptions o;
  o.memory_bytes = 128u << 10;
  o.block_size = 64u << 10;
  auto buf = SpillBuffer::Create(o);
  ASSERT_TRUE(buf.ok());
  Bytes data = Pattern(1u << 20, 4);
  std::thread producer([&] {
    auto ok = (*buf)->Write(data);  // far more than fits: waits until cancelled
    ASSERT_TRUE(ok.ok());
    EXPECT_FALSE(*ok);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*buf)->Cancel();
  producer.join();
}

TEST(SpillBufferTest, MissingSpillDirFailsUpFront) {
  SpillOptions o;
  o.spill_dir = TempDir() + "/no-such-dir-for-spill-buffer-test";
  auto buf = SpillBuffer::Create(o);
  ASSERT_FALSE(buf.ok());
  EXPECT_EQ(buf.error().code(), ErrorCode::kUsage);
  EXPECT_NE(buf.error().message().find("--spill-dir"), std::string::npos);
}

}  // namespace
}  // namespace bulwark::sources::redis
