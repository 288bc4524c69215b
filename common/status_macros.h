// Small Status helpers missing from the Abseil on Debian 12 (20220623 has no
// status macros). Header-only, torch-free, thread-safe (no state).
#ifndef PGAN_COMMON_STATUS_MACROS_H_
#define PGAN_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PGAN_STATUS_CONCAT_INNER_(a, b) a##b
#define PGAN_STATUS_CONCAT_(a, b) PGAN_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                               \
  do {                                                      \
    ::absl::Status pgan_status_ = (expr);                   \
    if (!pgan_status_.ok()) return pgan_status_;            \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value of a StatusOr or
// returns its error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr)                                         \
  ASSIGN_OR_RETURN_IMPL_(PGAN_STATUS_CONCAT_(pgan_statusor_, __LINE__), lhs, \
                         expr)
#define ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                           \
  if (!var.ok()) return std::move(var).status(); \
  lhs = std::move(var).value()

#endif  // PGAN_COMMON_STATUS_MACROS_H_
