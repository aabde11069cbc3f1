// Repository: an opened repository (backend + master key + config + loaded index).
// Init/Open create it; afterwards it is shared by all threads of a command: every const
// method and LoadBlob/SaveObject/LoadObject are safe to call concurrently. ReloadIndex must
// not run concurrently with readers of index(). SetDisplayName/SetFallbacks/UseObjectLock are
// called before the repository is shared (UseObjectLock again only while no thread writes).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chunk/chunker.h"
#include "core/result.h"
#include "crypto/keys.h"
#include "repo/index.h"
#include "repo/object_lock.h"
#include "repo/pack.h"
#include "repo/types.h"
#include "storage/backend.h"

namespace bulwark::repo {

// Stored encrypted under "config" (written once by init).
struct RepoConfig {
  uint32_t version = 1;
  Id repository_id;
  chunk::ChunkerParams chunker;
  int compression_level = 3;       // zstd level for new blobs
  uint32_t pack_size = 16u << 20;  // target pack size in bytes
  ObjectLockConfig object_lock;    // WORM retention of every object (S3 only); off by default
};

struct InitOptions {
  RepoConfig config;  // repository_id is filled in by Init
  crypto::Argon2Params kdf;
  std::string key_user;  // label of the first key slot (e.g. user@host)
  // The master key to wrap instead of a new random one: `init --from-repo` shares another
  // repository's keys so chunk IDs (and the chunker) agree and `copy` can deduplicate.
  std::optional<crypto::MasterKey> master_key;
};

class Repository;

// A repository to read from when this one cannot deliver a blob (see SetFallbacks).
struct FallbackSource {
  std::string name;  // how messages call it, e.g. "offsite"
  // Opens it; called at most once, on first need, from whichever thread needs it.
  std::function<Result<std::unique_ptr<Repository>>()> open;
};

// True if both master keys are identical (encryption, MAC and chunker keys).
bool SameKeys(const crypto::MasterKey& a, const crypto::MasterKey& b);

class Repository {
 public:
  ~Repository();
  // Creates a new repository; refuses (kAlreadyExists) if "config" already exists.
  static Result<std::unique_ptr<Repository>> Init(std::unique_ptr<storage::Backend> backend,
                                                  std::string_view passphrase,
                                                  const InitOptions& options);
  // Opens an existing repository: kNoRepository if there is none at that location,
  // kWrongPassword if no key slot opens with this passphrase. Does not load the index.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<storage::Backend> backend,
                                                  std::string_view passphrase);

  storage::Backend& backend() { return *backend_; }
  const crypto::MasterKey& key() const { return key_; }
  const RepoConfig& config() const { return config_; }
  // The object lock this process writes with: config().object_lock, unless UseObjectLock chose
  // a component's longer or stricter one.
  const ObjectLockConfig& write_lock() const { return write_lock_; }
  // Every later write (and the packs a snapshot or record holds, see retention_hold.h) uses
  // `lock`, checked with CheckComponentLock against the repository's (`component` names it in
  // errors); a disabled `lock` returns to the repository's. A backend without object lock (a
  // local copy of a locked repository) keeps writing unlocked, as Open does.
  Status UseObjectLock(const ObjectLockConfig& lock, const std::string& component);
  const chunk::GearTable& gear() const { return gear_; }
  const Id& key_slot_id() const { return key_slot_id_; }  // slot that opened this session

  // Loads every index file and deletion record. Call before using index() or LoadBlob.
  Status LoadIndex();
  const Index& index() const { return index_; }
  Index& mutable_index() { return index_; }

  // Chunk ID of plaintext: HMAC-SHA-256 with the repository MAC key.
  Id BlobId(ByteView plaintext) const;

  // Reads one blob: fetches its range, decrypts, decompresses, and checks that its keyed
  // hash equals `id` (kIntegrity otherwise, naming the pack).
  Result<Bytes> LoadBlob(BlobType type, const Id& id) const;
  // Decodes a sealed blob already fetched (restore fetches whole pack ranges itself).
  Result<Bytes> DecodeBlob(BlobType type, const Id& id, ByteView sealed) const;
  // What the restore-path decoders below check. Always the AEAD tag, which covers every byte
  // and binds the blob's type and ID (associated data): a blob that opens is the one a key
  // holder sealed under that ID, unmodified. Compressed frames written since 2026-11-30 also
  // carry zstd's checksum of the plaintext, which decompression checks. kRehash recomputes
  // the keyed hash of the plaintext as well, which additionally catches a writer that hashed
  // other bytes than it sealed (a bug, or memory corrupted in between); it costs about a third
  // of a restore's CPU time. DecodeBlob, LoadBlob (check, copy, prune, trees) always rehash.
  enum class BlobCheck { kTag, kRehash };

  // The same into per-thread reusable buffers, also checking the indexed raw length; the view
  // points into `buffers`.
  Result<ByteView> DecodeBlobInto(BlobType type, const Id& id, ByteView sealed, uint32_t raw_length,
                                  DecodeBuffers& buffers, BlobCheck check) const;
  // The same into `dest`, sized to the indexed raw length; on error `dest` holds garbage.
  Status DecodeBlobTo(BlobType type, const Id& id, ByteView sealed, MutableByteView dest,
                      DecodeBuffers& buffers, BlobCheck check) const;

  // How messages name this repository (a configured name, else its location).
  void SetDisplayName(std::string name) { display_name_ = std::move(name); }
  std::string display_name() const;

  // Reads of blobs that fail here — a blob that does not authenticate or hash to its ID, or
  // a pack range that cannot be read (missing, truncated, I/O error) — are retried in
  // `fallbacks`, in order. Each is opened and its index loaded on first need, and used only
  // if it shares this repository's keys (the same blob IDs). Every fallback read is reported
  // through `notice` (one line, e.g. "chunk ab12cd34 damaged in repository local; read from
  // offsite"; at most kMaxFallbackNotices lines, then one saying further ones are quiet).
  // With fallbacks, a pack range that cannot be read is returned as zeros by backend(), so
  // that its blobs fail to decode and are fetched from the fallbacks by the caller's
  // DecodeBlob*/LoadBlob.
  void SetFallbacks(std::vector<FallbackSource> fallbacks,
                    std::function<void(const std::string&)> notice);
  static constexpr int kMaxFallbackNotices = 20;

  // Stand-alone objects: sealed, stored create-only under ObjectPrefix(kind)/sha256(stored).
  Result<Id> SaveObject(ObjectKind kind, ByteView plaintext);
  Result<Bytes> LoadObject(ObjectKind kind, const Id& id) const;
  Result<std::vector<Id>> ListObjects(ObjectKind kind) const;
  Status RemoveObject(ObjectKind kind, const Id& id);
  // Resolves a unique hex prefix of an object ID (e.g. a snapshot ID given on the CLI).
  Result<Id> ResolvePrefix(ObjectKind kind, std::string_view prefix) const;

  // Seal/Open with the repository encryption key, for objects with other naming (audit, keys
  // use their own; the config object).
  Bytes SealWithMasterKey(ByteView plaintext, ByteView associated_data) const;
  Result<Bytes> OpenWithMasterKey(ByteView sealed, ByteView associated_data) const;

 private:
  struct Fallbacks;
  Repository();
  // LoadBlob from this repository only.
  Result<Bytes> LoadBlobHere(BlobType type, const Id& id) const;
  // The blob from the first fallback that has it, or `original` (this repository's error).
  Result<Bytes> LoadFromFallbacks(BlobType type, const Id& id, const Error& original) const;

  std::unique_ptr<storage::Backend> backend_;
  std::string display_name_;
  std::shared_ptr<Fallbacks> fallbacks_;
  crypto::MasterKey key_;
  RepoConfig config_;
  ObjectLockConfig write_lock_;
  chunk::GearTable gear_{};
  Id key_slot_id_;
  Index index_;
};

}  // namespace bulwark::repo
