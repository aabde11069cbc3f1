#include "cli/progress_printer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/output.h"

namespace bulwark::cli {

ProgressPrinter::ProgressPrinter(const Progress& progress, std::string verb, bool quiet)
    : progress_(progress), verb_(std::move(verb)), start_(std::chrono::steady_clock::now()) {
  active_ = !quiet && isatty(STDERR_FILENO) == 1;
  if (active_) thread_ = std::thread([this] { Run(); });
}

ProgressPrinter::~ProgressPrinter() { Stop(); }

void ProgressPrinter::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (active_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

double ProgressPrinter::ElapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string ProgressPrinter::Line() const {
  double elapsed = ElapsedSeconds();
  uint64_t files = progress_.files_done.load();
  uint64_t bytes = progress_.bytes_done.load();
  uint64_t files_total = progress_.files_total.load();
  uint64_t bytes_total = progress_.bytes_total.load();
  bool final_totals = progress_.totals_final.load();
  uint64_t errors = progress_.errors.load();
  double rate = elapsed > 0 ? static_cast<double>(bytes) / elapsed : 0;

  // Until the operation's own totals are final, a finished estimate stands in for them.
  std::string approx;
  if (!final_totals && progress_.estimate_done.load()) {
    files_total = std::max(files_total, progress_.estimate_files.load());
    bytes_total = std::max(bytes_total, progress_.estimate_bytes.load());
    final_totals = true;
    approx = "~";
  }

  std::string line = fmt::format("[{}] {} {}", FormatDuration(elapsed), verb_, files);
  if (files_total > 0) line += fmt::format("/{}{}", approx, files_total);
  line += " files, " + FormatBytes(bytes);
  if (bytes_total > 0) line += " of " + approx + FormatBytes(bytes_total);
  line += ", " + FormatRate(rate);
  if (final_totals && bytes_total > bytes && rate > 0) {
    line += ", ETA " + FormatDuration(static_cast<double>(bytes_total - bytes) / rate);
  }
  if (errors > 0) line += fmt::format(", {} errors", errors);
  return line;
}

void ProgressPrinter::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stop_) break;
    std::string line = Line();
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
  }
}

}  // namespace bulwark::cli
