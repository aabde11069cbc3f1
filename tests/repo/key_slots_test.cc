#include "repo/key_slots.h"

#include <gtest/gtest.h>

#include <set>

#include "repo/repository.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::FastInitOptions;
using testing::LocalAt;
using testing::MakeRepo;
using testing::TempDir;

TEST(KeySlotsTest, AddListOpenRemove) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  auto second =
      WriteKeySlot(repo->backend(), repo->key(), "second pass", FastInitOptions().kdf, "alice");
  ASSERT_TRUE(second.ok());

  auto opened = Repository::Open(LocalAt(dir.path()), "second pass");
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ((*opened)->key_slot_id(), *second);
  EXPECT_EQ((*opened)->key().Serialize(), repo->key().Serialize());

  auto slots = ListKeySlots(*repo);
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 2u);
  std::set<std::string> users;
  for (const auto& s : *slots) {
    users.insert(s.user);
    EXPECT_GT(s.created_unix_ns, 0);
    EXPECT_FALSE(s.hostname.empty());
  }
  EXPECT_EQ(users, (std::set<std::string>{"tester", "alice"}));

  // The slot in use cannot be removed; another one can, and its passphrase stops working.
  auto in_use = RemoveKeySlot(**opened, *second);
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(in_use.error().code(), ErrorCode::kUsage);
  ASSERT_TRUE(RemoveKeySlot(*repo, *second).ok());
  auto after = Repository::Open(LocalAt(dir.path()), "second pass");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code(), ErrorCode::kWrongPassword);
  EXPECT_TRUE(Repository::Open(LocalAt(dir.path()), "secret").ok());
  EXPECT_EQ(RemoveKeySlot(*repo, *second).error().code(), ErrorCode::kNotFound);
}

TEST(KeySlotsTest, StoredSlotRevealsNoSecretsOrLabels) {
  TempDir dir;
  InitOptions options = FastInitOptions();
  options.key_user = "very-distinctive-user";
  auto repo = MakeRepo(dir.path(), options);
  ASSERT_TRUE(repo);
  auto stored = repo->backend().Get(KeySlotKey(repo->key_slot_id()));
  ASSERT_TRUE(stored.ok());
  std::string text(AsString(*stored));
  EXPECT_EQ(text.find("very-distinctive-user"), std::string::npos);
  EXPECT_EQ(text.find(HexEncode(repo->key().encryption.view())), std::string::npos);
  auto parsed = ParseKeySlot(*stored);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->kdf.ops_limit, 1u);
  EXPECT_EQ(parsed->kdf.mem_limit, 8u << 20);
  EXPECT_EQ(parsed->salt.size(), 16u);
  EXPECT_EQ(EncodeKeySlot(*parsed), *stored);
}

TEST(KeySlotsTest, ParseRejectsHostileParameters) {
  KeySlotFile slot;
  slot.kdf = {1, 8u << 20};
  slot.salt = Bytes(16, 1);
  slot.wrapped = Bytes(200, 2);
  slot.label = Bytes(100, 3);
  ASSERT_TRUE(ParseKeySlot(EncodeKeySlot(slot)).ok());
  KeySlotFile huge = slot;
  huge.kdf.mem_limit = 1ull << 40;
  EXPECT_EQ(ParseKeySlot(EncodeKeySlot(huge)).error().code(), ErrorCode::kIntegrity);
  KeySlotFile slow = slot;
  slow.kdf.ops_limit = 1000000;
  EXPECT_FALSE(ParseKeySlot(EncodeKeySlot(slow)).ok());
  KeySlotFile short_salt = slot;
  short_salt.salt = Bytes(8, 1);
  EXPECT_FALSE(ParseKeySlot(EncodeKeySlot(short_salt)).ok());
  EXPECT_FALSE(ParseKeySlot(AsBytes("not json")).ok());
  EXPECT_FALSE(ParseKeySlot(AsBytes(R"({"version":1,"kdf":"scrypt"})")).ok());
  // Lanes: absent means 1 (older slots); 2 round-trips; out of range is damage.
  EXPECT_EQ(ParseKeySlot(EncodeKeySlot(slot))->kdf.lanes, 1u);
  KeySlotFile two = slot;
  two.kdf.lanes = 2;
  ASSERT_TRUE(ParseKeySlot(EncodeKeySlot(two)).ok());
  EXPECT_EQ(ParseKeySlot(EncodeKeySlot(two))->kdf.lanes, 2u);
  KeySlotFile many = slot;
  many.kdf.lanes = 17;
  EXPECT_EQ(ParseKeySlot(EncodeKeySlot(many)).error().code(), ErrorCode::kIntegrity);
}

TEST(KeySlotsTest, DamagedSlotDoesNotLockOutOthers) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  ASSERT_TRUE(repo->backend().Put("keys/" + std::string(64, '0'), AsBytes("garbage")).ok());
  EXPECT_TRUE(Repository::Open(LocalAt(dir.path()), "secret").ok());
  auto slots = ListKeySlots(*repo);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(slots->size(), 2u);
}

TEST(KeySlotsTest, NoSlotsMeansNoRepository) {
  TempDir dir;
  storage::LocalBackend backend(dir.path());
  auto r = OpenKeySlots(backend, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNoRepository);
}

}  // namespace
}  // namespace bulwark::repo
