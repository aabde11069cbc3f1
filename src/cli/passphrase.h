// Passphrase sources for the CLI: a file, the environment, or a no-echo prompt on /dev/tty.
// Never a command-line flag (it would show in `ps`). Main thread only.
#pragma once

#include <optional>
#include <string>

#include "core/result.h"

namespace bulwark::cli {

// Reads a passphrase file: the first line, without its line ending. An empty passphrase is a
// usage error (an empty file is almost always a mistake).
Result<std::string> ReadPassphraseFile(const std::string& path);

// Prompts on /dev/tty with echo off. With `confirm`, asks twice and fails if they differ.
// kUsage when there is no terminal to prompt on.
Result<std::string> PromptPassphrase(const std::string& prompt, bool confirm);

// True if stdin is a terminal (prompting is allowed).
bool StdinIsTerminal();

}  // namespace bulwark::cli
