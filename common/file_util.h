// File helpers shared by every component: whole-file reads and atomic writes
// (temporary file in the same directory, fsync, rename, fsync of the
// directory), so that a crash never leaves a half-written file behind.
// Thread-safe: no shared state.
#ifndef PGAN_COMMON_FILE_UTIL_H_
#define PGAN_COMMON_FILE_UTIL_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pgan {

// Reads a whole file. NOT_FOUND if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `path` atomically. `write` receives the file descriptor of a
// temporary file beside `path` and returns OK once it has written everything;
// only then is the file synced and renamed over `path`. On any error the
// temporary file is removed and `path` is untouched.
absl::Status WriteFileAtomically(
    const std::string& path, const std::function<absl::Status(int fd)>& write);

// Convenience for small contents.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Writes all of `data` to `fd`, retrying short writes and EINTR.
absl::Status WriteAll(int fd, const void* data, size_t size,
                      const std::string& path_for_errors);

// Regular files under `dir`, recursively (links to directories are not
// followed; broken links are skipped), as paths relative to `dir` with '/'
// separators, in no particular order.
absl::StatusOr<std::vector<std::string>> ListFilesRecursively(
    const std::string& dir);

}  // namespace pgan

#endif  // PGAN_COMMON_FILE_UTIL_H_
