#include "cli/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "core/cancel.h"

namespace bulwark::cli {

namespace {

std::atomic<int> g_signal{0};
std::atomic<int> g_count{0};

void OnSignal(int sig) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, sig);
  RequestCancel();
  if (g_count.fetch_add(1) >= 1) {
    // Second signal: the user insists. Everything already stored is consistent; whatever
    // was in flight becomes unreferenced data for prune.
    static const char kMsg[] = "\nbulwark: interrupted again, exiting now\n";
    ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    (void)ignored;
    _exit(128 + sig);
  }
  static const char kMsg[] =
      "\nbulwark: interrupt received, stopping cleanly (press Ctrl-C again to exit now)\n";
  ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
}

}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking terminal read should see EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Writing to a closed pipe (e.g. `bulwark dump ... | head`) must fail the write, not kill
  // the process without a message.
  signal(SIGPIPE, SIG_IGN);
}

int CancelSignal() { return g_signal.load(); }

}  // namespace bulwark::cli
