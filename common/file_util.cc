#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  const std::string message =
      absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoError("cannot read", path);
      ::close(fd);
      return status;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return contents;
}

absl::Status WriteAll(int fd, const void* data, size_t size,
                      const std::string& path_for_errors) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path_for_errors);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(
    const std::string& path, const std::function<absl::Status(int fd)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmp_template =
      (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmp_template.data());
  if (fd < 0) return ErrnoError("cannot create a temporary file in", dir.string());
  const std::string tmp = tmp_template;

  auto fail = [&](absl::Status status) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  };
  absl::Status status = write(fd);
  if (!status.ok()) return fail(status);
  if (::fchmod(fd, 0644) != 0) return fail(ErrnoError("cannot chmod", tmp));
  if (::fsync(fd) != 0) return fail(ErrnoError("cannot fsync", tmp));
  if (::close(fd) != 0) {
    absl::Status close_status = ErrnoError("cannot close", tmp);
    ::unlink(tmp.c_str());
    return close_status;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status rename_status = ErrnoError("cannot rename into", path);
    ::unlink(tmp.c_str());
    return rename_status;
  }
  // Make the rename itself durable.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  return WriteFileAtomically(path, [&](int fd) {
    return WriteAll(fd, contents.data(), contents.size(), path);
  });
}

absl::StatusOr<std::vector<std::string>> ListFilesRecursively(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::error_code error;
  fs::recursive_directory_iterator it(dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    std::error_code entry_error;  // A broken link is not an error.
    if (it->is_regular_file(entry_error)) {
      files.push_back(it->path().lexically_relative(dir).generic_string());
    }
  }
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": cannot list the folder: ", error.message()));
  }
  return files;
}

}  // namespace pgan
