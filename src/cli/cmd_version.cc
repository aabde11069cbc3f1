// `bulwark version`: prints the program version (also `bulwark --version`).
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"

namespace bulwark::cli {

void RegisterVersion(CLI::App& app, Context& ctx) {
  CLI::App* sub = app.add_subcommand("version", "Print the version");
  sub->callback([&ctx] {
    ctx.action = [&ctx] {
      if (ctx.json()) {
        PrintJson({{"version", BULWARK_VERSION}});
      } else {
        fmt::print("bulwark {}\n", BULWARK_VERSION);
      }
      return 0;
    };
  });
}

}  // namespace bulwark::cli
