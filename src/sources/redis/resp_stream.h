// RESP command framing for the Redis replication stream: a primary sends its replicas the
// write commands as RESP arrays of bulk strings (*N\r\n$len\r\n...\r\n). ParseCommand finds
// where one whole command ends, so the stream can be stored, acknowledged and cut only at
// command boundaries. Pure functions, safe from any thread.
#pragma once

#include <cstddef>
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

}  // namespace bulwark::sources::redis
