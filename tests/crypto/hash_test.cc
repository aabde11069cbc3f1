#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <thread>

namespace bulwark::crypto {
namespace {

SecretKey KeyFromRange() {
  SecretKey k;
  for (int i = 0; i < 32; ++i) k.bytes[i] = static_cast<uint8_t>(i);
  return k;
}

TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(Sha256({}).Hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256(AsBytes("abc")).Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, StreamMatchesOneShot) {
  Bytes data(100000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + (i >> 8));
  Sha256Stream s;
  size_t pos = 0, step = 1;
  while (pos < data.size()) {
    size_t n = std::min(step, data.size() - pos);
    s.Update(ByteView(data).subspan(pos, n));
    pos += n;
    step = step * 3 + 1;
  }
  EXPECT_EQ(s.Finish(), Sha256(data));
  // Finish re-arms the stream.
  s.Update(AsBytes("abc"));
  EXPECT_EQ(s.Finish(), Sha256(AsBytes("abc")));
  Sha256Stream moved = std::move(s);
  EXPECT_EQ(moved.Finish(), Sha256({}));
}

TEST(KeyedHashTest, KnownAnswer) {
  // Computed independently with Python's hmac module.
  EXPECT_EQ(KeyedHash(KeyFromRange(), AsBytes("The quick brown fox jumps over the lazy dog")).Hex(),
            "f87ad256151fc7b4c5dffa4adb3ebe911a8eeb8a8ebdee3c2a4a8e5f5ec02c32");
}

// HMAC built by hand from the SHA-256 primitive (RFC 2104), to cross-check the EVP_MAC path.
Id ManualHmac(const SecretKey& key, ByteView data) {
  Bytes inner(64, 0x36), outer(64, 0x5c);
  for (int i = 0; i < 32; ++i) {
    inner[i] ^= key.bytes[i];
    outer[i] ^= key.bytes[i];
  }
  inner.insert(inner.end(), data.begin(), data.end());
  Id ih = Sha256(inner);
  outer.insert(outer.end(), ih.bytes.begin(), ih.bytes.end());
  return Sha256(outer);
}

TEST(KeyedHashTest, MatchesRfc2104AndDependsOnKey) {
  SecretKey k1 = KeyFromRange(), k2 = KeyFromRange();
  k2.bytes[0] ^= 0x80;
  for (size_t n : {0, 1, 63, 64, 65, 4096}) {
    Bytes data(n, 0x5a);
    EXPECT_EQ(KeyedHash(k1, data), ManualHmac(k1, data)) << n;
    EXPECT_NE(KeyedHash(k1, data), KeyedHash(k2, data)) << n;
    EXPECT_NE(KeyedHash(k1, data), Sha256(data)) << n;
  }
}

TEST(KeyedHashTest, ConcurrentThreadsAgree) {
  SecretKey k = KeyFromRange();
  Bytes data(1 << 16, 0x42);
  Id expected = KeyedHash(k, data);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (KeyedHash(k, data) != expected) ++mismatches;
        (void)Sha256(data);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace bulwark::crypto
