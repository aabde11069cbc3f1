#include "crypto/key_cache.h"

#include <fmt/format.h>
#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/hash.h"

namespace bulwark::crypto {

namespace {

constexpr char kPrefix[] = "bulwark:kek:";
constexpr char kType[] = "user";
// Possessor: everything; the owning user: view, read, search (another process of the user may
// not possess the key through its session keyring).
constexpr uint32_t kPerm = 0x3f000000 | 0x00010000 | 0x00020000 | 0x00080000;

std::atomic<uint32_t> g_seconds{300};

long Keyctl(int op, unsigned long a2, unsigned long a3 = 0, unsigned long a4 = 0,
            unsigned long a5 = 0) {
  return ::syscall(SYS_keyctl, op, a2, a3, a4, a5);
}

std::string Description(std::string_view passphrase, ByteView salt, const Argon2Params& p) {
  Sha256Stream h;
  const std::string head = fmt::format("bulwark kek cache v1\n{}\n{}\n{}\n{}\n", p.ops_limit,
                                       p.mem_limit, p.lanes, passphrase.size());
  h.Update(AsBytes(head));
  h.Update(AsBytes(passphrase));
  h.Update(salt);
  return kPrefix + h.Finish().Hex();
}

}  // namespace

void SetKeyCacheSeconds(uint32_t seconds) { g_seconds.store(seconds); }
uint32_t KeyCacheSeconds() { return g_seconds.load(); }

std::optional<SecretKey> LookupCachedKek(std::string_view passphrase, ByteView salt,
                                         const Argon2Params& params) {
  if (KeyCacheSeconds() == 0) return std::nullopt;
  const std::string desc = Description(passphrase, salt, params);
  long id = Keyctl(KEYCTL_SEARCH, static_cast<unsigned long>(KEY_SPEC_USER_KEYRING),
                   reinterpret_cast<unsigned long>(kType),
                   reinterpret_cast<unsigned long>(desc.c_str()), 0);
  if (id < 0) return std::nullopt;
  SecretKey kek;
  long n = Keyctl(KEYCTL_READ, static_cast<unsigned long>(id),
                  reinterpret_cast<unsigned long>(kek.bytes.data()), kek.bytes.size());
  if (n != static_cast<long>(kek.bytes.size())) return std::nullopt;
  return kek;
}

void CacheKek(std::string_view passphrase, ByteView salt, const Argon2Params& params,
              const SecretKey& kek) {
  const uint32_t ttl = KeyCacheSeconds();
  if (ttl == 0) return;
  const std::string desc = Description(passphrase, salt, params);
  long id = ::syscall(SYS_add_key, kType, desc.c_str(), kek.bytes.data(), kek.bytes.size(),
                      KEY_SPEC_USER_KEYRING);
  if (id < 0) return;
  Keyctl(KEYCTL_SETPERM, static_cast<unsigned long>(id), kPerm);
  Keyctl(KEYCTL_SET_TIMEOUT, static_cast<unsigned long>(id), ttl);
}

Result<uint64_t> ClearCachedKeks() {
  // The user keyring's links, as an array of key serial numbers.
  std::vector<int32_t> ids(256);
  while (true) {
    long n = Keyctl(KEYCTL_READ, static_cast<unsigned long>(KEY_SPEC_USER_KEYRING),
                    reinterpret_cast<unsigned long>(ids.data()), ids.size() * sizeof(int32_t));
    if (n < 0) return ErrnoError("reading the kernel user keyring", errno);
    if (static_cast<size_t>(n) <= ids.size() * sizeof(int32_t)) {
      ids.resize(static_cast<size_t>(n) / sizeof(int32_t));
      break;
    }
    ids.resize(static_cast<size_t>(n) / sizeof(int32_t) + 64);
  }
  uint64_t cleared = 0;
  for (int32_t id : ids) {
    char desc[512];
    long n = Keyctl(KEYCTL_DESCRIBE, static_cast<unsigned long>(id),
                    reinterpret_cast<unsigned long>(desc), sizeof(desc) - 1);
    if (n <= 0) continue;
    desc[std::min<long>(n, sizeof(desc) - 1)] = '\0';
    // "type;uid;gid;perm;description"
    std::string_view d(desc);
    size_t at = 0;
    for (int field = 0; field < 4 && at != std::string_view::npos; ++field) {
      at = d.find(';', at);
      if (at != std::string_view::npos) ++at;
    }
    if (at == std::string_view::npos || !d.starts_with("user;")) continue;
    if (!d.substr(at).starts_with(kPrefix)) continue;
    if (Keyctl(KEYCTL_INVALIDATE, static_cast<unsigned long>(id)) == 0 ||
        Keyctl(KEYCTL_UNLINK, static_cast<unsigned long>(id),
               static_cast<unsigned long>(KEY_SPEC_USER_KEYRING)) == 0) {
      ++cleared;
    }
  }
  return cleared;
}

bool KeyCacheAvailable() {
  return Keyctl(KEYCTL_GET_KEYRING_ID, static_cast<unsigned long>(KEY_SPEC_USER_KEYRING), 1) >= 0;
}

}  // namespace bulwark::crypto
