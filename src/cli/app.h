// The `bulwark` command line: builds the CLI11 application with the global options and every
// subcommand, parses, and runs the selected command. Returns the process exit code
// (DESIGN.md section 4). Called once, from main(), on the main thread.
#pragma once

namespace bulwark::cli {

int RunCli(int argc, char** argv);

}  // namespace bulwark::cli
