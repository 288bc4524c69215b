#include "worker/local_communicator.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan::comm {
namespace {

// The same argument checks as the other backends, so that a mistake shows
// up in a one-process run too.
absl::Status CheckBuffer(const void* data, size_t size, const char* op) {
  if (data == nullptr && size > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": null buffer for ", size, " elements"));
  }
  return absl::OkStatus();
}

absl::Status CheckRoot(int root, const char* op) {
  if (root != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": root ", root, " is not a rank of a job of 1"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LocalCommunicator::AllReduceSum(float* data, size_t count) {
  return CheckBuffer(data, count, "AllReduceSum");
}

absl::Status LocalCommunicator::AllReduceSum(double* data, size_t count) {
  return CheckBuffer(data, count, "AllReduceSum");
}

absl::Status LocalCommunicator::Broadcast(void* data, size_t bytes, int root) {
  RETURN_IF_ERROR(CheckBuffer(data, bytes, "Broadcast"));
  return CheckRoot(root, "Broadcast");
}

absl::Status LocalCommunicator::BroadcastHost(void* data, size_t bytes,
                                              int root) {
  RETURN_IF_ERROR(CheckBuffer(data, bytes, "BroadcastHost"));
  return CheckRoot(root, "BroadcastHost");
}

absl::Status LocalCommunicator::AllGatherHost(uint64_t value, uint64_t* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("AllGatherHost: null output");
  }
  out[0] = value;
  return absl::OkStatus();
}

absl::Status LocalCommunicator::Barrier() { return absl::OkStatus(); }

void LocalCommunicator::Abort(const std::string& reason, int exit_code) {
  std::fprintf(stderr, "pgan: aborting: %s\n", reason.c_str());
  std::fflush(nullptr);
  // Like MPI_Abort: no destructors, no atexit handlers (other threads may
  // hold locks they need).
  std::_Exit(exit_code);
}

}  // namespace pgan::comm
