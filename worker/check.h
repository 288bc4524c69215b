// Check macros for MPI, NCCL and CUDA calls, in the manner of nccl-tests'
// common.h: each runs the call and, when it fails, returns from the
// enclosing function (which returns absl::Status or absl::StatusOr) a Status
// that names the call as written, file:line and the library's own error
// string. The NCCL and CUDA macros exist where pgan is built with them
// (PGAN_HAVE_NCCL). Header-only, thread-safe (no state).
#ifndef PGAN_WORKER_CHECK_H_
#define PGAN_WORKER_CHECK_H_

#include <mpi.h>

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#ifndef PGAN_HAVE_NCCL
#define PGAN_HAVE_NCCL 0
#endif

#if PGAN_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

// PGAN_MPI_CHECK(MPI_Iallreduce(...));
// Needs an error handler that returns (MPI_ERRORS_RETURN) on the
// communicator: the default one aborts the process inside the call. The MPI
// backend sets it.
#define PGAN_MPI_CHECK(call)                                             \
  do {                                                                   \
    const int pgan_mpi_rc_ = (call);                                     \
    if (pgan_mpi_rc_ != MPI_SUCCESS) {                                   \
      return ::pgan::comm::internal::MpiError(#call, __FILE__, __LINE__, \
                                              pgan_mpi_rc_);             \
    }                                                                    \
  } while (false)

#if PGAN_HAVE_NCCL
// PGAN_NCCL_CHECK(ncclAllReduce(...));
// ncclInProgress is not a failure: it is how a non-blocking communicator
// says that the operation goes on; wait for it with ncclCommGetAsyncError.
#define PGAN_NCCL_CHECK(call)                                              \
  do {                                                                     \
    const ncclResult_t pgan_nccl_rc_ = (call);                             \
    if (pgan_nccl_rc_ != ncclSuccess && pgan_nccl_rc_ != ncclInProgress) { \
      return ::pgan::comm::internal::NcclError(#call, __FILE__, __LINE__,  \
                                               pgan_nccl_rc_);             \
    }                                                                      \
  } while (false)

// PGAN_CUDA_CHECK(cudaSetDevice(device));
#define PGAN_CUDA_CHECK(call)                                             \
  do {                                                                    \
    const cudaError_t pgan_cuda_rc_ = (call);                             \
    if (pgan_cuda_rc_ != cudaSuccess) {                                   \
      return ::pgan::comm::internal::CudaError(#call, __FILE__, __LINE__, \
                                               pgan_cuda_rc_);            \
    }                                                                     \
  } while (false)
#endif  // PGAN_HAVE_NCCL

namespace pgan::comm::internal {

// "worker/mpi_communicator.cc" from a full __FILE__: the folder and the name.
inline const char* ShortFileName(const char* file) {
  const char* last = std::strrchr(file, '/');
  if (last == nullptr) return file;
  for (const char* p = last - 1; p >= file; --p) {
    if (*p == '/') return p + 1;
  }
  return file;
}

inline std::string CallFailed(const char* call, const char* file, int line) {
  return absl::StrCat(call, " failed at ", ShortFileName(file), ":", line,
                      ": ");
}

// MPI errors are Internal: MPI returns one only for a broken call or a
// broken job. MPI_Error_string may not be called outside MPI_Init ...
// MPI_Finalize (Open MPI aborts the process), so there only the code is given.
inline absl::Status MpiError(const char* call, const char* file, int line,
                             int code) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  std::string text = absl::StrCat("MPI error code ", code);
  if (initialized && !finalized) {
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, buffer, &length) == MPI_SUCCESS) {
      text = absl::StrCat(std::string(buffer, length), " (MPI error code ",
                          code, ")");
    }
  }
  return absl::InternalError(absl::StrCat(CallFailed(call, file, line), text));
}

#if PGAN_HAVE_NCCL
// ncclRemoteError and ncclSystemError (a peer or the network failed) are
// Aborted: the job has to restart. Misuse is InvalidArgument; the rest is
// Internal. NCCL's last error message, when it has one, follows its string.
inline absl::Status NcclError(const char* call, const char* file, int line,
                              ncclResult_t code) {
  std::string text = ncclGetErrorString(code);
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && last[0] != '\0')
    absl::StrAppend(&text, " (", last, ")");
  const std::string message = CallFailed(call, file, line) + text;
  switch (code) {
    case ncclRemoteError:
    case ncclSystemError:
      return absl::AbortedError(message);
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

// A missing GPU or driver is FailedPrecondition; the rest is Internal.
inline absl::Status CudaError(const char* call, const char* file, int line,
                              cudaError_t code) {
  const std::string message =
      absl::StrCat(CallFailed(call, file, line), cudaGetErrorName(code), ": ",
                   cudaGetErrorString(code));
  switch (code) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}
#endif  // PGAN_HAVE_NCCL

}  // namespace pgan::comm::internal

#endif  // PGAN_WORKER_CHECK_H_
