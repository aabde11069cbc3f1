#include "sources/redis/rdb_parser.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sources/redis/crc64.h"

namespace bulwark::sources::redis {

namespace {

// Opcodes and value types from the RDB format (rdb.h of Redis 7.2).
enum : uint8_t {
  kOpFunction2 = 245,
  kOpFunctionPreGa = 246,
  kOpModuleAux = 247,
  kOpIdle = 248,
  kOpFreq = 249,
  kOpAux = 250,
  kOpResizeDb = 251,
  kOpExpireTimeMs = 252,
  kOpExpireTime = 253,
  kOpSelectDb = 254,
  kOpEof = 255,
};
enum : uint8_t {
  kTypeString = 0,
  kTypeList = 1,
  kTypeSet = 2,
  kTypeZset = 3,
  kTypeHash = 4,
  kTypeZset2 = 5,
  kTypeModule = 6,
  kTypeModule2 = 7,
  kTypeHashZipmap = 9,
  kTypeListZiplist = 10,
  kTypeSetIntset = 11,
  kTypeZsetZiplist = 12,
  kTypeHashZiplist = 13,
  kTypeListQuicklist = 14,
  kTypeStreamListpacks = 15,
  kTypeHashListpack = 16,
  kTypeZsetListpack = 17,
  kTypeListQuicklist2 = 18,
  kTypeStreamListpacks2 = 19,
  kTypeSetListpack = 20,
  kTypeStreamListpacks3 = 21,
};
enum : uint8_t {
  kModuleOpEof = 0,
  kModuleOpSint,
  kModuleOpUint,
  kModuleOpFloat,
  kModuleOpDouble,
  kModuleOpString
};

// A collection count larger than this cannot be real (it would not fit in memory); checking it
// turns a corrupt length into a clear error instead of a very long loop over garbage.
constexpr uint64_t kMaxCount = 1ULL << 40;
constexpr uint64_t kMaxStringLen = 1ULL << 36;

// Decompresses LZF (as liblzf's lzf_decompress): literal runs and back references.
// Returns false unless the input decodes to exactly out.size() bytes.
bool LzfDecompress(ByteView in, MutableByteView out) {
  size_t ip = 0;
  size_t op = 0;
  while (ip < in.size()) {
    unsigned ctrl = in[ip++];
    if (ctrl < 32) {  // literal run of ctrl+1 bytes
      size_t len = ctrl + 1;
      if (ip + len > in.size() || op + len > out.size()) return false;
      std::memcpy(out.data() + op, in.data() + ip, len);
      ip += len;
      op += len;
    } else {  // back reference
      size_t len = ctrl >> 5;
      if (len == 7) {
        if (ip >= in.size()) return false;
        len += in[ip++];
      }
      if (ip >= in.size()) return false;
      size_t back = ((ctrl & 0x1f) << 8) + in[ip++] + 1;
      len += 2;
      if (back > op || op + len > out.size()) return false;
      for (size_t i = 0; i < len; ++i, ++op) out[op] = out[op - back];
    }
  }
  return op == out.size();
}

class Parser {
 public:
  Parser(RdbSource& src, RdbVisitor* visitor) : src_(src), visitor_(visitor), buf_(256 * 1024) {}

  Result<RdbInfo> Run() {
    Bytes magic(9);
    BW_RETURN_IF_ERROR(ReadExact(magic.data(), magic.size()));
    if (std::memcmp(magic.data(), "REDIS", 5) != 0) {
      return Error(ErrorCode::kFailure, "not an RDB file (no REDIS magic at the start)");
    }
    int version = 0;
    for (int i = 5; i < 9; ++i) {
      if (magic[i] < '0' || magic[i] > '9') {
        return Error(ErrorCode::kFailure, "not an RDB file (bad version digits)");
      }
      version = version * 10 + (magic[i] - '0');
    }
    if (version < kMinRdbVersion || version > kMaxRdbVersion) {
      return Error(ErrorCode::kFailure,
                   fmt::format("unsupported RDB version {} (supported: {} to {})", version,
                               kMinRdbVersion, kMaxRdbVersion));
    }
    info_.version = version;
    if (visitor_ != nullptr) BW_RETURN_IF_ERROR(visitor_->OnStart(version));
    uint64_t db = 0;
    bool have_expiry = false;
    RdbEntry entry;
    while (true) {
      BW_ASSIGN_OR_RETURN(uint8_t op, ReadByte());
      switch (op) {
        case kOpEof:
          return Finish();
        case kOpSelectDb: {
          BW_ASSIGN_OR_RETURN(db, ReadLen());
          break;
        }
        case kOpResizeDb: {
          BW_ASSIGN_OR_RETURN(uint64_t keys, ReadLen());
          BW_ASSIGN_OR_RETURN(uint64_t expires, ReadLen());
          (void)keys;
          (void)expires;
          break;
        }
        case kOpAux: {
          BW_ASSIGN_OR_RETURN(std::string key, ReadString());
          BW_ASSIGN_OR_RETURN(std::string value, ReadString());
          info_.aux[key] = value;
          break;
        }
        case kOpExpireTime: {
          uint8_t v[4];
          BW_RETURN_IF_ERROR(ReadExact(v, 4));
          entry.expire_ms =
              1000 * static_cast<int64_t>(uint32_t{v[0]} | (uint32_t{v[1]} << 8) |
                                          (uint32_t{v[2]} << 16) | (uint32_t{v[3]} << 24));
          have_expiry = true;
          break;
        }
        case kOpExpireTimeMs: {
          uint8_t v[8];
          BW_RETURN_IF_ERROR(ReadExact(v, 8));
          uint64_t ms = 0;
          for (int i = 7; i >= 0; --i) ms = (ms << 8) | v[i];
          entry.expire_ms = static_cast<int64_t>(ms);
          have_expiry = true;
          break;
        }
        case kOpFreq: {
          BW_ASSIGN_OR_RETURN(uint8_t freq, ReadByte());
          entry.freq = freq;
          break;
        }
        case kOpIdle: {
          BW_ASSIGN_OR_RETURN(uint64_t idle, ReadLen());
          entry.idle_seconds = static_cast<int64_t>(std::min<uint64_t>(idle, INT64_MAX));
          break;
        }
        case kOpModuleAux: {
          BW_ASSIGN_OR_RETURN(uint64_t module_id, ReadLen());
          (void)module_id;
          BW_ASSIGN_OR_RETURN(uint64_t when_op, ReadLen());
          if (when_op != kModuleOpUint) return Bad("bad MODULE_AUX header");
          BW_ASSIGN_OR_RETURN(uint64_t when, ReadLen());
          (void)when;
          BW_RETURN_IF_ERROR(SkipModuleValue());
          break;
        }
        case kOpFunction2: {
          if (visitor_ == nullptr) {
            BW_RETURN_IF_ERROR(SkipString());
            break;
          }
          capture_.clear();
          capturing_ = true;
          Status st = SkipString();
          capturing_ = false;
          BW_RETURN_IF_ERROR(st);
          BW_RETURN_IF_ERROR(visitor_->OnFunction(AsBytes(capture_)));
          break;
        }
        case kOpFunctionPreGa:
          return Bad(
              "function libraries in the Redis 7.0 release-candidate format are not "
              "supported");
        default: {
          if (visitor_ == nullptr) {
            BW_RETURN_IF_ERROR(SkipValue(op));
          } else {
            if (!KnownType(op)) return Bad(fmt::format("unknown opcode or value type {}", op));
            BW_ASSIGN_OR_RETURN(entry.key, ReadString());
            capture_.clear();
            capturing_ = true;
            Status st = SkipValueBody(op);
            capturing_ = false;
            BW_RETURN_IF_ERROR(st);
            entry.db = db;
            entry.type = op;
            entry.value = AsBytes(capture_);
            BW_RETURN_IF_ERROR(visitor_->OnEntry(entry));
          }
          ++info_.keys;
          ++info_.keys_per_db[db];
          if (have_expiry) ++info_.keys_with_expiry;
          have_expiry = false;
          entry = RdbEntry();
          break;
        }
      }
    }
  }

 private:
  Error Bad(const std::string& what) const {
    return Error(ErrorCode::kFailure, fmt::format("malformed RDB at byte {}: {}", consumed_, what));
  }

  Status Fill() {
    if (pos_ < end_) return Status::Ok();
    if (crc_from_ < end_) crc_ = Crc64(crc_, ByteView(buf_.data() + crc_from_, end_ - crc_from_));
    pos_ = end_ = crc_from_ = 0;
    BW_ASSIGN_OR_RETURN(size_t n, src_.Read(MutableByteView(buf_.data(), buf_.size())));
    if (n == 0) {
      return Error(ErrorCode::kFailure,
                   fmt::format("the RDB ends after {} bytes, in the middle of its data "
                               "(transfer cut short or file truncated)",
                               consumed_));
    }
    end_ = n;
    return Status::Ok();
  }

  // Adds the bytes consumed so far in the buffer to the running CRC (before the checksum).
  void FoldCrc() {
    crc_ = Crc64(crc_, ByteView(buf_.data() + crc_from_, pos_ - crc_from_));
    crc_from_ = pos_;
  }

  Status ReadExact(uint8_t* out, size_t n) {
    while (n > 0) {
      BW_RETURN_IF_ERROR(Fill());
      size_t take = std::min(n, end_ - pos_);
      if (capturing_) capture_.append(reinterpret_cast<const char*>(buf_.data() + pos_), take);
      if (out != nullptr) {
        std::memcpy(out, buf_.data() + pos_, take);
        out += take;
      }
      pos_ += take;
      consumed_ += take;
      n -= take;
    }
    return Status::Ok();
  }
  Status Skip(uint64_t n) { return ReadExact(nullptr, n); }

  Result<uint8_t> ReadByte() {
    uint8_t b = 0;
    BW_RETURN_IF_ERROR(ReadExact(&b, 1));
    return b;
  }

  // Length encoding; `special` is set (and the low 6 bits returned) for string encodings.
  Result<uint64_t> ReadLenOrEncoding(bool* special) {
    *special = false;
    BW_ASSIGN_OR_RETURN(uint8_t b, ReadByte());
    switch (b >> 6) {
      case 0:
        return static_cast<uint64_t>(b & 0x3f);
      case 1: {
        BW_ASSIGN_OR_RETURN(uint8_t b2, ReadByte());
        return (static_cast<uint64_t>(b & 0x3f) << 8) | b2;
      }
      case 2: {
        uint8_t v[8];
        if (b == 0x80) {
          BW_RETURN_IF_ERROR(ReadExact(v, 4));
          return (uint64_t{v[0]} << 24) | (uint64_t{v[1]} << 16) | (uint64_t{v[2]} << 8) | v[3];
        }
        if (b == 0x81) {
          BW_RETURN_IF_ERROR(ReadExact(v, 8));
          uint64_t r = 0;
          for (uint8_t x : v) r = (r << 8) | x;
          return r;
        }
        return Bad(fmt::format("unknown length encoding 0x{:02x}", b));
      }
      default:
        *special = true;
        return static_cast<uint64_t>(b & 0x3f);
    }
  }

  Result<uint64_t> ReadLen() {
    bool special = false;
    BW_ASSIGN_OR_RETURN(uint64_t len, ReadLenOrEncoding(&special));
    if (special) return Bad("a string encoding where a length belongs");
    return len;
  }

  Result<uint64_t> ReadCount(const char* what) {
    BW_ASSIGN_OR_RETURN(uint64_t n, ReadLen());
    if (n > kMaxCount) return Bad(fmt::format("implausible {} count {}", what, n));
    return n;
  }

  // Reads a string in any encoding. With keep=false only its structure is checked (large
  // plain strings are skipped without being held), and the result is empty.
  Result<std::string> ReadStringImpl(bool keep) {
    bool special = false;
    BW_ASSIGN_OR_RETURN(uint64_t len, ReadLenOrEncoding(&special));
    if (special) {
      switch (len) {
        case 0: {
          BW_ASSIGN_OR_RETURN(uint8_t v, ReadByte());
          return keep ? std::to_string(static_cast<int8_t>(v)) : std::string();
        }
        case 1: {
          uint8_t v[2];
          BW_RETURN_IF_ERROR(ReadExact(v, 2));
          return keep ? std::to_string(static_cast<int16_t>(v[0] | (v[1] << 8))) : std::string();
        }
        case 2: {
          uint8_t v[4];
          BW_RETURN_IF_ERROR(ReadExact(v, 4));
          uint32_t u = v[0] | (v[1] << 8) | (v[2] << 16) | (uint32_t{v[3]} << 24);
          return keep ? std::to_string(static_cast<int32_t>(u)) : std::string();
        }
        case 3: {
          BW_ASSIGN_OR_RETURN(uint64_t clen, ReadLen());
          BW_ASSIGN_OR_RETURN(uint64_t ulen, ReadLen());
          if (clen > kMaxStringLen || ulen > kMaxStringLen || clen == 0) {
            return Bad("implausible LZF string lengths");
          }
          // LZF expands at most ~132x (a 2-byte back reference copies up to 264 bytes).
          if (ulen > clen * 132 + 64) return Bad("implausible LZF expansion");
          BW_ASSIGN_OR_RETURN(std::string in, ReadGrowing(clen));
          std::string out(ulen, '\0');
          if (!LzfDecompress(AsBytes(in),
                             MutableByteView(reinterpret_cast<uint8_t*>(out.data()), out.size()))) {
            return Bad("LZF-compressed string does not decompress to its stated length");
          }
          return out;
        }
        default:
          return Bad(fmt::format("unknown string encoding {}", len));
      }
    }
    if (len > kMaxStringLen) return Bad(fmt::format("implausible string length {}", len));
    if (!keep) {
      BW_RETURN_IF_ERROR(Skip(len));
      return std::string();
    }
    return ReadGrowing(len);
  }

  // Reads n bytes into a string that grows as they arrive, so a corrupt length fails as a
  // truncation instead of allocating gigabytes first.
  Result<std::string> ReadGrowing(uint64_t n) {
    std::string s;
    s.reserve(std::min<uint64_t>(n, 1u << 20));
    while (s.size() < n) {
      size_t piece = std::min<uint64_t>(n - s.size(), 1u << 20);
      size_t old = s.size();
      s.resize(old + piece);
      BW_RETURN_IF_ERROR(ReadExact(reinterpret_cast<uint8_t*>(s.data() + old), piece));
    }
    return s;
  }
  Result<std::string> ReadString() { return ReadStringImpl(true); }
  Status SkipString() {
    auto r = ReadStringImpl(false);
    if (!r.ok()) return r.error();
    return Status::Ok();
  }

  // A string holding a ziplist/listpack/intset/zipmap: checks the container's own header.
  Status ReadBlob(uint8_t type) {
    BW_ASSIGN_OR_RETURN(std::string s, ReadString());
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    auto le32 = [&](size_t at) {
      return uint32_t{p[at]} | (uint32_t{p[at + 1]} << 8) | (uint32_t{p[at + 2]} << 16) |
             (uint32_t{p[at + 3]} << 24);
    };
    switch (type) {
      case kTypeSetIntset: {
        if (s.size() < 8) return Bad("intset too short");
        uint32_t enc = le32(0);
        uint32_t n = le32(4);
        if ((enc != 2 && enc != 4 && enc != 8) || 8 + uint64_t{enc} * n != s.size()) {
          return Bad("intset header does not match its size");
        }
        return Status::Ok();
      }
      case kTypeListZiplist:
      case kTypeZsetZiplist:
      case kTypeHashZiplist:  // ziplist: zlbytes, zltail, zllen, entries, 0xff
        if (s.size() < 11 || le32(0) != s.size() || p[s.size() - 1] != 0xff) {
          return Bad("ziplist header does not match its size");
        }
        return Status::Ok();
      case kTypeHashListpack:
      case kTypeZsetListpack:
      case kTypeSetListpack:  // listpack: total bytes, count, entries, 0xff
        return CheckListpack(s);
      default:
        return Status::Ok();  // zipmap: legacy, checked by length only
    }
  }

  Status CheckListpack(const std::string& s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    if (s.size() < 7) return Bad("listpack too short");
    uint32_t total =
        uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
    if (total != s.size() || p[s.size() - 1] != 0xff) {
      return Bad("listpack header does not match its size");
    }
    return Status::Ok();
  }

  Status SkipModuleValue() {
    while (true) {
      BW_ASSIGN_OR_RETURN(uint64_t op, ReadLen());
      switch (op) {
        case kModuleOpEof:
          return Status::Ok();
        case kModuleOpSint:
        case kModuleOpUint: {
          BW_ASSIGN_OR_RETURN(uint64_t v, ReadLen());
          (void)v;
          break;
        }
        case kModuleOpFloat:
          BW_RETURN_IF_ERROR(Skip(4));
          break;
        case kModuleOpDouble:
          BW_RETURN_IF_ERROR(Skip(8));
          break;
        case kModuleOpString:
          BW_RETURN_IF_ERROR(SkipString());
          break;
        default:
          return Bad(fmt::format("unknown module value opcode {}", op));
      }
    }
  }

  Status SkipStreamId() {
    BW_ASSIGN_OR_RETURN(uint64_t ms, ReadLen());
    BW_ASSIGN_OR_RETURN(uint64_t seq, ReadLen());
    (void)ms;
    (void)seq;
    return Status::Ok();
  }

  Status SkipStream(uint8_t type) {
    BW_ASSIGN_OR_RETURN(uint64_t nodes, ReadCount("stream node"));
    for (uint64_t i = 0; i < nodes; ++i) {
      BW_ASSIGN_OR_RETURN(std::string key, ReadString());
      if (key.size() != 16) return Bad("stream node key is not a 128-bit ID");
      BW_ASSIGN_OR_RETURN(std::string lp, ReadString());
      BW_RETURN_IF_ERROR(CheckListpack(lp));
    }
    BW_ASSIGN_OR_RETURN(uint64_t length, ReadLen());  // entries
    (void)length;
    BW_RETURN_IF_ERROR(SkipStreamId());  // last ID
    if (type >= kTypeStreamListpacks2) {
      BW_RETURN_IF_ERROR(SkipStreamId());  // first ID
      BW_RETURN_IF_ERROR(SkipStreamId());  // max deleted ID
      BW_ASSIGN_OR_RETURN(uint64_t added, ReadLen());
      (void)added;
    }
    BW_ASSIGN_OR_RETURN(uint64_t groups, ReadCount("consumer group"));
    for (uint64_t g = 0; g < groups; ++g) {
      BW_RETURN_IF_ERROR(SkipString());    // name
      BW_RETURN_IF_ERROR(SkipStreamId());  // last delivered ID
      if (type >= kTypeStreamListpacks2) {
        BW_ASSIGN_OR_RETURN(uint64_t entries_read, ReadLen());
        (void)entries_read;
      }
      BW_ASSIGN_OR_RETURN(uint64_t pel, ReadCount("pending entry"));
      for (uint64_t i = 0; i < pel; ++i) {
        BW_RETURN_IF_ERROR(Skip(16 + 8));  // raw ID, delivery time
        BW_ASSIGN_OR_RETURN(uint64_t deliveries, ReadLen());
        (void)deliveries;
      }
      BW_ASSIGN_OR_RETURN(uint64_t consumers, ReadCount("consumer"));
      for (uint64_t c = 0; c < consumers; ++c) {
        BW_RETURN_IF_ERROR(SkipString());                                // name
        BW_RETURN_IF_ERROR(Skip(8));                                     // seen time
        if (type >= kTypeStreamListpacks3) BW_RETURN_IF_ERROR(Skip(8));  // active time
        BW_ASSIGN_OR_RETURN(uint64_t cpel, ReadCount("consumer pending entry"));
        BW_RETURN_IF_ERROR(Skip(16 * cpel));
      }
    }
    return Status::Ok();
  }

  static bool KnownType(uint8_t type) { return type <= kTypeStreamListpacks3 && type != 8; }

  Status SkipValue(uint8_t type) {
    if (!KnownType(type)) return Bad(fmt::format("unknown opcode or value type {}", type));
    BW_RETURN_IF_ERROR(SkipString());  // the key
    return SkipValueBody(type);
  }

  // The value after its key.
  Status SkipValueBody(uint8_t type) {
    switch (type) {
      case kTypeString:
        return SkipString();
      case kTypeList:
      case kTypeSet: {
        BW_ASSIGN_OR_RETURN(uint64_t n, ReadCount("element"));
        for (uint64_t i = 0; i < n; ++i) BW_RETURN_IF_ERROR(SkipString());
        return Status::Ok();
      }
      case kTypeZset:
      case kTypeZset2: {
        BW_ASSIGN_OR_RETURN(uint64_t n, ReadCount("sorted set member"));
        for (uint64_t i = 0; i < n; ++i) {
          BW_RETURN_IF_ERROR(SkipString());
          if (type == kTypeZset2) {
            BW_RETURN_IF_ERROR(Skip(8));
          } else {  // score as a string: 253 nan, 254 +inf, 255 -inf, else its length
            BW_ASSIGN_OR_RETURN(uint8_t l, ReadByte());
            if (l < 253) BW_RETURN_IF_ERROR(Skip(l));
          }
        }
        return Status::Ok();
      }
      case kTypeHash: {
        BW_ASSIGN_OR_RETURN(uint64_t n, ReadCount("hash field"));
        for (uint64_t i = 0; i < 2 * n; ++i) BW_RETURN_IF_ERROR(SkipString());
        return Status::Ok();
      }
      case kTypeHashZipmap:
      case kTypeListZiplist:
      case kTypeSetIntset:
      case kTypeZsetZiplist:
      case kTypeHashZiplist:
      case kTypeHashListpack:
      case kTypeZsetListpack:
      case kTypeSetListpack:
        return ReadBlob(type);
      case kTypeListQuicklist: {
        BW_ASSIGN_OR_RETURN(uint64_t n, ReadCount("quicklist node"));
        for (uint64_t i = 0; i < n; ++i) BW_RETURN_IF_ERROR(ReadBlob(kTypeListZiplist));
        return Status::Ok();
      }
      case kTypeListQuicklist2: {
        BW_ASSIGN_OR_RETURN(uint64_t n, ReadCount("quicklist node"));
        for (uint64_t i = 0; i < n; ++i) {
          BW_ASSIGN_OR_RETURN(uint64_t container, ReadLen());
          if (container == 1) {  // plain node: one large element
            BW_RETURN_IF_ERROR(SkipString());
          } else if (container == 2) {  // packed node: a listpack
            BW_ASSIGN_OR_RETURN(std::string lp, ReadString());
            BW_RETURN_IF_ERROR(CheckListpack(lp));
          } else {
            return Bad(fmt::format("unknown quicklist container {}", container));
          }
        }
        return Status::Ok();
      }
      case kTypeStreamListpacks:
      case kTypeStreamListpacks2:
      case kTypeStreamListpacks3:
        return SkipStream(type);
      case kTypeModule2: {
        BW_ASSIGN_OR_RETURN(uint64_t module_id, ReadLen());
        (void)module_id;
        return SkipModuleValue();
      }
      case kTypeModule:
        return Bad("module values in the pre-RDB-8 format are not supported");
      default:
        return Bad(fmt::format("unknown opcode or value type {}", type));
    }
  }

  Result<RdbInfo> Finish() {
    FoldCrc();
    uint8_t v[8];
    // The checksum itself is not part of what it covers.
    while (true) {
      size_t have = end_ - pos_;
      if (have >= 8) break;
      // Move the partial tail to the front and read more, without folding it into the CRC.
      std::memmove(buf_.data(), buf_.data() + pos_, have);
      pos_ = 0;
      end_ = have;
      crc_from_ = 0;
      BW_ASSIGN_OR_RETURN(size_t n,
                          src_.Read(MutableByteView(buf_.data() + end_, buf_.size() - end_)));
      if (n == 0) {
        return Error(ErrorCode::kFailure,
                     fmt::format("the RDB ends after {} bytes, inside its checksum (transfer "
                                 "cut short or file truncated)",
                                 consumed_ + have));
      }
      end_ += n;
    }
    std::memcpy(v, buf_.data() + pos_, 8);
    pos_ += 8;
    consumed_ += 8;
    uint64_t stored = 0;
    for (int i = 7; i >= 0; --i) stored = (stored << 8) | v[i];
    info_.checksum = stored;
    if (stored != 0) {
      if (stored != crc_) {
        return Error(ErrorCode::kFailure,
                     fmt::format("RDB checksum mismatch: stored {:016x}, computed {:016x} over "
                                 "{} bytes (the data is damaged)",
                                 stored, crc_, consumed_ - 8));
      }
      info_.checksum_verified = true;
    }
    // Nothing may follow the checksum.
    if (pos_ < end_) {
      return Error(ErrorCode::kFailure,
                   fmt::format("{} unexpected bytes after the RDB checksum", end_ - pos_));
    }
    BW_ASSIGN_OR_RETURN(size_t extra, src_.Read(MutableByteView(buf_.data(), buf_.size())));
    if (extra != 0) return Error(ErrorCode::kFailure, "unexpected bytes after the RDB checksum");
    info_.bytes = consumed_;
    return info_;
  }

  RdbSource& src_;
  RdbVisitor* visitor_ = nullptr;
  bool capturing_ = false;  // ReadExact appends what it consumes to capture_
  std::string capture_;     // the serialisation of the value being read
  Bytes buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  size_t crc_from_ = 0;  // bytes of buf_ before this are already in crc_
  uint64_t crc_ = 0;
  uint64_t consumed_ = 0;
  RdbInfo info_;
};

}  // namespace

Result<RdbInfo> ParseRdb(RdbSource& source, RdbVisitor* visitor) {
  return Parser(source, visitor).Run();
}

Result<size_t> FdRdbSource::Read(MutableByteView buf) {
  while (true) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoError("reading the RDB", errno);
  }
}

Result<size_t> MemoryRdbSource::Read(MutableByteView buf) {
  size_t n = std::min(buf.size(), data_.size() - pos_);
  std::memcpy(buf.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

}  // namespace bulwark::sources::redis
