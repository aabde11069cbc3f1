// Entry point of the `bulwark` binary; everything else lives in cli/app.cc.
#include "cli/app.h"

int main(int argc, char** argv) { return bulwark::cli::RunCli(argc, argv); }
