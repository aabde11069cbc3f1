#include "repo/repository.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/deletion.h"
#include "repo/key_slots.h"
#include "repo/pack.h"
#include "repo/parallel.h"

namespace bulwark::repo {

namespace {

constexpr char kConfigKey[] = "config";
constexpr std::string_view kConfigAad = "config";

nlohmann::json ConfigToJson(const RepoConfig& c) {
  nlohmann::json j = {{"version", c.version},
                      {"id", c.repository_id.Hex()},
                      {"chunker",
                       {{"min_size", c.chunker.min_size},
                        {"avg_size", c.chunker.avg_size},
                        {"max_size", c.chunker.max_size}}},
                      {"compression_level", c.compression_level},
                      {"pack_size", c.pack_size}};
  if (c.object_lock.enabled()) j["object_lock"] = ObjectLockToJson(c.object_lock);
  return j;
}

Status ValidateConfig(const RepoConfig& c, ErrorCode code) {
  auto bad = [&](const std::string& what) { return Error(code, "repository config: " + what); };
  if (c.version != 1) return bad("unsupported version " + std::to_string(c.version));
  const auto& k = c.chunker;
  if (k.avg_size == 0 || (k.avg_size & (k.avg_size - 1)) != 0)
    return bad("average chunk size must be a power of two");
  if (k.min_size < 64 || k.min_size > k.avg_size || k.avg_size > k.max_size ||
      k.max_size > (64u << 20))
    return bad("chunk sizes must satisfy 64 <= min <= avg <= max <= 64 MiB");
  if (c.compression_level < -7 || c.compression_level > 22)
    return bad("compression level must be between -7 and 22");
  if (c.pack_size < (4u << 10) || c.pack_size > (1u << 30))
    return bad("pack size must be between 4 KiB and 1 GiB");
  return ValidateObjectLock(c.object_lock, code);
}

Result<RepoConfig> ConfigFromJson(ByteView plaintext) {
  auto corrupt = [](const std::string& what) {
    return Error(ErrorCode::kIntegrity, "repository config: " + what);
  };
  auto j = nlohmann::json::parse(AsString(plaintext), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return corrupt("not a JSON object");
  RepoConfig c;
  try {
    c.version = j.at("version").get<uint32_t>();
    auto id = Id::FromHex(j.at("id").get<std::string>());
    if (!id) return corrupt("bad repository id");
    c.repository_id = *id;
    const auto& k = j.at("chunker");
    c.chunker.min_size = k.at("min_size").get<uint32_t>();
    c.chunker.avg_size = k.at("avg_size").get<uint32_t>();
    c.chunker.max_size = k.at("max_size").get<uint32_t>();
    c.compression_level = j.at("compression_level").get<int>();
    c.pack_size = j.at("pack_size").get<uint32_t>();
    if (j.contains("object_lock")) {
      auto lock = ObjectLockFromJson(j.at("object_lock"));
      if (!lock.ok()) return corrupt(lock.error().message());
      c.object_lock = *lock;
    }
  } catch (const nlohmann::json::exception& e) {
    return corrupt(e.what());
  }
  BW_RETURN_IF_ERROR(ValidateConfig(c, ErrorCode::kIntegrity));
  return c;
}

Id ParseObjectName(std::string_view key, std::string_view prefix, bool* ok) {
  *ok = false;
  if (key.substr(0, prefix.size()) != prefix) return Id();
  auto id = Id::FromHex(key.substr(prefix.size()));
  if (!id) return Id();
  *ok = true;
  return *id;
}

// With fallbacks, a range of a pack that cannot be read comes back as zeros (after saying
// once per pack why): the blobs in it then fail to decode, and the decoding step reads them
// from the fallback repositories. Everything else passes through.
class FallbackReadBackend : public storage::Backend {
 public:
  FallbackReadBackend(std::unique_ptr<storage::Backend> inner, std::string name,
                      std::function<void(const std::string&)> notice)
      : inner_(std::move(inner)), name_(std::move(name)), notice_(std::move(notice)) {}

  Status Put(const std::string& key, ByteView data) override { return inner_->Put(key, data); }
  Result<Bytes> Get(const std::string& key) override { return inner_->Get(key); }
  Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) override {
    auto r = inner_->GetRange(key, offset, length);
    if (r.ok() || !Substitute(key, r.error())) return r;
    return Bytes(length, 0);
  }
  Result<ByteView> GetRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                Bytes& buffer) override {
    auto r = inner_->GetRangeInto(key, offset, length, buffer);
    if (r.ok() || !Substitute(key, r.error())) return r;
    if (buffer.size() < length) buffer.resize(length);
    std::memset(buffer.data(), 0, length);
    return ByteView(buffer.data(), length);
  }
  void Prefetch(const std::string& key, uint64_t offset, uint64_t length) override {
    inner_->Prefetch(key, offset, length);
  }
  Result<std::vector<storage::ObjectInfo>> List(const std::string& prefix) override {
    return inner_->List(prefix);
  }
  Result<storage::ObjectInfo> Stat(const std::string& key) override { return inner_->Stat(key); }
  Status Remove(const std::string& key) override { return inner_->Remove(key); }
  Result<bool> RootExists() override { return inner_->RootExists(); }
  Status CreateRoot() override { return inner_->CreateRoot(); }
  std::string Location() const override { return inner_->Location(); }

 private:
  bool Substitute(const std::string& key, const Error& e) {
    if (key.rfind("data/", 0) != 0 || e.code() == ErrorCode::kCancelled) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (reported_.insert(key).second && reported_.size() <= 20) {
      notice_("pack " + key.substr(key.rfind('/') + 1, 8) + " unreadable in repository " + name_ +
              " (" + e.message() + "); its chunks are read from the next repository");
    }
    return true;
  }
  std::unique_ptr<storage::Backend> inner_;
  std::string name_;
  std::function<void(const std::string&)> notice_;
  std::mutex mu_;
  std::set<std::string> reported_;
};

}  // namespace

bool SameKeys(const crypto::MasterKey& a, const crypto::MasterKey& b) {
  return a.Serialize() == b.Serialize();
}

struct Repository::Fallbacks {
  struct Entry {
    FallbackSource source;
    bool tried = false;
    std::unique_ptr<Repository> repo;  // null if it could not be opened or has other keys
  };
  std::mutex mu;  // guards opening; entries' repos are used concurrently once open
  std::vector<Entry> entries;
  std::function<void(const std::string&)> notice;
  std::atomic<int> notices{0};
};

Repository::Repository() = default;
Repository::~Repository() = default;

std::string Repository::display_name() const {
  return display_name_.empty() ? backend_->Location() : display_name_;
}

void Repository::SetFallbacks(std::vector<FallbackSource> fallbacks,
                              std::function<void(const std::string&)> notice) {
  if (fallbacks.empty()) return;
  auto state = std::make_shared<Fallbacks>();
  for (auto& f : fallbacks) state->entries.push_back({std::move(f), false, nullptr});
  state->notice = std::move(notice);
  if (display_name_.empty()) display_name_ = backend_->Location();
  backend_ =
      std::make_unique<FallbackReadBackend>(std::move(backend_), display_name_, state->notice);
  fallbacks_ = std::move(state);
}

Result<Bytes> Repository::LoadFromFallbacks(BlobType type, const Id& id,
                                            const Error& original) const {
  if (!fallbacks_ || original.code() == ErrorCode::kCancelled) return original;
  Fallbacks& fb = *fallbacks_;
  for (auto& entry : fb.entries) {
    {
      std::lock_guard<std::mutex> lock(fb.mu);
      if (!entry.tried) {
        entry.tried = true;
        auto opened = entry.source.open();
        if (!opened.ok()) {
          fb.notice("fallback repository " + entry.source.name +
                    " cannot be used: " + opened.error().message());
        } else if (!SameKeys((*opened)->key(), key_)) {
          fb.notice("fallback repository " + entry.source.name +
                    " does not share the keys of repository " + display_name_ +
                    " (create it with `bulwark init --from-repo`); not used");
        } else if (Status st = (*opened)->LoadIndex(); !st.ok()) {
          fb.notice("fallback repository " + entry.source.name +
                    " cannot be used: " + st.error().message());
        } else {
          (*opened)->SetDisplayName(entry.source.name);
          entry.repo = std::move(*opened);
        }
      }
    }
    if (!entry.repo) continue;
    auto plain = entry.repo->LoadBlob(type, id);
    if (!plain.ok()) continue;
    int n = fb.notices.fetch_add(1);
    if (n < kMaxFallbackNotices) {
      std::string what = original.code() == ErrorCode::kIntegrity ? "damaged" : "unreadable";
      fb.notice(std::string(type == BlobType::kTree ? "tree" : "chunk") + " " + id.ShortHex() +
                " " + what + " in repository " + display_name_ + "; read from " +
                entry.source.name);
    } else if (n == kMaxFallbackNotices) {
      fb.notice("further chunks damaged in repository " + display_name_ +
                " are read from the fallback repositories without a message each");
    }
    return plain;
  }
  return original;
}

Result<std::unique_ptr<Repository>> Repository::Init(std::unique_ptr<storage::Backend> backend,
                                                     std::string_view passphrase,
                                                     const InitOptions& options) {
  RepoConfig config = options.config;
  BW_RETURN_IF_ERROR(ValidateConfig(config, ErrorCode::kUsage));
  // Object lock is set up before anything is written: CreateRoot then makes a bucket that can
  // hold locked objects, and every object below (the key slot and config too) is locked.
  if (config.object_lock.enabled()) {
    BW_RETURN_IF_ERROR(backend->EnableObjectLock(config.object_lock.ToBackend(), false));
  }
  BW_ASSIGN_OR_RETURN(bool root_exists, backend->RootExists());
  if (root_exists) {
    auto st = backend->Stat(kConfigKey);
    if (st.ok())
      return Error(ErrorCode::kAlreadyExists,
                   "a repository already exists at " + backend->Location() +
                       "; refusing to overwrite it (use a new location or open it)");
    if (st.error().code() != ErrorCode::kNotFound) return st.error().Wrap("checking for config");
  } else {
    BW_RETURN_IF_ERROR(backend->CreateRoot());
  }
  if (config.object_lock.enabled()) {
    BW_RETURN_IF_ERROR(backend->EnableObjectLock(config.object_lock.ToBackend(), true));
  }
  auto repo = std::unique_ptr<Repository>(new Repository());
  repo->key_ = options.master_key ? *options.master_key : crypto::MasterKey::Random();
  config.repository_id = Id::FromBytes(crypto::RandomBytes(32));
  // The slot goes first and the config last: the config's existence is what makes this a
  // repository, so a crash in between leaves only an orphan slot, which Open skips.
  BW_ASSIGN_OR_RETURN(repo->key_slot_id_, WriteKeySlot(*backend, repo->key_, passphrase,
                                                       options.kdf, options.key_user));
  Bytes sealed = crypto::Seal(repo->key_.encryption, AsBytes(ConfigToJson(config).dump()),
                              AsBytes(kConfigAad));
  if (auto st = backend->Put(kConfigKey, sealed); !st.ok()) {
    (void)backend->Remove(KeySlotKey(repo->key_slot_id_));
    if (st.error().code() == ErrorCode::kAlreadyExists)
      return Error(ErrorCode::kAlreadyExists, "a repository was created at " + backend->Location() +
                                                  " concurrently; refusing to overwrite it");
    return st.error().Wrap("writing config");
  }
  repo->config_ = config;
  repo->write_lock_ = config.object_lock;
  repo->gear_ = chunk::MakeGearTable(repo->key_.chunker_seed.view());
  repo->backend_ = std::move(backend);
  return repo;
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<storage::Backend> backend,
                                                     std::string_view passphrase) {
  BW_ASSIGN_OR_RETURN(bool root_exists, backend->RootExists());
  if (!root_exists)
    return Error(ErrorCode::kNoRepository,
                 "no repository at " + backend->Location() + " (run `bulwark init` first)");
  auto config_bytes = backend->Get(kConfigKey);
  if (!config_bytes.ok()) {
    if (config_bytes.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNoRepository, "no repository at " + backend->Location() +
                                                 " (no config; run `bulwark init` first)");
    return config_bytes.error().Wrap("reading config");
  }
  auto repo = std::unique_ptr<Repository>(new Repository());
  std::optional<RepoConfig> config;
  Error config_error(ErrorCode::kIntegrity, "");
  // A slot "opens" only if its master key also opens the config: an orphan slot from a
  // crashed init could otherwise shadow the real one.
  bool passphrase_fits = false;
  auto accept = [&](const crypto::MasterKey& master) {
    passphrase_fits = true;
    auto plain = crypto::Open(master.encryption, *config_bytes, AsBytes(kConfigAad));
    if (!plain.ok()) return false;
    auto c = ConfigFromJson(*plain);
    if (!c.ok()) {
      config_error = c.error();
      return false;
    }
    config = *c;
    return true;
  };
  auto opened = OpenKeySlots(*backend, passphrase, accept);
  if (!opened.ok()) {
    if (!config_error.message().empty()) return config_error;
    // The passphrase opened a slot, but no slot's key opens the config: the config is damaged
    // (an orphan slot alone would not hide the real one).
    if (passphrase_fits && opened.error().code() == ErrorCode::kWrongPassword)
      return Error(ErrorCode::kIntegrity, "the repository config at " + backend->Location() +
                                              " cannot be decrypted with the key this "
                                              "passphrase opens: config is damaged");
    return opened.error();
  }
  repo->key_ = std::move(opened->first);
  repo->key_slot_id_ = opened->second;
  repo->config_ = *config;
  repo->write_lock_ = config->object_lock;
  // Every writer applies the repository's object lock, whoever it is and whatever its flags.
  // A backend without object lock (a copy of the objects on a local disk) can still be read.
  if (config->object_lock.enabled()) {
    if (Status st = backend->EnableObjectLock(config->object_lock.ToBackend(), false);
        !st.ok() && st.error().code() != ErrorCode::kUsage) {
      return st.error();
    }
  }
  repo->gear_ = chunk::MakeGearTable(repo->key_.chunker_seed.view());
  repo->backend_ = std::move(backend);
  return repo;
}

Status Repository::UseObjectLock(const ObjectLockConfig& lock, const std::string& component) {
  BW_RETURN_IF_ERROR(CheckComponentLock(config_.object_lock, lock, component));
  const ObjectLockConfig& chosen = lock.enabled() ? lock : config_.object_lock;
  if (!chosen.enabled()) return Status::Ok();
  if (Status st = backend_->EnableObjectLock(chosen.ToBackend(), false);
      !st.ok() && st.error().code() != ErrorCode::kUsage) {
    return st.error();
  }
  write_lock_ = chosen;
  return Status::Ok();
}

Status Repository::LoadIndex() {
  index_.Clear();
  BW_ASSIGN_OR_RETURN(auto ids, ListObjects(ObjectKind::kIndex));
  std::vector<std::vector<IndexedPack>> files(ids.size());
  std::vector<bool> present(ids.size(), true);
  BW_RETURN_IF_ERROR(ParallelFor(ids.size(), kIoThreads, [&](size_t i) -> Status {
    auto plain = LoadObject(ObjectKind::kIndex, ids[i]);
    if (!plain.ok()) {
      // Removed by a concurrent prune after it wrote the replacement: the listing was stale.
      if (plain.error().code() == ErrorCode::kNotFound) {
        present[i] = false;
        return Status::Ok();
      }
      return plain.error();
    }
    auto decoded = DecodeIndexFile(*plain);
    if (!decoded.ok()) return decoded.error().Wrap("index/" + ids[i].ShortHex());
    files[i] = std::move(*decoded);
    return Status::Ok();
  }));
  size_t blobs = 0;
  for (const auto& f : files)
    for (const auto& p : f) blobs += p.blobs.size();
  index_.Reserve(blobs);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!present[i]) continue;
    for (const auto& p : files[i]) index_.AddPack(p);
    files[i].clear();
    files[i].shrink_to_fit();
    index_.AddIndexFile(ids[i]);
  }
  BW_ASSIGN_OR_RETURN(auto records, LoadAllDeletionRecords(*this));
  for (const auto& [id, record] : records)
    for (const Id& pack : record.packs) index_.Condemn(pack);
  return Status::Ok();
}

Id Repository::BlobId(ByteView plaintext) const { return crypto::KeyedHash(key_.mac, plaintext); }

Result<Bytes> Repository::LoadBlob(BlobType type, const Id& id) const {
  if (!fallbacks_) return LoadBlobHere(type, id);
  auto plain = LoadBlobHere(type, id);
  if (plain.ok()) return plain;
  return LoadFromFallbacks(type, id, plain.error());
}

Result<Bytes> Repository::LoadBlobHere(BlobType type, const Id& id) const {
  auto loc = index_.Find(type, id);
  if (!loc)
    return Error(ErrorCode::kIntegrity, std::string(type == BlobType::kTree ? "tree" : "data") +
                                            " blob " + id.ShortHex() + " is not in the index");
  auto sealed = backend_->GetRange(PackKey(loc->pack), loc->offset, loc->length);
  if (!sealed.ok()) {
    Error e = sealed.error();
    // A pack the index names but storage lacks is damage, not a user error.
    if (e.code() == ErrorCode::kNotFound) e = Error(ErrorCode::kIntegrity, e.message());
    return e.Wrap("blob " + id.ShortHex() + " in pack " + loc->pack.ShortHex());
  }
  auto plain = repo::DecodeBlob(key_.encryption, type, id, *sealed, loc->raw_length);
  if (!plain.ok())
    return plain.error().Wrap("blob " + id.ShortHex() + " in pack " + loc->pack.ShortHex());
  if (BlobId(*plain) != id)
    return Error(ErrorCode::kIntegrity, "blob " + id.ShortHex() + " in pack " +
                                            loc->pack.ShortHex() + ": content hash mismatch");
  return plain;
}

Result<Bytes> Repository::DecodeBlob(BlobType type, const Id& id, ByteView sealed) const {
  auto plain = repo::DecodeBlob(key_.encryption, type, id, sealed, kUnknownRawLength);
  if (!plain.ok()) return LoadFromFallbacks(type, id, plain.error().Wrap("blob " + id.ShortHex()));
  if (BlobId(*plain) != id) {
    return LoadFromFallbacks(
        type, id,
        Error(ErrorCode::kIntegrity, "blob " + id.ShortHex() + ": content hash mismatch"));
  }
  return plain;
}

namespace {
// Why a blob fetched for restore is unusable: its decode error, or (decoded fine) a plaintext
// that does not hash to its ID. Built only on failure: restores decode millions of blobs.
Error DecodeProblem(const Id& id, const Status& decoded) {
  if (!decoded.ok()) return decoded.error().Wrap("blob " + id.ShortHex());
  return Error(ErrorCode::kIntegrity, "blob " + id.ShortHex() + ": content hash mismatch");
}
}  // namespace

Result<ByteView> Repository::DecodeBlobInto(BlobType type, const Id& id, ByteView sealed,
                                            uint32_t raw_length, DecodeBuffers& buffers,
                                            BlobCheck check) const {
  auto plain = repo::DecodeBlobInto(key_.encryption, type, id, sealed, raw_length, buffers);
  if (plain.ok() && (check == BlobCheck::kTag || BlobId(*plain) == id)) return plain;
  Error problem = DecodeProblem(id, plain.ok() ? Status::Ok() : Status(plain.error()));
  if (!fallbacks_) return problem;
  auto other = LoadFromFallbacks(type, id, problem);
  if (!other.ok()) return other.error();
  if (raw_length != kUnknownRawLength && other->size() != raw_length) return problem;
  buffers.inflated = std::move(*other);
  return ByteView(buffers.inflated.data(), buffers.inflated.size());
}

Status Repository::DecodeBlobTo(BlobType type, const Id& id, ByteView sealed, MutableByteView dest,
                                DecodeBuffers& buffers, BlobCheck check) const {
  Status decoded = repo::DecodeBlobTo(key_.encryption, type, id, sealed, dest, buffers);
  if (decoded.ok() && (check == BlobCheck::kTag || BlobId(dest) == id)) return Status::Ok();
  Error problem = DecodeProblem(id, decoded);
  if (!fallbacks_) return problem;
  auto other = LoadFromFallbacks(type, id, problem);
  if (!other.ok()) return other.error();
  if (other->size() != dest.size()) return problem;
  std::copy(other->begin(), other->end(), dest.begin());
  return Status::Ok();
}

Result<Id> Repository::SaveObject(ObjectKind kind, ByteView plaintext) {
  Bytes sealed = crypto::Seal(key_.encryption, plaintext, AsBytes(ObjectPrefix(kind)));
  Id id = crypto::Sha256(sealed);
  Status st = backend_->Put(ObjectKey(kind, id), sealed);
  // Content-addressed: an existing object of this name has exactly these bytes.
  if (!st.ok() && st.error().code() != ErrorCode::kAlreadyExists)
    return st.error().Wrap("saving " + ObjectKey(kind, id));
  return id;
}

Result<Bytes> Repository::LoadObject(ObjectKind kind, const Id& id) const {
  std::string key = ObjectKey(kind, id);
  auto stored = backend_->Get(key);
  if (!stored.ok()) return stored.error().Wrap("reading " + key);
  if (crypto::Sha256(*stored) != id)
    return Error(ErrorCode::kIntegrity, key + ": stored bytes do not match their name (damaged)");
  auto plain = crypto::Open(key_.encryption, *stored, AsBytes(ObjectPrefix(kind)));
  if (!plain.ok()) return plain.error().Wrap(key);
  return plain;
}

Result<std::vector<Id>> Repository::ListObjects(ObjectKind kind) const {
  std::string_view prefix = ObjectPrefix(kind);
  BW_ASSIGN_OR_RETURN(auto objects, backend_->List(std::string(prefix)));
  std::vector<Id> ids;
  ids.reserve(objects.size());
  for (const auto& o : objects) {
    bool ok;
    Id id = ParseObjectName(o.key, prefix, &ok);
    if (ok) ids.push_back(id);  // anything else is not ours (never written by Bulwark)
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Status Repository::RemoveObject(ObjectKind kind, const Id& id) {
  return backend_->Remove(ObjectKey(kind, id));
}

Result<Id> Repository::ResolvePrefix(ObjectKind kind, std::string_view prefix) const {
  std::string p(prefix);
  for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (p.empty() || p.size() > 64 ||
      !std::all_of(p.begin(), p.end(), [](char c) { return std::isxdigit(c); }))
    return Error(ErrorCode::kUsage, "'" + std::string(prefix) + "' is not a valid ID or ID prefix");
  BW_ASSIGN_OR_RETURN(auto ids, ListObjects(kind));
  std::vector<Id> matches;
  for (const Id& id : ids)
    if (id.Hex().compare(0, p.size(), p) == 0) matches.push_back(id);
  std::string what(ObjectPrefix(kind));
  what.pop_back();
  if (matches.empty())
    return Error(ErrorCode::kNotFound, "no object in " + what + " matches '" + p + "'");
  if (matches.size() > 1)
    return Error(ErrorCode::kUsage, "'" + p + "' is ambiguous: " + std::to_string(matches.size()) +
                                        " objects in " + what + " match; give more digits");
  return matches[0];
}

Bytes Repository::SealWithMasterKey(ByteView plaintext, ByteView associated_data) const {
  return crypto::Seal(key_.encryption, plaintext, associated_data);
}

Result<Bytes> Repository::OpenWithMasterKey(ByteView sealed, ByteView associated_data) const {
  return crypto::Open(key_.encryption, sealed, associated_data);
}

}  // namespace bulwark::repo
