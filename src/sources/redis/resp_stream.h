// RESP command framing for the Redis replication stream: a primary sends its replicas the
// write commands as RESP arrays of bulk strings (*N\r\n$len\r\n...\r\n). ParseCommand finds
// where one whole command ends, so the stream can be stored, acknowledged and cut only at
// command boundaries; AofFilter turns stream bytes into AOF commands. The functions are pure
// and safe from any thread; an AofFilter is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::sources::redis {

struct RespCommand {
  size_t length = 0;                   // bytes of the whole command in the stream
  std::vector<std::string_view> args;  // views into the parsed bytes
};

// Parses the command that starts at data[0]: nullopt when the bytes end before it does;
// kIntegrity when they are not a RESP array of bulk strings.
Result<std::optional<RespCommand>> ParseCommand(ByteView data);

// Case-insensitive comparison of a command name or argument with an upper-case word.
bool IsWord(std::string_view arg, std::string_view upper);

// Filters replication stream bytes (fed in pieces cut anywhere) into the commands an AOF
// holds: PING and REPLCONF dropped, SELECT and the rest kept byte for byte, a MULTI ... EXEC
// transaction passed on only once its EXEC has arrived (so the output never ends inside one).
class AofFilter {
 public:
  explicit AofFilter(std::function<Status(ByteView)> write) : write_(std::move(write)) {}
  // kIntegrity when the bytes are not RESP commands; a write error as the writer returned it.
  Status Append(ByteView data);
  // End of input: drops a transaction without its EXEC; kIntegrity if the input ended inside
  // a command.
  Status Finish();
  uint64_t commands() const { return commands_; }  // written
  uint64_t dropped() const { return dropped_; }    // PING, REPLCONF, an unfinished transaction

 private:
  Status Take(const RespCommand& cmd, ByteView bytes);

  std::function<Status(ByteView)> write_;
  Bytes buf_;
  Bytes txn_;
  bool in_multi_ = false;
  uint64_t txn_count_ = 0;
  uint64_t commands_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace bulwark::sources::redis
