#include "core/result.h"

#include <cerrno>
#include <cstring>

namespace bulwark {

int ExitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUsage:
      return 2;
    case ErrorCode::kPartial:
      return 3;
    case ErrorCode::kIntegrity:
      return 4;
    case ErrorCode::kWrongPassword:
      return 5;
    case ErrorCode::kLocked:
      return 6;
    case ErrorCode::kNoRepository:
      return 7;
    default:
      return 1;
  }
}

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFailure:
      return "failure";
    case ErrorCode::kUsage:
      return "usage";
    case ErrorCode::kPartial:
      return "partial";
    case ErrorCode::kIntegrity:
      return "integrity";
    case ErrorCode::kWrongPassword:
      return "wrong-password";
    case ErrorCode::kLocked:
      return "locked";
    case ErrorCode::kNoRepository:
      return "no-repository";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kAlreadyExists:
      return "already-exists";
    case ErrorCode::kNoSpace:
      return "no-space";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kIo:
      return "io";
  }
  return "unknown";
}

Error ErrnoError(const std::string& what, int errnum) {
  ErrorCode code = ErrorCode::kIo;
  if (errnum == ENOSPC || errnum == EDQUOT) code = ErrorCode::kNoSpace;
  if (errnum == ENOENT) code = ErrorCode::kNotFound;
  if (errnum == EEXIST) code = ErrorCode::kAlreadyExists;
  return Error(code, what + ": " + std::strerror(errnum));
}

}  // namespace bulwark
