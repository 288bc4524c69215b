// The dataset.json of the reference's dataset layout:
// {"labels": [["00000/img00000000.png", 6], ...]} or {"labels": null}.
// Shared by `pgan dataset` (labels of a source folder or zip) and the
// training loader. Torch-free; no shared state, thread-safe.
#ifndef PGAN_COMMON_DATASET_JSON_H_
#define PGAN_COMMON_DATASET_JSON_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan {

// One image's label: a class index, or a vector of numbers.
struct DatasetLabel {
  int64_t class_index = -1;    // >= 0 for a class label.
  std::vector<double> vector;  // Otherwise.
};

struct DatasetLabels {
  // false for "labels": null, an unlabelled dataset.
  bool present = false;
  // Class labels (one-hot in training) or vectors of `vector_dim` numbers;
  // never a mix.
  bool classes = true;
  int64_t vector_dim = 0;
  // Keyed by the image's path with '/' separators (a later duplicate wins,
  // as in the reference's dict()).
  std::unordered_map<std::string, DatasetLabel> by_name;
};

// Parses a dataset.json. `where` (the file, for example "a.zip:dataset.json")
// starts every error. Labels must all be non-negative integers (integral
// floats count) or all lists of numbers of one length.
absl::StatusOr<DatasetLabels> ParseDatasetJson(const std::string& text,
                                               const std::string& where);

// The dataset.json text for `names`, formatted as the reference's
// json.dumps writes it; {"labels": null} when `labels` is null, else
// labels->size() must equal names.size().
std::string FormatDatasetJson(const std::vector<std::string>& names,
                              const std::vector<DatasetLabel>* labels);

}  // namespace pgan

#endif  // PGAN_COMMON_DATASET_JSON_H_
