#include "repo/tree.h"

namespace bulwark::repo {

namespace {

constexpr uint8_t kTreeVersion = 1;
constexpr size_t kMaxName = 4096;
constexpr size_t kMaxLinkTarget = 64 * 1024;
constexpr size_t kMaxOwnerName = 1024;
// Minimum encoding of one node: a 1-byte name with its length, type, flags, 13 one-byte
// varints and lengths.
constexpr size_t kMinNodeEncoding = 17;

enum Flags : uint8_t { kSparse = 1 };

Error Corrupt(const std::string& what) { return Error(ErrorCode::kIntegrity, "tree: " + what); }

// ZigZag keeps small negative times (before 1970) short.
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxName || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace

Bytes EncodeTree(const Tree& tree) {
  Bytes out;
  out.push_back(kTreeVersion);
  PutVarint(out, tree.nodes.size());
  for (const Node& n : tree.nodes) {
    PutLengthPrefixed(out, AsBytes(n.name));
    out.push_back(static_cast<uint8_t>(n.type));
    out.push_back(n.sparse ? kSparse : 0);
    PutVarint(out, n.mode);
    PutVarint(out, n.uid);
    PutVarint(out, n.gid);
    PutLengthPrefixed(out, AsBytes(n.user));
    PutLengthPrefixed(out, AsBytes(n.group));
    PutVarint(out, ZigZag(n.mtime_ns));
    PutVarint(out, ZigZag(n.atime_ns));
    PutVarint(out, ZigZag(n.ctime_ns));
    PutVarint(out, n.inode);
    PutVarint(out, n.device);
    PutVarint(out, n.links);
    PutVarint(out, n.size);
    PutVarint(out, n.rdev);
    switch (n.type) {
      case NodeType::kFile:
        PutVarint(out, n.content.size());
        for (const Id& id : n.content) out.insert(out.end(), id.bytes.begin(), id.bytes.end());
        break;
      case NodeType::kDir:
        out.insert(out.end(), n.subtree.bytes.begin(), n.subtree.bytes.end());
        break;
      case NodeType::kSymlink:
        PutLengthPrefixed(out, AsBytes(n.link_target));
        break;
      default:
        break;
    }
  }
  return out;
}

Result<Tree> DecodeTree(ByteView data) {
  ByteReader r(data);
  uint8_t version = 0;
  uint64_t count = 0;
  if (!r.ReadU8(version) || version != kTreeVersion) return Corrupt("unsupported version");
  if (!r.ReadVarint(count) || count > r.remaining() / kMinNodeEncoding)
    return Corrupt("bad node count");
  Tree tree;
  tree.nodes.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    Node n;
    ByteView name, user, group;
    uint8_t type = 0, flags = 0;
    uint64_t mode = 0, uid = 0, gid = 0, mtime = 0, atime = 0, ctime = 0;
    if (!r.ReadLengthPrefixed(name, kMaxName) || !r.ReadU8(type) || !r.ReadU8(flags) ||
        !r.ReadVarint(mode) || !r.ReadVarint(uid) || !r.ReadVarint(gid) ||
        !r.ReadLengthPrefixed(user, kMaxOwnerName) || !r.ReadLengthPrefixed(group, kMaxOwnerName) ||
        !r.ReadVarint(mtime) || !r.ReadVarint(atime) || !r.ReadVarint(ctime) ||
        !r.ReadVarint(n.inode) || !r.ReadVarint(n.device) || !r.ReadVarint(n.links) ||
        !r.ReadVarint(n.size) || !r.ReadVarint(n.rdev))
      return Corrupt("truncated node " + std::to_string(i));
    n.name = std::string(AsString(name));
    if (!ValidName(n.name)) return Corrupt("invalid name in node " + std::to_string(i));
    if (i > 0 && !(tree.nodes.back().name < n.name))
      return Corrupt("names not sorted or not unique at '" + n.name + "'");
    if (type > static_cast<uint8_t>(NodeType::kSocket)) return Corrupt("bad node type");
    if ((flags & ~kSparse) != 0) return Corrupt("unknown node flags");
    if (mode > 07777 || uid > UINT32_MAX || gid > UINT32_MAX) return Corrupt("bad mode or owner");
    n.type = static_cast<NodeType>(type);
    n.sparse = (flags & kSparse) != 0;
    n.mode = static_cast<uint32_t>(mode);
    n.uid = static_cast<uint32_t>(uid);
    n.gid = static_cast<uint32_t>(gid);
    n.user = std::string(AsString(user));
    n.group = std::string(AsString(group));
    n.mtime_ns = UnZigZag(mtime);
    n.atime_ns = UnZigZag(atime);
    n.ctime_ns = UnZigZag(ctime);
    switch (n.type) {
      case NodeType::kFile: {
        uint64_t chunks = 0;
        if (!r.ReadVarint(chunks) || chunks > r.remaining() / 32)
          return Corrupt("bad chunk count in '" + n.name + "'");
        n.content.resize(chunks);
        for (Id& id : n.content) (void)r.ReadId(id);
        break;
      }
      case NodeType::kDir:
        if (!r.ReadId(n.subtree)) return Corrupt("truncated directory '" + n.name + "'");
        break;
      case NodeType::kSymlink: {
        ByteView target;
        if (!r.ReadLengthPrefixed(target, kMaxLinkTarget))
          return Corrupt("bad symlink target in '" + n.name + "'");
        n.link_target = std::string(AsString(target));
        break;
      }
      default:
        break;
    }
    if (n.sparse && n.type != NodeType::kFile) return Corrupt("sparse flag on a non-file");
    tree.nodes.push_back(std::move(n));
  }
  if (r.failed()) return Corrupt("truncated");
  if (!r.AtEnd()) return Corrupt("trailing bytes");
  return tree;
}

}  // namespace bulwark::repo
