// Compares every tensor of two training snapshots (safetensors files: the
// networks' parameters and buffers, the optimisers' moments and counters),
// element by element, without LibTorch. For the tests that two ways of
// training end in the same state.
#ifndef PGAN_TESTS_COMMON_SNAPSHOT_DIFF_H_
#define PGAN_TESTS_COMMON_SNAPSHOT_DIFF_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"

namespace pgan::testing {

struct SnapshotDiff {
  std::string error;       // Set when the files cannot be compared.
  int64_t tensors = 0;     // Compared: those in both files.
  // In one file only (a parameter that never had a gradient has no Adam
  // moments in one process, zeros on several ranks in the reference's mode).
  std::vector<std::string> unmatched;
  int64_t elements = 0;
  int64_t differing = 0;   // Elements not bit-identical.
  // Largest |a - b| / (|a| + 1e-6) over float elements, and where.
  double max_relative = 0;
  std::string worst;
  // Per top-level name ("G", "G_ema", "D", "opt_G", ...): differing elements.
  std::map<std::string, int64_t> differing_by_net;
  std::map<std::string, int64_t> elements_by_net;  // Compared, likewise.
};

inline std::ostream& operator<<(std::ostream& out, const SnapshotDiff& d) {
  if (!d.error.empty()) return out << d.error;
  out << d.differing << " of " << d.elements << " elements in " << d.tensors
      << " tensors differ; largest relative difference " << d.max_relative;
  if (!d.worst.empty()) out << " (" << d.worst << ")";
  if (!d.unmatched.empty()) {
    out << "; " << d.unmatched.size() << " tensors in one file only, such as "
        << d.unmatched.front();
  }
  for (const auto& [net, n] : d.differing_by_net) out << "; " << net << " " << n;
  return out;
}

inline SnapshotDiff DiffSnapshots(const std::string& a_path,
                                  const std::string& b_path) {
  SnapshotDiff d;
  auto a = SafetensorsFile::Open(a_path);
  auto b = SafetensorsFile::Open(b_path);
  if (!a.ok() || !b.ok()) {
    d.error = absl::StrCat(a.status().ToString(), "; ", b.status().ToString());
    return d;
  }
  for (const TensorEntry& eb : b->tensors()) {
    if (a->Find(eb.name) == nullptr) d.unmatched.push_back(eb.name);
  }
  for (const TensorEntry& ea : a->tensors()) {
    const TensorEntry* eb = b->Find(ea.name);
    if (eb == nullptr) {
      d.unmatched.push_back(ea.name);
      continue;
    }
    if (eb->dtype != ea.dtype || eb->nbytes != ea.nbytes) {
      d.error = absl::StrCat(ea.name, " differs in type or size");
      return d;
    }
    ++d.tensors;
    const std::string net = ea.name.substr(0, ea.name.find('.'));
    const size_t size = DTypeSize(ea.dtype);
    const int64_t n = static_cast<int64_t>(ea.nbytes / size);
    d.elements += n;
    d.elements_by_net[net] += n;
    const char* pa = static_cast<const char*>(ea.data);
    const char* pb = static_cast<const char*>(eb->data);
    for (int64_t i = 0; i < n; ++i) {
      if (std::memcmp(pa + i * size, pb + i * size, size) == 0) continue;
      ++d.differing;
      ++d.differing_by_net[net];
      double relative = INFINITY;  // Non-float elements that differ.
      if (ea.dtype == DType::kF32) {
        float x, y;
        std::memcpy(&x, pa + i * size, sizeof(x));
        std::memcpy(&y, pb + i * size, sizeof(y));
        relative = std::abs(double{x} - y) / (std::abs(double{x}) + 1e-6);
      }
      if (relative > d.max_relative) {
        d.max_relative = relative;
        d.worst = absl::StrCat(ea.name, "[", i, "]");
      }
    }
  }
  return d;
}

}  // namespace pgan::testing

#endif  // PGAN_TESTS_COMMON_SNAPSHOT_DIFF_H_
