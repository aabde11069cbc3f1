#include "sources/redis/resp_stream.h"

#include <fmt/format.h>

#include <cctype>
#include <cstring>

namespace bulwark::sources::redis {

namespace {

constexpr uint64_t kMaxArgs = 1u << 24;
constexpr uint64_t kMaxBulk = 1ull << 32;  // proto-max-bulk-len may be raised to 4 GiB

// Reads "<prefix><decimal>\r\n" at data[pos]: nullopt if incomplete, an error if malformed.
Result<std::optional<uint64_t>> ReadHeader(ByteView data, size_t& pos, char prefix) {
  if (pos >= data.size()) return std::optional<uint64_t>();
  if (data[pos] != static_cast<uint8_t>(prefix)) {
    return Error(ErrorCode::kIntegrity,
                 fmt::format("replication stream: expected '{}' but found byte 0x{:02x}", prefix,
                             data[pos]));
  }
  uint64_t v = 0;
  size_t i = pos + 1;
  size_t digits = 0;
  for (; i < data.size() && data[i] != '\r'; ++i) {
    if (data[i] < '0' || data[i] > '9' || ++digits > 12) {
      return Error(ErrorCode::kIntegrity, "replication stream: malformed length");
    }
    v = v * 10 + (data[i] - '0');
  }
  if (i + 1 >= data.size()) return std::optional<uint64_t>();
  if (digits == 0 || data[i + 1] != '\n') {
    return Error(ErrorCode::kIntegrity, "replication stream: malformed length line");
  }
  pos = i + 2;
  return std::optional<uint64_t>(v);
}

}  // namespace

bool IsWord(std::string_view arg, std::string_view upper) {
  if (arg.size() != upper.size()) return false;
  for (size_t i = 0; i < arg.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(arg[i])) != upper[i]) return false;
  }
  return true;
}

Result<std::optional<RespCommand>> ParseCommand(ByteView data) {
  size_t pos = 0;
  BW_ASSIGN_OR_RETURN(auto n, ReadHeader(data, pos, '*'));
  if (!n) return std::optional<RespCommand>();
  if (*n == 0 || *n > kMaxArgs) {
    return Error(ErrorCode::kIntegrity, "replication stream: bad argument count");
  }
  RespCommand cmd;
  cmd.args.reserve(static_cast<size_t>(*n));
  for (uint64_t a = 0; a < *n; ++a) {
    BW_ASSIGN_OR_RETURN(auto len, ReadHeader(data, pos, '$'));
    if (!len) return std::optional<RespCommand>();
    if (*len > kMaxBulk) return Error(ErrorCode::kIntegrity, "replication stream: bulk too long");
    if (data.size() - pos < *len + 2) return std::optional<RespCommand>();
    if (data[pos + *len] != '\r' || data[pos + *len + 1] != '\n') {
      return Error(ErrorCode::kIntegrity, "replication stream: bulk string not terminated");
    }
    cmd.args.emplace_back(reinterpret_cast<const char*>(data.data() + pos),
                          static_cast<size_t>(*len));
    pos += static_cast<size_t>(*len) + 2;
  }
  cmd.length = pos;
  return std::optional<RespCommand>(std::move(cmd));
}

Status AofFilter::Append(ByteView data) {
  buf_.insert(buf_.end(), data.begin(), data.end());
  size_t pos = 0;
  while (true) {
    auto cmd = ParseCommand(ByteView(buf_.data() + pos, buf_.size() - pos));
    if (!cmd.ok()) return cmd.error();
    if (!cmd->has_value()) break;
    BW_RETURN_IF_ERROR(Take(**cmd, ByteView(buf_.data() + pos, (*cmd)->length)));
    pos += (*cmd)->length;
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
  return Status::Ok();
}

Status AofFilter::Finish() {
  if (!buf_.empty()) {
    return Error(ErrorCode::kIntegrity, "the captured stream ends inside a command");
  }
  if (in_multi_) {
    dropped_ += txn_count_;
    txn_.clear();
    in_multi_ = false;
  }
  return Status::Ok();
}

Status AofFilter::Take(const RespCommand& cmd, ByteView bytes) {
  const std::string_view name = cmd.args[0];
  if (IsWord(name, "PING") || IsWord(name, "REPLCONF")) {
    ++dropped_;
    return Status::Ok();
  }
  if (IsWord(name, "MULTI")) {
    in_multi_ = true;
    txn_.assign(bytes.begin(), bytes.end());
    txn_count_ = 1;
    return Status::Ok();
  }
  if (in_multi_) {
    txn_.insert(txn_.end(), bytes.begin(), bytes.end());
    ++txn_count_;
    if (IsWord(name, "EXEC")) {
      in_multi_ = false;
      commands_ += txn_count_;
      BW_RETURN_IF_ERROR(write_(txn_));
      txn_.clear();
    }
    return Status::Ok();
  }
  ++commands_;
  return write_(bytes);
}

}  // namespace bulwark::sources::redis
