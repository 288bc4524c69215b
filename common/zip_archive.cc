#include "common/zip_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pgan {
namespace {

std::string LibzipMessage(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

// ---------------------------------------------------------------- ZipReader

absl::StatusOr<std::unique_ptr<ZipReader>> ZipReader::Open(
    const std::string& path) {
  int code = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (archive == nullptr) {
    const std::string message =
        absl::StrCat(path, ": cannot open zip archive: ", LibzipMessage(code));
    if (code == ZIP_ER_NOENT) return absl::NotFoundError(message);
    return absl::InvalidArgumentError(message);
  }
  std::unique_ptr<ZipReader> reader(new ZipReader(path, archive));
  const zip_int64_t count = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive, i, ZIP_FL_ENC_GUESS);
    if (name == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": damaged zip directory: ", zip_strerror(archive)));
    }
    if (absl::EndsWith(name, "/")) continue;  // A directory entry.
    reader->names_.push_back(name);
    reader->index_.emplace(name, i);
  }
  return reader;
}

ZipReader::ZipReader(std::string path, zip* archive)
    : path_(std::move(path)), archive_(archive) {}

ZipReader::~ZipReader() { zip_discard(archive_); }

absl::StatusOr<std::string> ZipReader::Read(const std::string& name) const {
  return ReadImpl(name, 0, /*whole=*/true);
}

absl::StatusOr<std::string> ZipReader::ReadPrefix(const std::string& name,
                                                  size_t max_bytes) const {
  return ReadImpl(name, max_bytes, /*whole=*/false);
}

absl::StatusOr<std::string> ZipReader::ReadImpl(const std::string& name,
                                                size_t max_bytes,
                                                bool whole) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ":", name, ": no such member"));
  }
  const std::string where = absl::StrCat(path_, ":", name);
  std::lock_guard<std::mutex> lock(mu_);
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(archive_, it->second, 0, &stat) != 0 ||
      !(stat.valid & ZIP_STAT_SIZE)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": cannot read: ", zip_strerror(archive_)));
  }
  const size_t want = whole ? static_cast<size_t>(stat.size)
                            : std::min<size_t>(max_bytes, stat.size);
  zip_file_t* file = zip_fopen_index(archive_, it->second, 0);
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": cannot read: ", zip_strerror(archive_)));
  }
  std::string data(want, '\0');
  size_t done = 0;
  while (done < want) {
    const zip_int64_t n = zip_fread(file, data.data() + done, want - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  // Reading past the end is what makes libzip verify the CRC.
  char probe;
  const zip_int64_t tail = whole && done == want ? zip_fread(file, &probe, 1) : 0;
  const std::string error = zip_file_strerror(file);
  zip_fclose(file);
  if (done < want) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": damaged member (truncated): ", error));
  }
  if (tail != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": damaged member: ", tail > 0 ? "longer than recorded" : error));
  }
  return data;
}

// ---------------------------------------------------------------- ZipWriter

absl::StatusOr<std::unique_ptr<ZipWriter>> ZipWriter::Create(
    const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string temp =
      (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  // mkstemp reserves a unique name; libzip then writes the archive through
  // its own temporary file and renames it over this one on zip_close.
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) return ErrnoError("cannot create a temporary file in", dir.string());
  ::close(fd);
  int code = 0;
  zip_t* archive = zip_open(temp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (archive == nullptr) {
    ::unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat(temp, ": cannot create zip archive: ", LibzipMessage(code)));
  }
  return std::unique_ptr<ZipWriter>(new ZipWriter(path, temp, archive));
}

ZipWriter::ZipWriter(std::string path, std::string temp_path, zip* archive)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), archive_(archive) {}

ZipWriter::~ZipWriter() { Discard(); }

void ZipWriter::Discard() {
  if (archive_ == nullptr) return;
  zip_discard(archive_);
  archive_ = nullptr;
  ::unlink(temp_path_.c_str());
}

absl::Status ZipWriter::AddSource(const std::string& name, zip_source* source) {
  if (source == nullptr) {
    return absl::InternalError(absl::StrCat(path_, ": cannot add ", name, ": ",
                                            zip_strerror(archive_)));
  }
  const zip_int64_t index =
      zip_file_add(archive_, name.c_str(), source, ZIP_FL_ENC_UTF_8);
  if (index < 0) {
    zip_source_free(source);
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": cannot add ", name, ": ", zip_strerror(archive_)));
  }
  if (zip_set_file_compression(archive_, index, ZIP_CM_STORE, 0) != 0) {
    return absl::InternalError(absl::StrCat(path_, ": cannot store ", name,
                                            ": ", zip_strerror(archive_)));
  }
  return absl::OkStatus();
}

absl::Status ZipWriter::AddBytes(const std::string& name,
                                 const std::string& data) {
  if (archive_ == nullptr) return absl::FailedPreconditionError("ZipWriter is finished");
  void* copy = nullptr;
  if (!data.empty()) {
    copy = std::malloc(data.size());
    if (copy == nullptr) return absl::ResourceExhaustedError("out of memory");
    std::memcpy(copy, data.data(), data.size());
  }
  // freep=1: libzip frees the copy once the archive no longer needs it.
  zip_source_t* source = zip_source_buffer(archive_, copy, data.size(), 1);
  if (source == nullptr) std::free(copy);
  return AddSource(name, source);
}

absl::Status ZipWriter::AddFileRange(const std::string& name,
                                     const std::string& source_path,
                                     int64_t offset, int64_t length) {
  if (archive_ == nullptr) return absl::FailedPreconditionError("ZipWriter is finished");
  if (offset < 0 || length < 0) {
    return absl::InvalidArgumentError("AddFileRange: negative offset or length");
  }
  // libzip reads a length of 0 as "to the end of the file".
  if (length == 0) return AddBytes(name, "");
  return AddSource(name, zip_source_file(archive_, source_path.c_str(),
                                         static_cast<zip_uint64_t>(offset),
                                         static_cast<zip_int64_t>(length)));
}

absl::Status ZipWriter::Commit() {
  if (archive_ == nullptr) return absl::FailedPreconditionError("ZipWriter is finished");
  if (zip_get_num_entries(archive_, 0) == 0) {
    // libzip deletes an archive without members instead of writing one.
    Discard();
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": refusing to write an empty zip archive"));
  }
  if (zip_close(archive_) != 0) {
    const std::string message = zip_strerror(archive_);
    Discard();
    return absl::InternalError(
        absl::StrCat("cannot write ", path_, ": ", message));
  }
  archive_ = nullptr;
  auto fail = [&](absl::Status status) {
    ::unlink(temp_path_.c_str());
    return status;
  };
  // libzip's temporary file kept mkstemp's 0600; a dataset is for sharing.
  if (::chmod(temp_path_.c_str(), 0644) != 0) {
    return fail(ErrnoError("cannot chmod", temp_path_));
  }
  const int fd = ::open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(ErrnoError("cannot open", temp_path_));
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return fail(ErrnoError("cannot fsync", temp_path_));
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return fail(ErrnoError("cannot rename into", path_));
  }
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace pgan
