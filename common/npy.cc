#include "common/npy.h"

#include <cstring>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace pgan {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

absl::Status Bad(const std::string& name, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": not a usable .npy array: ", what));
}

}  // namespace

absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes,
                                  const std::string& name) {
  if (bytes.size() < kMagicLen + 4 ||
      std::memcmp(bytes.data(), kMagic, kMagicLen) != 0) {
    return Bad(name, "missing the \\x93NUMPY magic");
  }
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) |
                 (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Bad(name, "truncated header");
    for (int i = 3; i >= 0; --i) {
      header_len = (header_len << 8) | static_cast<uint8_t>(bytes[8 + i]);
    }
    offset = 12;
  } else {
    return Bad(name, absl::StrCat("unsupported format version ", major));
  }
  if (offset + header_len > bytes.size()) return Bad(name, "truncated header");
  const std::string header = bytes.substr(offset, header_len);
  offset += header_len;

  std::smatch m;
  static const std::regex kDescr(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex kFortran(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex kShape(R"('shape'\s*:\s*\(([^)]*)\))");
  if (!std::regex_search(header, m, kDescr)) return Bad(name, "no 'descr'");
  const std::string descr = m[1];
  size_t item = 0;
  if (descr == "<f4") {
    item = 4;
  } else if (descr == "<f8") {
    item = 8;
  } else {
    return Bad(name, absl::StrCat("dtype '", descr,
                                  "' is not little-endian float32 or float64"));
  }
  if (!std::regex_search(header, m, kFortran)) return Bad(name, "no 'fortran_order'");
  if (m[1] == "True") return Bad(name, "Fortran order is not supported");
  if (!std::regex_search(header, m, kShape)) return Bad(name, "no 'shape'");

  NpyArray array;
  uint64_t numel = 1;
  for (absl::string_view part : absl::StrSplit(std::string(m[1]), ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    int64_t d = 0;
    if (!absl::SimpleAtoi(part, &d) || d < 0 || d > (int64_t{1} << 40)) {
      return Bad(name, absl::StrCat("bad dimension '", part, "'"));
    }
    array.shape.push_back(d);
    numel *= static_cast<uint64_t>(d);
    if (numel > (uint64_t{1} << 40)) return Bad(name, "array too large");
  }
  const uint64_t need = numel * item;
  if (bytes.size() - offset < need) {
    return Bad(name, absl::StrCat("data holds ", bytes.size() - offset,
                                  " bytes but shape (",
                                  absl::StrJoin(array.shape, ", "), ") needs ",
                                  need, ": truncated?"));
  }
  array.data.resize(numel);
  const char* p = bytes.data() + offset;
  if (item == 4) {
    std::memcpy(array.data.data(), p, need);
  } else {
    for (uint64_t i = 0; i < numel; ++i) {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      array.data[i] = static_cast<float>(v);
    }
  }
  return array;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseNpy(bytes, path);
}

absl::Status WriteNpy(const std::string& path, const std::vector<int64_t>& shape,
                      const std::vector<float>& data) {
  std::string shape_text = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) shape_text += ",";
  std::string header = absl::StrCat("{'descr': '<f4', 'fortran_order': False, ",
                                    "'shape': (", shape_text, "), }");
  // Pad so that magic + version + length + header is a multiple of 64.
  while ((kMagicLen + 4 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(reinterpret_cast<const char*>(data.data()),
             data.size() * sizeof(float));
  return WriteFileAtomically(path, out);
}

}  // namespace pgan
