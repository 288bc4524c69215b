// The one layer where LibTorch exceptions become absl::Status: model build,
// weight loading, forward passes called from commands. Thread-safe.
#ifndef PGAN_TRAINER_TORCH_STATUS_H_
#define PGAN_TRAINER_TORCH_STATUS_H_

#include <exception>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan::trainer {

// Runs `fn`; a c10::Error (or other std::exception) becomes an INTERNAL
// status prefixed with `what`, with LibTorch's backtrace stripped.
absl::Status CatchTorch(const std::string& what,
                        const std::function<absl::Status()>& fn);

template <typename T>
absl::StatusOr<T> CatchTorchOr(const std::string& what,
                               const std::function<absl::StatusOr<T>()>& fn) {
  absl::StatusOr<T> result = absl::InternalError("not run");
  absl::Status status = CatchTorch(what, [&]() -> absl::Status {
    result = fn();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_TORCH_STATUS_H_
