#include "repo/key_slots.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "core/host.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/key_cache.h"
#include "repo/repository.h"

namespace bulwark::repo {

namespace {

constexpr std::string_view kSlotAad = "bulwark-keyslot";
constexpr std::string_view kLabelAad = "bulwark-keylabel";
constexpr char kSlotPrefix[] = "keys/";

// Bounds on parameters read from an untrusted slot: libsodium's Argon2id minimums below, and
// above them limits far beyond any sensible setting, so a planted slot cannot make Open
// allocate or spin without end.
constexpr uint64_t kMinOps = 1, kMaxOps = 64;
constexpr uint64_t kMinMem = 8u << 10, kMaxMem = 4ull << 30;

Error Corrupt(const std::string& what) { return Error(ErrorCode::kIntegrity, "key slot: " + what); }

Result<std::optional<Id>> SlotIdFromKey(const std::string& key) {
  if (key.rfind(kSlotPrefix, 0) != 0) return std::optional<Id>();
  return Id::FromHex(std::string_view(key).substr(sizeof(kSlotPrefix) - 1));
}

Result<std::vector<Id>> ListSlotIds(storage::Backend& backend) {
  BW_ASSIGN_OR_RETURN(auto objects, backend.List(kSlotPrefix));
  std::vector<Id> ids;
  for (const auto& o : objects) {
    BW_ASSIGN_OR_RETURN(auto id, SlotIdFromKey(o.key));
    if (id) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

std::string KeySlotKey(const Id& slot) { return kSlotPrefix + slot.Hex(); }

Bytes EncodeKeySlot(const KeySlotFile& slot) {
  nlohmann::json j = {
      {"version", slot.version},         {"kdf", "argon2id"},
      {"ops_limit", slot.kdf.ops_limit}, {"mem_limit", slot.kdf.mem_limit},
      {"salt", HexEncode(slot.salt)},    {"wrapped", HexEncode(slot.wrapped)},
      {"label", HexEncode(slot.label)},
  };
  if (slot.kdf.lanes != 1) j["lanes"] = slot.kdf.lanes;  // absent: 1, as older slots
  return ToBytes(j.dump());
}

Result<KeySlotFile> ParseKeySlot(ByteView stored) {
  auto j = nlohmann::json::parse(AsString(stored), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("not a JSON object");
  auto get_u64 = [&](const char* name, uint64_t& out) -> bool {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned()) return false;
    out = it->get<uint64_t>();
    return true;
  };
  auto get_hex = [&](const char* name, Bytes& out) -> bool {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return false;
    auto b = HexDecode(it->get_ref<const std::string&>());
    if (!b) return false;
    out = std::move(*b);
    return true;
  };
  KeySlotFile slot;
  uint64_t version = 0;
  if (!get_u64("version", version) || version != 1) return Corrupt("unsupported version");
  slot.version = 1;
  auto kdf = j.find("kdf");
  if (kdf == j.end() || !kdf->is_string() || *kdf != "argon2id") return Corrupt("unknown kdf");
  if (!get_u64("ops_limit", slot.kdf.ops_limit) || slot.kdf.ops_limit < kMinOps ||
      slot.kdf.ops_limit > kMaxOps)
    return Corrupt("bad ops_limit");
  if (!get_u64("mem_limit", slot.kdf.mem_limit) || slot.kdf.mem_limit < kMinMem ||
      slot.kdf.mem_limit > kMaxMem)
    return Corrupt("bad mem_limit");
  uint64_t lanes = 1;
  if (j.contains("lanes") &&
      (!get_u64("lanes", lanes) || lanes < 1 || lanes > crypto::kMaxArgonLanes ||
       slot.kdf.mem_limit < lanes * 8 * 1024))
    return Corrupt("bad lanes");
  slot.kdf.lanes = static_cast<uint32_t>(lanes);
  if (!get_hex("salt", slot.salt) || slot.salt.size() != 16) return Corrupt("bad salt");
  if (!get_hex("wrapped", slot.wrapped) || slot.wrapped.size() < crypto::kSealOverhead)
    return Corrupt("bad wrapped key");
  if (!get_hex("label", slot.label) || slot.label.size() < crypto::kSealOverhead)
    return Corrupt("bad label");
  return slot;
}

Result<Id> WriteKeySlot(storage::Backend& backend, const crypto::MasterKey& master,
                        std::string_view passphrase, const crypto::Argon2Params& kdf,
                        const std::string& user) {
  if (kdf.ops_limit < kMinOps || kdf.ops_limit > kMaxOps || kdf.mem_limit < kMinMem ||
      kdf.mem_limit > kMaxMem || kdf.lanes < 1 || kdf.lanes > crypto::kMaxArgonLanes ||
      kdf.mem_limit < uint64_t{kdf.lanes} * 8 * 1024)
    return Error(ErrorCode::kUsage, "key derivation parameters out of range");
  KeySlotFile slot;
  slot.kdf = kdf;
  slot.salt = crypto::RandomBytes(16);
  crypto::SecretKey kek;
  BW_RETURN_IF_ERROR(crypto::DeriveKeyArgon2id(passphrase, slot.salt, kdf, kek));
  Bytes serialized = master.Serialize();
  slot.wrapped = crypto::Seal(kek, serialized, AsBytes(kSlotAad));
  std::fill(serialized.begin(), serialized.end(), 0);
  nlohmann::json label = {{"user", user}, {"hostname", HostName()}, {"created", NowNs()}};
  slot.label = crypto::Seal(master.encryption, AsBytes(label.dump()), AsBytes(kLabelAad));
  Bytes stored = EncodeKeySlot(slot);
  Id id = crypto::Sha256(stored);
  BW_RETURN_IF_ERROR(backend.Put(KeySlotKey(id), stored));
  return id;
}

Result<std::pair<crypto::MasterKey, Id>> OpenKeySlots(storage::Backend& backend,
                                                      std::string_view passphrase) {
  return OpenKeySlots(backend, passphrase, nullptr);
}

// Sequential on purpose: each attempt holds an Argon2 working set (tens of MiB), and a
// repository rarely has more than a handful of slots.
Result<std::pair<crypto::MasterKey, Id>> OpenKeySlots(
    storage::Backend& backend, std::string_view passphrase,
    const std::function<bool(const crypto::MasterKey&)>& accept) {
  BW_ASSIGN_OR_RETURN(auto ids, ListSlotIds(backend));
  if (ids.empty())
    return Error(ErrorCode::kNoRepository,
                 "no key slots at " + backend.Location() + " (not a repository?)");
  std::vector<std::pair<Id, KeySlotFile>> slots;
  for (const Id& id : ids) {
    auto stored = backend.Get(KeySlotKey(id));
    if (!stored.ok()) {
      if (stored.error().code() == ErrorCode::kNotFound) continue;  // removed meanwhile
      return stored.error().Wrap("reading key slot " + id.ShortHex());
    }
    // A damaged or foreign slot must not lock out the others.
    auto slot = ParseKeySlot(*stored);
    if (slot.ok()) slots.emplace_back(id, std::move(*slot));
  }
  auto try_open = [&](const KeySlotFile& slot,
                      const crypto::SecretKey& kek) -> std::optional<crypto::MasterKey> {
    auto plain = crypto::Open(kek, slot.wrapped, AsBytes(kSlotAad));
    if (!plain.ok()) return std::nullopt;
    auto master = crypto::MasterKey::Parse(*plain);
    std::fill(plain->begin(), plain->end(), 0);
    if (!master.ok() || (accept && !accept(*master))) return std::nullopt;
    return std::move(*master);
  };
  // Keys this OS user derived recently (crypto/key_cache.h) first: no Argon2 at all.
  for (const auto& [id, slot] : slots) {
    auto kek = crypto::LookupCachedKek(passphrase, slot.salt, slot.kdf);
    if (!kek) continue;
    if (auto master = try_open(slot, *kek)) return std::make_pair(std::move(*master), id);
  }
  for (const auto& [id, slot] : slots) {
    crypto::SecretKey kek;
    BW_RETURN_IF_ERROR(crypto::DeriveKeyArgon2id(passphrase, slot.salt, slot.kdf, kek));
    if (auto master = try_open(slot, kek)) {
      crypto::CacheKek(passphrase, slot.salt, slot.kdf, kek);
      return std::make_pair(std::move(*master), id);
    }
  }
  return Error(ErrorCode::kWrongPassword,
               "no key slot in " + backend.Location() + " opens with this passphrase");
}

Result<std::vector<KeySlotInfo>> ListKeySlots(Repository& repo) {
  BW_ASSIGN_OR_RETURN(auto ids, ListSlotIds(repo.backend()));
  std::vector<KeySlotInfo> out;
  for (const Id& id : ids) {
    auto stored = repo.backend().Get(KeySlotKey(id));
    if (!stored.ok()) {
      if (stored.error().code() == ErrorCode::kNotFound) continue;
      return stored.error().Wrap("reading key slot " + id.ShortHex());
    }
    KeySlotInfo info;
    info.id = id;
    info.user = "?";  // a slot whose label this master key cannot open (foreign or damaged)
    if (auto slot = ParseKeySlot(*stored); slot.ok()) {
      if (auto label = repo.OpenWithMasterKey(slot->label, AsBytes(kLabelAad)); label.ok()) {
        auto j = nlohmann::json::parse(AsString(*label), nullptr, false);
        if (j.is_object()) {
          if (j.contains("user") && j["user"].is_string()) info.user = j["user"];
          if (j.contains("hostname") && j["hostname"].is_string()) info.hostname = j["hostname"];
          if (j.contains("created") && j["created"].is_number_integer())
            info.created_unix_ns = j["created"].get<int64_t>();
        }
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

Status RemoveKeySlot(Repository& repo, const Id& slot) {
  if (slot == repo.key_slot_id())
    return Error(ErrorCode::kUsage, "refusing to remove key slot " + slot.ShortHex() +
                                        ": it is the one this session was opened with; open "
                                        "the repository with another passphrase first");
  BW_ASSIGN_OR_RETURN(auto ids, ListSlotIds(repo.backend()));
  if (std::find(ids.begin(), ids.end(), slot) == ids.end())
    return Error(ErrorCode::kNotFound, "no key slot " + slot.ShortHex());
  if (ids.size() <= 1) return Error(ErrorCode::kUsage, "refusing to remove the last key slot");
  return repo.backend().Remove(KeySlotKey(slot));
}

}  // namespace bulwark::repo
