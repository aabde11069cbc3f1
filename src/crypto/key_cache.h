// A cache of Argon2id-derived key-encryption keys in the Linux kernel's user keyring, so
// processes started one after another by the same OS user (archive_command runs `wal-push`
// once per WAL segment) derive a slot's key once per TTL instead of once per process. An
// entry is named by a SHA-256 of the passphrase, the slot's salt and its KDF parameters, so a
// wrong passphrase never finds one; it is readable by that user's processes only (and root),
// never written to disk, and expires after the TTL. Process-wide settings; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bytes.h"
#include "core/result.h"
#include "crypto/keys.h"

namespace bulwark::crypto {

// Seconds a new entry lives; 0 disables the cache (no lookups, no new entries). Default 300.
void SetKeyCacheSeconds(uint32_t seconds);
uint32_t KeyCacheSeconds();

// The cached key for (passphrase, salt, params), or nullopt (none, expired, cache disabled or
// the keyring unavailable).
std::optional<SecretKey> LookupCachedKek(std::string_view passphrase, ByteView salt,
                                         const Argon2Params& params);
// Caches `kek` for the TTL (nothing when disabled). Failures are ignored: the cache only saves
// time.
void CacheKek(std::string_view passphrase, ByteView salt, const Argon2Params& params,
              const SecretKey& kek);
// Invalidates every cached key of this OS user; returns how many. kUnavailable-style failure
// (kFailure) when the kernel keyring cannot be used at all.
Result<uint64_t> ClearCachedKeks();
// Whether the kernel keyring can be used here (seccomp or an old kernel may refuse it).
bool KeyCacheAvailable();

}  // namespace bulwark::crypto
