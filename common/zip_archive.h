// Zip archives through libzip, for datasets in the reference's layout.
// ZipReader lists members and reads them; it is thread-safe (libzip handles
// are not, so reads are serialised on a mutex; callers decode outside it).
// ZipWriter builds an uncompressed (stored) archive beside its destination
// and renames it into place only on Commit(); not thread-safe.
#ifndef PGAN_COMMON_ZIP_ARCHIVE_H_
#define PGAN_COMMON_ZIP_ARCHIVE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// libzip's handles, kept out of this header.
struct zip;
struct zip_source;

namespace pgan {

class ZipReader {
 public:
  // Errors name the file: missing, not a zip archive, damaged directory.
  static absl::StatusOr<std::unique_ptr<ZipReader>> Open(
      const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::string& path() const { return path_; }
  // File members (directory entries left out), in archive order.
  const std::vector<std::string>& names() const { return names_; }
  bool Contains(const std::string& name) const {
    return index_.count(name) != 0;
  }
  // The whole member, CRC-checked. NOT_FOUND for an unknown name; a damaged
  // member is an error naming "archive:member".
  absl::StatusOr<std::string> Read(const std::string& name) const;
  // At most `max_bytes` from the start of the member (no CRC check), for
  // reading file headers cheaply.
  absl::StatusOr<std::string> ReadPrefix(const std::string& name,
                                         size_t max_bytes) const;

 private:
  ZipReader(std::string path, zip* archive);
  absl::StatusOr<std::string> ReadImpl(const std::string& name,
                                       size_t max_bytes, bool whole) const;

  const std::string path_;
  zip* const archive_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, int64_t> index_;
  mutable std::mutex mu_;  // Guards every libzip call on archive_.
};

class ZipWriter {
 public:
  // Starts an archive that will replace `path` on Commit(). Nothing at `path`
  // changes before then; a temporary file is created in its directory.
  static absl::StatusOr<std::unique_ptr<ZipWriter>> Create(
      const std::string& path);
  // Discards everything unless Commit() succeeded.
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // Adds a stored member holding `data`. The bytes are kept in memory until
  // Commit(): use AddFileRange for bulk data.
  absl::Status AddBytes(const std::string& name, const std::string& data);
  // Adds a stored member holding `length` bytes of the file `source` from
  // `offset`. The file is read during Commit() and must not change before.
  absl::Status AddFileRange(const std::string& name, const std::string& source,
                            int64_t offset, int64_t length);
  // Writes the archive (zip64 where needed), syncs it and renames it over
  // the destination. The writer is finished afterwards, whatever the result.
  absl::Status Commit();

 private:
  ZipWriter(std::string path, std::string temp_path, zip* archive);
  absl::Status AddSource(const std::string& name, zip_source* source);
  void Discard();

  const std::string path_;
  const std::string temp_path_;
  zip* archive_;  // Null once committed or discarded.
};

}  // namespace pgan

#endif  // PGAN_COMMON_ZIP_ARCHIVE_H_
