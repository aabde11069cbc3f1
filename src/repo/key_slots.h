// Key slots: the random master key stored wrapped by Argon2id-derived keys, one slot per
// user or operator under keys/<id>, so passphrases can be added and revoked without
// re-encrypting data. Each slot's KDF parameters and salt are plaintext (needed to derive);
// everything else (the master key, the slot's label) is sealed. Safe from any thread.
#pragma once

#include <string>
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

// Writes a new slot wrapping `master`; returns its ID.
Result<Id> WriteKeySlot(storage::Backend& backend, const crypto::MasterKey& master,
                        std::string_view passphrase, const crypto::Argon2Params& kdf,
                        const std::string& user);
// Tries every slot; kWrongPassword if none opens, kNoRepository if there are no slots.
Result<std::pair<crypto::MasterKey, Id>> OpenKeySlots(storage::Backend& backend,
                                                      std::string_view passphrase);
Result<std::vector<KeySlotInfo>> ListKeySlots(Repository& repo);
// Refuses to remove the slot in use or the last slot.
Status RemoveKeySlot(Repository& repo, const Id& slot);

}  // namespace bulwark::repo
