#include "common/dataset_json.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pgan {
namespace {

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// Integers, and floats without a fraction (NumPy's astype(int64) of a 1-D
// label array accepts them), are class labels.
bool AsClass(const nlohmann::json& value, int64_t* out) {
  if (value.is_number_unsigned()) {
    *out = static_cast<int64_t>(value.get<uint64_t>());
    return *out >= 0;
  }
  if (value.is_number_integer()) {
    *out = value.get<int64_t>();
    return *out >= 0;
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (d >= 0 && d < 9.0e18 && std::floor(d) == d) {
      *out = static_cast<int64_t>(d);
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<DatasetLabels> ParseDatasetJson(const std::string& text,
                                               const std::string& where) {
  const nlohmann::json root = nlohmann::json::parse(text, nullptr, false);
  if (root.is_discarded()) return Bad(where, "not valid JSON");
  if (!root.is_object() || !root.contains("labels")) {
    return Bad(where, "expected an object with a \"labels\" key");
  }
  const nlohmann::json& list = root["labels"];
  DatasetLabels labels;
  if (list.is_null()) return labels;
  if (!list.is_array()) {
    return Bad(where, "\"labels\" must be null or a list of [path, label] pairs");
  }
  labels.present = true;
  bool first = true;
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& entry = list[i];
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string()) {
      return Bad(where, absl::StrCat("labels[", i, "] is not a [path, label] pair"));
    }
    std::string name = entry[0].get<std::string>();
    for (char& c : name) {
      if (c == '\\') c = '/';
    }
    DatasetLabel label;
    const nlohmann::json& value = entry[1];
    bool is_class = false;
    if (AsClass(value, &label.class_index)) {
      is_class = true;
    } else if (value.is_array()) {
      for (const nlohmann::json& x : value) {
        if (!x.is_number()) break;
        label.vector.push_back(x.get<double>());
      }
      if (label.vector.size() != value.size()) {
        return Bad(where, absl::StrCat("the label of ", name,
                                       " has an element that is not a number"));
      }
    } else {
      return Bad(where, absl::StrCat("the label of ", name,
                                     " is neither a non-negative integer nor a "
                                     "list of numbers"));
    }
    if (first) {
      labels.classes = is_class;
      labels.vector_dim = static_cast<int64_t>(label.vector.size());
      first = false;
    } else if (is_class != labels.classes ||
               (!is_class && static_cast<int64_t>(label.vector.size()) !=
                                 labels.vector_dim)) {
      return Bad(where, absl::StrCat("the label of ", name,
                                     " is not of the same kind or length as "
                                     "the first label"));
    }
    labels.by_name[name] = std::move(label);
  }
  return labels;
}

std::string FormatDatasetJson(const std::vector<std::string>& names,
                              const std::vector<DatasetLabel>* labels) {
  if (labels == nullptr) return "{\"labels\": null}";
  std::string out = "{\"labels\": [";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    const DatasetLabel& label = (*labels)[i];
    nlohmann::json value;
    if (label.class_index >= 0) {
      value = label.class_index;
    } else {
      value = label.vector;
    }
    // json.dumps separates list items with ", "; nlohmann writes ",".
    std::string text = value.dump();
    if (value.is_array()) {
      std::string spaced;
      for (char c : text) {
        spaced += c;
        if (c == ',') spaced += ' ';
      }
      text = std::move(spaced);
    }
    const std::string name = nlohmann::json(names[i]).dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += absl::StrCat("[", name, ", ", text, "]");
  }
  out += "]}";
  return out;
}

}  // namespace pgan
