#include "repo/repository.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/key_slots.h"
#include "repo/pack.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::FastInitOptions;
using testing::LocalAt;
using testing::MakeRepo;
using testing::TempDir;

TEST(RepositoryTest, InitThenOpenRecoversKeysAndConfig) {
  TempDir dir;
  InitOptions options = FastInitOptions();
  options.config.compression_level = 7;
  options.config.pack_size = 1u << 20;
  options.config.chunker = {.min_size = 4096, .avg_size = 16384, .max_size = 65536};
  auto created = MakeRepo(dir.path(), options);
  ASSERT_TRUE(created);
  EXPECT_FALSE(created->config().repository_id.IsZero());

  auto opened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  const Repository& r = **opened;
  EXPECT_EQ(r.config().repository_id, created->config().repository_id);
  EXPECT_EQ(r.config().compression_level, 7);
  EXPECT_EQ(r.config().pack_size, 1u << 20);
  EXPECT_EQ(r.config().chunker.avg_size, 16384u);
  EXPECT_EQ(r.key().Serialize(), created->key().Serialize());
  EXPECT_EQ(r.key_slot_id(), created->key_slot_id());
  EXPECT_EQ(r.BlobId(AsBytes("x")), created->BlobId(AsBytes("x")));
  EXPECT_EQ(r.gear(), created->gear());
}

TEST(RepositoryTest, WrongPassphrase) {
  TempDir dir;
  ASSERT_TRUE(MakeRepo(dir.path()));
  auto opened = Repository::Open(LocalAt(dir.path()), "not the secret");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kWrongPassword);
}

TEST(RepositoryTest, NoRepository) {
  TempDir dir;
  auto missing = Repository::Open(LocalAt(dir.Sub("nothing-here")), "secret");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNoRepository);
  auto empty = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::kNoRepository);
}

TEST(RepositoryTest, InitTwiceIsRefusedAndKeepsTheFirst) {
  TempDir dir;
  auto first = MakeRepo(dir.path());
  ASSERT_TRUE(first);
  auto second = Repository::Init(LocalAt(dir.path()), "other", FastInitOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(second.error().message().find("already exists"), std::string::npos);
  auto opened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ((*opened)->config().repository_id, first->config().repository_id);
  EXPECT_FALSE(Repository::Open(LocalAt(dir.path()), "other").ok());
}

TEST(RepositoryTest, DamagedConfigIsAnIntegrityError) {
  TempDir dir;
  ASSERT_TRUE(MakeRepo(dir.path()));
  testing::FlipByte(dir.Sub("config"), -5);
  auto opened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kIntegrity);
  // With a wrong passphrase it is still just that.
  EXPECT_EQ(Repository::Open(LocalAt(dir.path()), "nope").error().code(),
            ErrorCode::kWrongPassword);
}

TEST(RepositoryTest, InvalidConfigIsAUsageError) {
  TempDir dir;
  InitOptions options = FastInitOptions();
  options.config.chunker.avg_size = 1000;  // not a power of two
  auto r = Repository::Init(LocalAt(dir.path()), "secret", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUsage);
}

TEST(RepositoryTest, OrphanKeySlotWithSamePassphraseIsSkipped) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  // What a crashed concurrent init leaves: a slot for another master key, same passphrase.
  auto orphan = WriteKeySlot(repo->backend(), crypto::MasterKey::Random(), "secret",
                             FastInitOptions().kdf, "ghost");
  ASSERT_TRUE(orphan.ok());
  for (int i = 0; i < 2; ++i) {
    auto opened = Repository::Open(LocalAt(dir.path()), "secret");
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    EXPECT_EQ((*opened)->key().Serialize(), repo->key().Serialize());
  }
}

TEST(RepositoryTest, ObjectsRoundTripAndAreContentAddressed) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  auto a = repo->SaveObject(ObjectKind::kSnapshot, AsBytes("hello"));
  ASSERT_TRUE(a.ok());
  auto b = repo->SaveObject(ObjectKind::kSnapshot, AsBytes("hello"));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b);  // fresh salt per seal: same plaintext, different objects
  auto stored = repo->backend().Get(ObjectKey(ObjectKind::kSnapshot, *a));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(crypto::Sha256(*stored), *a);
  EXPECT_EQ(AsString(*stored).find("hello"), std::string_view::npos);

  auto loaded = repo->LoadObject(ObjectKind::kSnapshot, *a);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(AsString(*loaded), "hello");
  // The kind is bound into the ciphertext: an object cannot be passed off as another kind.
  ASSERT_TRUE(repo->backend().Put(ObjectKey(ObjectKind::kIndex, *a), *stored).ok());
  auto wrong_kind = repo->LoadObject(ObjectKind::kIndex, *a);
  ASSERT_FALSE(wrong_kind.ok());
  EXPECT_EQ(wrong_kind.error().code(), ErrorCode::kIntegrity);

  auto list = repo->ListObjects(ObjectKind::kSnapshot);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  ASSERT_TRUE(repo->RemoveObject(ObjectKind::kSnapshot, *a).ok());
  auto gone = repo->LoadObject(ObjectKind::kSnapshot, *a);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
}

TEST(RepositoryTest, TamperedObjectIsAnIntegrityError) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  auto id = repo->SaveObject(ObjectKind::kDeletion, AsBytes("payload"));
  ASSERT_TRUE(id.ok());
  testing::FlipByte(dir.Sub(ObjectKey(ObjectKind::kDeletion, *id)), -20);
  auto loaded = repo->LoadObject(ObjectKind::kDeletion, *id);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(loaded.error().message().find(id->Hex()), std::string::npos);
}

TEST(RepositoryTest, ResolvePrefix) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  std::vector<Id> ids;
  for (int i = 0; i < 40; ++i) {
    auto id = repo->SaveObject(ObjectKind::kSnapshot, AsBytes(std::to_string(i)));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  auto full = repo->ResolvePrefix(ObjectKind::kSnapshot, ids[3].Hex());
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(*full, ids[3]);
  std::string upper = ids[5].Hex().substr(0, 12);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  auto short_id = repo->ResolvePrefix(ObjectKind::kSnapshot, upper);
  ASSERT_TRUE(short_id.ok());
  EXPECT_EQ(*short_id, ids[5]);
  // With 40 objects and 16 possible first digits, some one-digit prefix is ambiguous.
  std::map<char, int> first_digit;
  for (const Id& id : ids) first_digit[id.Hex()[0]]++;
  for (auto [digit, count] : first_digit) {
    if (count < 2) continue;
    auto ambiguous = repo->ResolvePrefix(ObjectKind::kSnapshot, std::string(1, digit));
    ASSERT_FALSE(ambiguous.ok());
    EXPECT_EQ(ambiguous.error().code(), ErrorCode::kUsage);
    EXPECT_NE(ambiguous.error().message().find(std::to_string(count)), std::string::npos);
    break;
  }
  std::string none = ids[0].Hex();
  none[0] = none[0] == '0' ? '1' : '0';
  auto missing = repo->ResolvePrefix(ObjectKind::kSnapshot, none);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(repo->ResolvePrefix(ObjectKind::kSnapshot, "xyz").error().code(), ErrorCode::kUsage);
  EXPECT_EQ(repo->ResolvePrefix(ObjectKind::kSnapshot, "").error().code(), ErrorCode::kUsage);
}

// A pack written by hand, indexed by an index file: LoadIndex finds it, LoadBlob reads it.
TEST(RepositoryTest, LoadIndexAndLoadBlob) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  PackBuilder builder(&repo->key().encryption);
  std::vector<std::pair<Id, std::string>> blobs;
  for (int i = 0; i < 5; ++i) {
    std::string text = "blob number " + std::to_string(i) + std::string(1000, 'a' + i);
    Id id = repo->BlobId(AsBytes(text));
    Bytes sealed;
    EncodeBlob(repo->key().encryption, BlobType::kData, id, AsBytes(text), 3, sealed);
    builder.AddSealed(BlobType::kData, id, sealed, static_cast<uint32_t>(text.size()));
    blobs.emplace_back(id, text);
  }
  auto [bytes, pack] = builder.Finish();
  ASSERT_TRUE(repo->backend().Put(PackKey(pack.pack), bytes).ok());
  ASSERT_TRUE(repo->SaveObject(ObjectKind::kIndex, EncodeIndexFile({pack})).ok());

  auto opened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(opened.ok());
  Repository& r = **opened;
  ASSERT_TRUE(r.LoadIndex().ok());
  EXPECT_EQ(r.index().BlobCount(), 5u);
  EXPECT_EQ(r.index().IndexFiles().size(), 1u);
  for (const auto& [id, text] : blobs) {
    auto plain = r.LoadBlob(BlobType::kData, id);
    ASSERT_TRUE(plain.ok()) << plain.error().message();
    EXPECT_EQ(AsString(*plain), text);
    EXPECT_FALSE(r.LoadBlob(BlobType::kTree, id).ok());  // types are separate namespaces
  }
  auto unknown = r.LoadBlob(BlobType::kData, r.BlobId(AsBytes("never stored")));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kIntegrity);

  // Damage the third blob: its load fails naming pack and blob; the others still load.
  auto loc = r.index().Find(BlobType::kData, blobs[2].first);
  ASSERT_TRUE(loc);
  std::string path = dir.Sub(PackKey(pack.pack));
  auto size = static_cast<long>(std::filesystem::file_size(path));
  testing::FlipByte(path, -(size - static_cast<long>(loc->offset) - 40));
  auto damaged = r.LoadBlob(BlobType::kData, blobs[2].first);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(damaged.error().message().find(pack.pack.ShortHex()), std::string::npos);
  EXPECT_NE(damaged.error().message().find(blobs[2].first.ShortHex()), std::string::npos);
  EXPECT_TRUE(r.LoadBlob(BlobType::kData, blobs[1].first).ok());

  // A pack the index names but storage lost is damage too.
  std::filesystem::remove(path);
  auto lost = r.LoadBlob(BlobType::kData, blobs[0].first);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code(), ErrorCode::kIntegrity);
}

TEST(RepositoryTest, DecodeBlobChecksTheKeyedHash) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  Id id = repo->BlobId(AsBytes("content"));
  Bytes sealed;
  EncodeBlob(repo->key().encryption, BlobType::kData, id, AsBytes("content"), 3, sealed);
  auto ok = repo->DecodeBlob(BlobType::kData, id, sealed);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(AsString(*ok), "content");
  // Sealed under a wrong ID (e.g. by a buggy writer): AAD matches but the hash does not.
  Id wrong = repo->BlobId(AsBytes("other"));
  Bytes mislabeled;
  EncodeBlob(repo->key().encryption, BlobType::kData, wrong, AsBytes("content"), 3, mislabeled);
  auto bad = repo->DecodeBlob(BlobType::kData, wrong, mislabeled);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kIntegrity);

  // The restore-path decoders: kRehash refuses the mislabeled blob; kTag takes it, since its
  // tag is sound (only rehashing can tell a writer that hashed other bytes than it sealed).
  DecodeBuffers buffers;
  Bytes dest(7);
  using Check = Repository::BlobCheck;
  EXPECT_EQ(repo->DecodeBlobTo(BlobType::kData, wrong, mislabeled, dest, buffers, Check::kRehash)
                .error()
                .code(),
            ErrorCode::kIntegrity);
  EXPECT_FALSE(
      repo->DecodeBlobInto(BlobType::kData, wrong, mislabeled, 7, buffers, Check::kRehash).ok());
  EXPECT_TRUE(
      repo->DecodeBlobTo(BlobType::kData, wrong, mislabeled, dest, buffers, Check::kTag).ok());
  EXPECT_EQ(AsString(dest), "content");
  // Every other damage fails either way: another ID, another type, a flipped byte.
  for (Check check : {Check::kTag, Check::kRehash}) {
    EXPECT_TRUE(repo->DecodeBlobTo(BlobType::kData, id, sealed, dest, buffers, check).ok());
    EXPECT_FALSE(repo->DecodeBlobTo(BlobType::kData, wrong, sealed, dest, buffers, check).ok());
    EXPECT_FALSE(repo->DecodeBlobTo(BlobType::kTree, id, sealed, dest, buffers, check).ok());
    for (size_t i = 0; i < sealed.size(); ++i) {
      Bytes flipped = sealed;
      flipped[i] ^= 0x01;
      auto r = repo->DecodeBlobInto(BlobType::kData, id, flipped, 7, buffers, check);
      ASSERT_FALSE(r.ok()) << "byte " << i;
      EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
    }
  }
}

TEST(RepositoryTest, CompressedBlobsCarryAContentChecksum) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  const std::string text(4096, 'a');
  Id id = repo->BlobId(AsBytes(text));
  Bytes sealed;
  EncodeBlob(repo->key().encryption, BlobType::kData, id, AsBytes(text), 3, sealed);
  auto opened =
      crypto::Open(repo->key().encryption, sealed, BlobAssociatedData(BlobType::kData, id));
  ASSERT_TRUE(opened.ok());
  ASSERT_EQ((*opened)[0], 1);  // zstd frame
  // Frame header descriptor, bit 2: content checksum present (RFC 8878, 3.1.1.1.1).
  EXPECT_NE((*opened)[1 + 4] & 0x04, 0);
}

}  // namespace
}  // namespace bulwark::repo
