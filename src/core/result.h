// Error values that cross module boundaries: Error (a code plus a one-line message) and
// Result<T>, which holds either a T or an Error. Exceptions never cross a module boundary.
// Plain value types: safe to use from any thread, not synchronised.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace bulwark {

// Each code maps to a process exit code (DESIGN.md section 4) via ExitCodeFor().
enum class ErrorCode {
  kFailure,        // generic failure (exit 1)
  kUsage,          // bad flags or configuration (exit 2)
  kPartial,        // finished, but some inputs were unreadable (exit 3)
  kIntegrity,      // damaged or missing repository data (exit 4)
  kWrongPassword,  // no key slot opens with this passphrase (exit 5)
  kLocked,         // repository is locked by another process (exit 6)
  kNoRepository,   // no repository at this location (exit 7)
  kNotFound,       // an object or file does not exist (exit 1)
  kAlreadyExists,  // create-only write found an existing object (exit 1)
  kNoSpace,        // the storage is full (exit 1)
  kCancelled,      // interrupted by a signal or a caller (exit 1)
  kIo,             // an I/O error talking to a backend or a file (exit 1)
};

int ExitCodeFor(ErrorCode code);
const char* ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Prefixes context, e.g. Error.Wrap("reading pack ab12") -> "reading pack ab12: <message>".
  Error Wrap(const std::string& context) const { return Error(code_, context + ": " + message_); }

 private:
  ErrorCode code_;
  std::string message_;
};

// Errno-based helper: "<what>: <strerror(errnum)>", with ENOSPC/EDQUOT mapped to kNoSpace.
Error ErrnoError(const std::string& what, int errnum);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  static Status Ok() { return Status(); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kFailure, ""};
  bool ok_ = true;
};

template <>
class [[nodiscard]] Result<void> : public Status {
 public:
  using Status::Status;
  Result(Status s) : Status(std::move(s)) {}  // NOLINT
};

}  // namespace bulwark

// Propagates an error from an expression yielding Status or Result<T>.
#define BW_CONCAT_INNER(a, b) a##b
#define BW_CONCAT(a, b) BW_CONCAT_INNER(a, b)
#define BW_RETURN_IF_ERROR(expr)                     \
  do {                                               \
    auto&& bw_status_ = (expr);                      \
    if (!bw_status_.ok()) return bw_status_.error(); \
  } while (0)
// BW_ASSIGN_OR_RETURN(auto x, MakeX()); declares x from a Result<T> or returns its error.
#define BW_ASSIGN_OR_RETURN(lhs, expr) \
  BW_ASSIGN_OR_RETURN_IMPL(BW_CONCAT(bw_res_, __LINE__), lhs, expr)
#define BW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.error();             \
  lhs = std::move(tmp).value()
