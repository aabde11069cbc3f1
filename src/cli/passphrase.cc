#include "cli/passphrase.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "core/cancel.h"

namespace bulwark::cli {

namespace {

std::string StripLineEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Restores the terminal's echo setting on every exit path, including errors.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) == 0) {
      termios t = saved_;
      t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      t.c_lflag |= ECHONL;
      active_ = tcsetattr(fd_, TCSAFLUSH, &t) == 0;
    }
  }
  ~EchoOff() {
    if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<std::string> ReadLineFromTty(int fd, const std::string& prompt) {
  if (write(fd, prompt.data(), prompt.size()) < 0) return ErrnoError("writing prompt", errno);
  EchoOff echo_off(fd);
  std::string line;
  char c;
  while (true) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) {
        if (CancelRequested()) return Error(ErrorCode::kCancelled, "interrupted");
        continue;
      }
      return ErrnoError("reading passphrase from terminal", errno);
    }
    if (n == 0 || c == '\n') break;
    line.push_back(c);
  }
  return StripLineEnd(std::move(line));
}

}  // namespace

Result<std::string> ReadPassphraseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("reading password file " + path, errno ? errno : ENOENT);
  std::string line;
  std::getline(in, line);
  line = StripLineEnd(std::move(line));
  if (line.empty()) return Error(ErrorCode::kUsage, "password file " + path + " is empty");
  return line;
}

bool StdinIsTerminal() { return isatty(STDIN_FILENO) == 1; }

Result<std::string> PromptPassphrase(const std::string& prompt, bool confirm) {
  Fd tty(open("/dev/tty", O_RDWR | O_CLOEXEC));
  if (tty.get() < 0) {
    return Error(ErrorCode::kUsage,
                 "no passphrase given and no terminal to ask on (use --password-file, "
                 "BULWARK_PASSWORD_FILE or BULWARK_PASSWORD)");
  }
  BW_ASSIGN_OR_RETURN(std::string first, ReadLineFromTty(tty.get(), prompt));
  if (first.empty()) return Error(ErrorCode::kUsage, "empty passphrase");
  if (confirm) {
    BW_ASSIGN_OR_RETURN(std::string second, ReadLineFromTty(tty.get(), "Enter it again: "));
    if (first != second) return Error(ErrorCode::kUsage, "the passphrases do not match");
  }
  return first;
}

}  // namespace bulwark::cli
