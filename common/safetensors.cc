#include "common/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace pgan {
namespace {

// Headers of real models are a few hundred KB; anything near this is hostile.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": not a valid safetensors file: ", what));
}

// Multiplies with overflow detection.
bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return true;
  *out = a * b;
  return false;
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const DTypeRow& row : kDTypes) {
    if (row.dtype == dtype) return row.name;
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(const std::string& name) {
  for (const DTypeRow& row : kDTypes) {
    if (name == row.name) return row.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", name, "\""));
}

size_t DTypeSize(DType dtype) {
  for (const DTypeRow& row : kDTypes) {
    if (row.dtype == dtype) return row.size;
  }
  return 0;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept {
  *this = std::move(other);
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) ::munmap(map_, map_size_);
    path_ = std::move(other.path_);
    map_ = other.map_;
    map_size_ = other.map_size_;
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
    other.map_ = nullptr;
    other.map_size_ = 0;
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const TensorEntry* SafetensorsFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string message = absl::StrCat("cannot open ", path, ": ",
                                             std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message)
                         : absl::InvalidArgumentError(message);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return Corrupt(path, absl::StrCat("file is ", size,
                                      " bytes, shorter than the 8-byte header "
                                      "length"));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("cannot map ", path, ": ", std::strerror(errno)));
  }
  file.map_ = map;
  file.map_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) {
    return Corrupt(path, absl::StrCat("header length ", header_len,
                                      " exceeds the limit of ",
                                      kMaxHeaderBytes));
  }
  if (8 + header_len > size) {
    return Corrupt(path, absl::StrCat("header length ", header_len,
                                      " runs past the end of the file (",
                                      size, " bytes): truncated?"));
  }
  const uint8_t* data_begin = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(path, absl::StrCat("header is not JSON: ", e.what()));
  }
  if (!header.is_object()) return Corrupt(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& value = it.value();
    if (name == "__metadata__") {
      if (!value.is_object()) return Corrupt(path, "__metadata__ is not an object");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) {
          return Corrupt(path, absl::StrCat("__metadata__ value for \"", m.key(),
                                            "\" is not a string"));
        }
        file.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = absl::StrCat("tensor \"", name, "\": ");
    if (!value.is_object() || !value.contains("dtype") ||
        !value.contains("shape") || !value.contains("data_offsets")) {
      return Corrupt(path, where + "needs dtype, shape and data_offsets");
    }
    TensorEntry entry;
    entry.name = name;
    if (!value["dtype"].is_string()) return Corrupt(path, where + "dtype is not a string");
    absl::StatusOr<DType> dtype = ParseDType(value["dtype"].get<std::string>());
    if (!dtype.ok()) return Corrupt(path, where + std::string(dtype.status().message()));
    entry.dtype = *dtype;
    const nlohmann::json& shape = value["shape"];
    if (!shape.is_array()) return Corrupt(path, where + "shape is not an array");
    uint64_t numel = 1;
    for (const nlohmann::json& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return Corrupt(path, where + "shape holds a non-integer or negative size");
      }
      entry.shape.push_back(d.get<int64_t>());
      if (MulOverflows(numel, d.get<uint64_t>(), &numel)) {
        return Corrupt(path, where + "shape overflows");
      }
    }
    const nlohmann::json& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 ||
        !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      return Corrupt(path, where + "data_offsets is not two unsigned integers");
    }
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    uint64_t nbytes = 0;
    if (MulOverflows(numel, DTypeSize(entry.dtype), &nbytes)) {
      return Corrupt(path, where + "size overflows");
    }
    if (begin > end || end > data_size) {
      return Corrupt(path, absl::StrCat(where, "data_offsets [", begin, ", ",
                                        end, ") fall outside the ", data_size,
                                        " data bytes: truncated?"));
    }
    if (end - begin != nbytes) {
      return Corrupt(path, absl::StrCat(where, "holds ", end - begin,
                                        " bytes but its dtype and shape need ",
                                        nbytes));
    }
    entry.data = data_begin + begin;
    entry.nbytes = nbytes;
    file.tensors_.push_back(std::move(entry));
  }

  std::sort(file.tensors_.begin(), file.tensors_.end(),
            [](const TensorEntry& a, const TensorEntry& b) {
              return a.data < b.data;
            });
  for (size_t i = 0; i < file.tensors_.size(); ++i) {
    const TensorEntry& t = file.tensors_[i];
    if (i > 0) {
      const TensorEntry& prev = file.tensors_[i - 1];
      if (static_cast<const uint8_t*>(prev.data) + prev.nbytes >
          static_cast<const uint8_t*>(t.data)) {
        return Corrupt(path, absl::StrCat("tensors \"", prev.name, "\" and \"",
                                          t.name, "\" overlap"));
      }
    }
    file.index_[t.name] = i;
  }
  return file;
}

absl::Status WriteSafetensors(
    const std::string& path, const std::vector<TensorToWrite>& tensors,
    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write ", path, ": duplicate or reserved tensor name \"",
          t.name, "\""));
    }
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor \"", t.name, "\" has a negative size"));
      }
      numel *= static_cast<uint64_t>(d);
    }
    if (numel * DTypeSize(t.dtype) != t.nbytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor \"", t.name, "\" has ", t.nbytes,
                       " bytes but its shape and dtype need ",
                       numel * DTypeSize(t.dtype)));
    }
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data starts 8-byte aligned, as the reference
  // writer does; readers may then map tensors without copying.
  while ((8 + header_text.size()) % 8 != 0) header_text.push_back(' ');

  return WriteFileAtomically(path, [&](int fd) -> absl::Status {
    uint8_t len_bytes[8];
    uint64_t len = header_text.size();
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(len >> (8 * i));
    RETURN_IF_ERROR(WriteAll(fd, len_bytes, sizeof(len_bytes), path));
    RETURN_IF_ERROR(WriteAll(fd, header_text.data(), header_text.size(), path));
    for (const TensorToWrite& t : tensors) {
      RETURN_IF_ERROR(WriteAll(fd, t.data, t.nbytes, path));
    }
    return absl::OkStatus();
  });
}

}  // namespace pgan
