// ProgressPrinter: while alive, samples a Progress (core/progress.h) every ~0.5 s on its own
// thread and redraws one status line on stderr (files, bytes, rate, ETA once totals are
// final). Does nothing unless stderr is a terminal and output is not quiet. Owned by the
// command's main thread; Stop() (or the destructor) clears the line.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/progress.h"

namespace bulwark::cli {

class ProgressPrinter {
 public:
  ProgressPrinter(const Progress& progress, std::string verb, bool quiet);
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void Stop();
  double ElapsedSeconds() const;
  // Whether a status line is being drawn (stderr is a terminal and not quiet).
  bool active() const { return active_; }

 private:
  void Run();
  std::string Line() const;

  const Progress& progress_;
  std::string verb_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool active_ = false;
  std::thread thread_;
};

}  // namespace bulwark::cli
