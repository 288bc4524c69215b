#include "common/idx.h"

#include <zlib.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan {
namespace {

constexpr uint8_t kUnsignedByteType = 0x08;
// Larger arrays are certainly not MNIST-like; refusing them keeps a corrupt
// header from asking for terabytes.
constexpr int64_t kMaxBytes = int64_t{1} << 34;

// Inflates a gzip stream, or returns plain content unchanged (gzread's
// transparent mode), failing on a corrupt or truncated stream.
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path) {
  // A clear NOT_FOUND first: gzopen's failures carry no reason.
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"),
                                                   gzclose);
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  }
  std::string out;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file.get(), buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": corrupt gzip data: ", message));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  // gzread reports a stream cut short only through gzerror.
  int code = 0;
  const char* message = gzerror(file.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": corrupt gzip data: ", message));
  }
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string bytes, ReadMaybeGzip(path));
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an IDX file (bad magic number)"));
  }
  if (static_cast<uint8_t>(bytes[2]) != kUnsignedByteType) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": IDX data type 0x",
        absl::Hex(static_cast<uint8_t>(bytes[2]), absl::kZeroPad2),
        " is not supported (only unsigned bytes, 0x08)"));
  }
  const int ndims = static_cast<uint8_t>(bytes[3]);
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (ndims == 0 || bytes.size() < header) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated IDX header"));
  }
  IdxArray array;
  int64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const int64_t dim = BigEndian32(bytes, 4 + 4 * d);
    array.dims.push_back(dim);
    total *= dim;
    if (total > kMaxBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": IDX header announces more than 2^34 bytes"));
    }
  }
  const int64_t available = static_cast<int64_t>(bytes.size() - header);
  if (available != total) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the IDX header announces ", total, " bytes of data but the file has ",
        available, available < total ? " (truncated)" : ""));
  }
  array.data.assign(bytes.begin() + header, bytes.end());
  return array;
}

}  // namespace pgan
