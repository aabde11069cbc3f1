// Unit tests of TarReader, the streaming parser of BASE_BACKUP's tar archives: the entry kinds
// PostgreSQL writes (files, directories with a trailing '/', symlinks), long names in the ustar
// prefix, GNU and pax forms, base-256 sizes, feeding in pieces of any size, and the malformed
// or truncated streams it must refuse. Archives are built here byte by byte after the ustar
// layout; the real server's archives are parsed in tests/integration/postgres_remote_test.sh.
#include "sources/postgres/tar_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace bulwark::sources::postgres {
namespace {

struct Event {
  TarEntry entry;
  std::string data;
};

class Collect : public TarVisitor {
 public:
  Status OnEntry(const TarEntry& e) override {
    events.push_back({e, ""});
    return Status::Ok();
  }
  Status OnData(ByteView d) override {
    events.back().data.append(AsString(d));
    return Status::Ok();
  }
  Status OnFileEnd() override {
    ++file_ends;
    return Status::Ok();
  }
  std::vector<Event> events;
  int file_ends = 0;
};

void Octal(std::string& h, size_t at, size_t len, uint64_t v) {
  std::string digits;
  for (size_t i = 0; i + 1 < len; ++i) {
    digits.insert(digits.begin(), static_cast<char>('0' + (v & 7)));
    v >>= 3;
  }
  h.replace(at, len - 1, digits);
  h[at + len - 1] = ' ';
}

// One 512-byte header as PostgreSQL's tarCreateHeader lays it out.
std::string Header(const std::string& name, char type, uint64_t size, const std::string& link = "",
                   const std::string& prefix = "") {
  std::string h(512, '\0');
  h.replace(0, std::min<size_t>(name.size(), 100), name.substr(0, 100));
  Octal(h, 100, 8, 0600);
  Octal(h, 108, 8, 1001);
  Octal(h, 116, 8, 1002);
  Octal(h, 124, 12, size);
  Octal(h, 136, 12, 1700000000);
  h[156] = type;
  h.replace(157, link.size(), link);
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  h.replace(265, 8, "postgres");
  h.replace(297, 8, "postgres");
  h.replace(345, prefix.size(), prefix);
  unsigned sum = 8 * ' ';
  for (size_t i = 0; i < 512; ++i) {
    if (i < 148 || i >= 156) sum += static_cast<uint8_t>(h[i]);
  }
  Octal(h, 148, 8, sum);
  return h;
}

std::string Padded(const std::string& data) {
  return data + std::string((512 - data.size() % 512) % 512, '\0');
}

std::string File(const std::string& name, const std::string& data) {
  return Header(name, '0', data.size()) + Padded(data);
}

std::string End() { return std::string(1024, '\0'); }

Status FeedAll(TarReader& r, const std::string& archive, size_t piece) {
  for (size_t at = 0; at < archive.size(); at += piece) {
    BW_RETURN_IF_ERROR(r.Feed(
        AsBytes(std::string_view(archive).substr(at, std::min(piece, archive.size() - at)))));
  }
  return r.Finish();
}

TEST(TarReader, FilesDirectoriesSymlinksInAnyPieces) {
  std::string big(70000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  const std::string archive = Header("base/", '5', 0) + File("base/1/1259", big) +
                              File("PG_VERSION", "15\n") + File("empty", "") +
                              Header("pg_tblspc/16385/", '2', 0, "/srv/ts") + End();
  for (size_t piece : {size_t{1}, size_t{7}, size_t{512}, size_t{4096}, archive.size()}) {
    Collect c;
    TarReader r(c);
    ASSERT_TRUE(FeedAll(r, archive, piece).ok()) << piece;
    ASSERT_EQ(c.events.size(), 5u);
    EXPECT_EQ(c.events[0].entry.type, TarEntry::Type::kDir);
    EXPECT_EQ(c.events[0].entry.path, "base");
    EXPECT_EQ(c.events[1].entry.type, TarEntry::Type::kFile);
    EXPECT_EQ(c.events[1].entry.path, "base/1/1259");
    EXPECT_EQ(c.events[1].entry.size, big.size());
    EXPECT_EQ(c.events[1].data, big);
    EXPECT_EQ(c.events[1].entry.mode, 0600u);
    EXPECT_EQ(c.events[1].entry.uid, 1001u);
    EXPECT_EQ(c.events[1].entry.gid, 1002u);
    EXPECT_EQ(c.events[1].entry.mtime, 1700000000);
    EXPECT_EQ(c.events[1].entry.uname, "postgres");
    EXPECT_EQ(c.events[2].data, "15\n");
    EXPECT_EQ(c.events[3].entry.size, 0u);
    EXPECT_EQ(c.events[3].data, "");
    EXPECT_EQ(c.events[4].entry.type, TarEntry::Type::kSymlink);
    EXPECT_EQ(c.events[4].entry.path, "pg_tblspc/16385");
    EXPECT_EQ(c.events[4].entry.link_target, "/srv/ts");
    EXPECT_EQ(c.file_ends, 3);
    EXPECT_EQ(r.entries(), 5u);
  }
}

TEST(TarReader, NoEndMarkerIsFine) {
  // PostgreSQL leaves out the trailing zero blocks; the next archive or the end of the COPY
  // ends the archive.
  Collect c;
  TarReader r(c);
  EXPECT_TRUE(FeedAll(r, File("global/pg_control", std::string(8192, 'c')), 1000).ok());
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].data.size(), 8192u);
}

TEST(TarReader, LongNames) {
  const std::string dir(120, 'd');
  const std::string longname = dir + "/" + std::string(90, 'f');
  const std::string longlink = "/" + std::string(200, 'l');
  // GNU: an 'L' record holds the next entry's name, a 'K' record its link target.
  std::string gnu = Header("././@LongLink", 'L', longname.size() + 1) + Padded(longname + '\0') +
                    Header(longname.substr(0, 100), '0', 3) + Padded("abc") +
                    Header("././@LongLink", 'K', longlink.size()) + Padded(longlink) +
                    Header("link", '2', 0, longlink.substr(0, 100));
  // pax: "<len> path=<name>\n" records.
  auto record = [](const std::string& kv) {
    std::string body = " " + kv + "\n";
    size_t len = body.size() + 1;
    while (std::to_string(len).size() + body.size() != len) ++len;
    return std::to_string(len) + body;
  };
  const std::string pax_body = record("path=" + longname + "2") + record("mtime=1.5");
  std::string pax = Header("PaxHeader", 'x', pax_body.size()) + Padded(pax_body) +
                    Header("short", '0', 2) + Padded("xy");
  // ustar: prefix + '/' + name.
  std::string ustar = Header(std::string(90, 'f') + "3", '0', 1, "", dir) + Padded("z");
  Collect c;
  TarReader r(c);
  ASSERT_TRUE(FeedAll(r, gnu + pax + ustar + End(), 333).ok());
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_EQ(c.events[0].entry.path, longname);
  EXPECT_EQ(c.events[0].data, "abc");
  EXPECT_EQ(c.events[1].entry.path, "link");
  EXPECT_EQ(c.events[1].entry.link_target, longlink);
  EXPECT_EQ(c.events[2].entry.path, longname + "2");
  EXPECT_EQ(c.events[2].data, "xy");
  EXPECT_EQ(c.events[3].entry.path, dir + "/" + std::string(90, 'f') + "3");
  EXPECT_EQ(c.events[3].data, "z");
}

TEST(TarReader, Base256Size) {
  std::string h = Header("big", '0', 0);
  // GNU base-256: 0x80 then the value big-endian; here 600 bytes.
  std::string field(12, '\0');
  field[0] = static_cast<char>(0x80);
  field[10] = 2;
  field[11] = 88;
  h.replace(124, 12, field);
  unsigned sum = 8 * ' ';
  for (size_t i = 0; i < 512; ++i) {
    if (i < 148 || i >= 156) sum += static_cast<uint8_t>(h[i]);
  }
  Octal(h, 148, 8, sum);
  Collect c;
  TarReader r(c);
  ASSERT_TRUE(FeedAll(r, h + Padded(std::string(600, 'q')) + End(), 100).ok());
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].data, std::string(600, 'q'));
}

TEST(TarReader, TruncatedStreamsAreErrors) {
  const std::string archive = File("base/1/2619", std::string(5000, 'p')) + File("x", "1");
  // Inside a header, inside data, inside padding: all refused at Finish.
  for (size_t cut : {size_t{100}, size_t{512 + 2000}, size_t{512 + 5000 + 10}, size_t{6200}}) {
    Collect c;
    TarReader r(c);
    ASSERT_TRUE(r.Feed(AsBytes(std::string_view(archive).substr(0, cut))).ok()) << cut;
    Status st = r.Finish();
    EXPECT_FALSE(st.ok()) << cut;
    if (!st.ok()) {
      EXPECT_NE(st.error().message().find("ends inside an entry"), std::string::npos);
    }
  }
  // A long-name record without its entry is truncated too.
  Collect c;
  TarReader r(c);
  ASSERT_TRUE(r.Feed(AsBytes(Header("././@LongLink", 'L', 4) + Padded("abc"))).ok());
  EXPECT_FALSE(r.Finish().ok());
}

TEST(TarReader, MalformedArchivesAreRefused) {
  auto refused = [](const std::string& archive, const std::string& why) {
    Collect c;
    TarReader r(c);
    Status st = FeedAll(r, archive, 512);
    EXPECT_FALSE(st.ok()) << why;
    if (!st.ok()) {
      EXPECT_NE(st.error().message().find(why), std::string::npos) << st.error().message();
    }
  };
  std::string bad = File("a", "b");
  bad[10] ^= 1;  // the header checksum no longer matches
  refused(bad, "checksum");
  refused(File("../escape", "x"), "unsafe path");
  refused(File("base/../../escape", "x"), "unsafe path");
  refused(File("/etc/passwd", "x"), "absolute path");
  refused(Header("hard", '1', 0, "a"), "unsupported entry type '1'");
  refused(End() + File("late", "x"), "after the end-of-archive marker");
  refused(Header("././@LongLink", 'L', TarReader::kMaxLongName + 1), "long-name record");
}

TEST(TarReader, VisitorErrorsStopTheReader) {
  class Refuse : public Collect {
   public:
    Status OnData(ByteView) override { return Error(ErrorCode::kNoSpace, "full"); }
  };
  Refuse v;
  TarReader r(v);
  Status st = r.Feed(AsBytes(File("f", "data")));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNoSpace);
}

}  // namespace
}  // namespace bulwark::sources::postgres
