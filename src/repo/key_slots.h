// Key slots: the random master key stored wrapped by Argon2id-derived keys, one slot per
// user or operator under keys/<id>, so passphrases can be added and revoked without
// re-encrypting data. Each slot's KDF parameters and salt are plaintext (needed to derive);
// everything else (the master key, the slot's label) is sealed. Safe from any thread.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "crypto/keys.h"
#include "storage/backend.h"

namespace bulwark::repo {

class Repository;

struct KeySlotInfo {
  Id id;
  std::string user;
  std::string hostname;
  int64_t created_unix_ns = 0;
};

// The stored form of one slot (JSON, see docs/FORMAT.md), before any key is applied.
struct KeySlotFile {
  uint32_t version = 1;
  crypto::Argon2Params kdf;
  Bytes salt;     // 16 bytes
  Bytes wrapped;  // Seal(kek, master.Serialize(), "bulwark-keyslot")
  Bytes label;    // Seal(master.encryption, {user, hostname, created}, "bulwark-keylabel")
};
// Strict parser for untrusted slot bytes: rejects unknown KDFs, bad hex, a salt that is not
// 16 bytes and KDF parameters outside sane bounds (so a planted slot cannot demand 1 TiB).
Result<KeySlotFile> ParseKeySlot(ByteView stored);
Bytes EncodeKeySlot(const KeySlotFile& slot);

// Writes a new slot wrapping `master`; returns its ID. Used by init and `key add`.
Result<Id> WriteKeySlot(storage::Backend& backend, const crypto::MasterKey& master,
                        std::string_view passphrase, const crypto::Argon2Params& kdf,
                        const std::string& user);
// Tries every slot; kWrongPassword if none opens, kNoRepository if there are no slots.
Result<std::pair<crypto::MasterKey, Id>> OpenKeySlots(storage::Backend& backend,
                                                      std::string_view passphrase);
// Same, but a slot whose master key `accept` rejects (e.g. it cannot open the config: an
// orphan slot left by a crashed or raced init) is skipped as if the passphrase did not fit.
Result<std::pair<crypto::MasterKey, Id>> OpenKeySlots(
    storage::Backend& backend, std::string_view passphrase,
    const std::function<bool(const crypto::MasterKey&)>& accept);
Result<std::vector<KeySlotInfo>> ListKeySlots(Repository& repo);
// Refuses to remove the slot in use or the last slot.
Status RemoveKeySlot(Repository& repo, const Id& slot);

// Storage key of a slot: "keys/<hex>".
std::string KeySlotKey(const Id& slot);

}  // namespace bulwark::repo
