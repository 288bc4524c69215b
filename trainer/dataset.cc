#include "trainer/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/dataset_json.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "common/status_macros.h"
#include "common/zip_archive.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;

constexpr char kDatasetJson[] = "dataset.json";

bool IsPowerOfTwo(int v) { return v > 0 && (v & (v - 1)) == 0; }

std::string Shape(int width, int height, int channels) {
  return absl::StrCat(width, "x", height, " with ", channels,
                      channels == 1 ? " channel" : " channels");
}

}  // namespace

ImageDataset::ImageDataset(std::string path, const ImageDatasetOptions& options)
    : path_(std::move(path)), options_(options) {}

ImageDataset::~ImageDataset() = default;

std::string ImageDataset::Where(const std::string& name) const {
  if (zip_ != nullptr) return absl::StrCat(path_, ":", name);
  return (fs::path(path_) / name).string();
}

absl::StatusOr<std::string> ImageDataset::ReadEntry(const std::string& name,
                                                    size_t prefix) const {
  if (zip_ != nullptr) {
    return prefix > 0 ? zip_->ReadPrefix(name, prefix) : zip_->Read(name);
  }
  const std::string file = Where(name);
  if (prefix == 0) return ReadFile(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open"));
  std::string data(prefix, '\0');
  in.read(data.data(), static_cast<std::streamsize>(prefix));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

absl::Status ImageDataset::ListFiles(std::vector<std::string>* files) {
  std::error_code error;
  if (fs::is_directory(path_, error)) {
    ASSIGN_OR_RETURN(*files, ListFilesRecursively(path_));
    return absl::OkStatus();
  }
  if (!fs::exists(path_, error)) {
    return absl::NotFoundError(absl::StrCat(path_, ": no such file or folder"));
  }
  if (!absl::EndsWithIgnoreCase(path_, ".zip")) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": a dataset must be a .zip archive or a folder"));
  }
  ASSIGN_OR_RETURN(zip_, ZipReader::Open(path_));
  *files = zip_->names();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ImageDataset>> ImageDataset::Open(
    const std::string& path, const ImageDatasetOptions& options) {
  std::unique_ptr<ImageDataset> dataset(new ImageDataset(path, options));
  std::vector<std::string> files;
  RETURN_IF_ERROR(dataset->ListFiles(&files));
  for (const std::string& file : files) {
    if (HasImageExtension(file)) {
      dataset->names_.push_back(file);
    } else if (HasUnsupportedImageExtension(file)) {
      return absl::InvalidArgumentError(absl::StrCat(
          dataset->Where(file),
          ": unsupported image format (PNG and JPEG only); convert the "
          "dataset with `pgan dataset`"));
    }
  }
  // Byte order, as Python's sorted() of the names.
  std::sort(dataset->names_.begin(), dataset->names_.end());
  if (dataset->names_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no PNG or JPEG images in the dataset"));
  }
  RETURN_IF_ERROR(dataset->CheckImages());
  if (options.use_labels) RETURN_IF_ERROR(dataset->LoadLabels(files));
  return dataset;
}

absl::Status ImageDataset::CheckImages() {
  const std::string& first = names_[0];
  ASSIGN_OR_RETURN(const std::string bytes, ReadEntry(first));
  ASSIGN_OR_RETURN(const Image image, DecodeImage(bytes, Where(first)));
  if (image.width != image.height || !IsPowerOfTwo(image.width)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(first), ": images must be square with a power-of-two side, this "
                      "one is ", image.width, "x", image.height,
        "; convert the dataset with `pgan dataset --resolution N`"));
  }
  resolution_ = image.width;
  file_channels_ = image.channels;
  if (!options_.check_all_images) return absl::OkStatus();
  for (size_t i = 1; i < names_.size(); ++i) {
    ASSIGN_OR_RETURN(std::string head, ReadEntry(names_[i], kPngHeaderBytes));
    auto info = PeekImageInfo(head, Where(names_[i]));
    if (!info.ok() && !absl::StartsWith(head, "\x89PNG")) {
      // A JPEG's frame header may sit behind large metadata.
      ASSIGN_OR_RETURN(head, ReadEntry(names_[i]));
      info = PeekImageInfo(head, Where(names_[i]));
    }
    if (!info.ok()) return info.status();
    if (info->width != resolution_ || info->height != resolution_ ||
        info->channels != file_channels_) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(names_[i]), " is ", Shape(info->width, info->height, info->channels),
          " but ", first, " is ", Shape(resolution_, resolution_, file_channels_),
          ": all images of a dataset must have the same size and channels"));
    }
  }
  return absl::OkStatus();
}

absl::Status ImageDataset::LoadLabels(const std::vector<std::string>& files) {
  if (std::find(files.begin(), files.end(), kDatasetJson) == files.end()) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const std::string text, ReadEntry(kDatasetJson));
  ASSIGN_OR_RETURN(const DatasetLabels labels,
                   ParseDatasetJson(text, Where(kDatasetJson)));
  if (!labels.present) return absl::OkStatus();
  const size_t n = names_.size();
  onehot_ = labels.classes;
  if (onehot_) {
    class_labels_.resize(n);
  } else {
    vector_labels_.resize(n * labels.vector_dim);
  }
  int64_t max_class = -1;
  for (size_t i = 0; i < n; ++i) {
    const auto it = labels.by_name.find(names_[i]);
    if (it == labels.by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(kDatasetJson), " has no label for ", names_[i],
          ": labels must cover every image"));
    }
    if (onehot_) {
      class_labels_[i] = it->second.class_index;
      max_class = std::max(max_class, it->second.class_index);
    } else {
      std::transform(it->second.vector.begin(), it->second.vector.end(),
                     vector_labels_.begin() + i * labels.vector_dim,
                     [](double v) { return static_cast<float>(v); });
    }
  }
  label_dim_ = onehot_ ? max_class + 1 : labels.vector_dim;
  return absl::OkStatus();
}

absl::Status ImageDataset::GetInto(int64_t index, uint8_t* chw) const {
  if (index < 0 || index >= size()) {
    return absl::OutOfRangeError(absl::StrCat(
        path_, ": item ", index, " is outside [0, ", size(), ")"));
  }
  const std::string& name = image_name(index);
  ASSIGN_OR_RETURN(const std::string bytes, ReadEntry(name));
  ASSIGN_OR_RETURN(const Image image, DecodeImage(bytes, Where(name)));
  if (image.width != resolution_ || image.height != resolution_ ||
      image.channels != file_channels_) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(name), " is ", Shape(image.width, image.height, image.channels),
        " but the dataset is ", Shape(resolution_, resolution_, file_channels_)));
  }
  const int c_in = image.channels;
  const int64_t plane = int64_t{resolution_} * resolution_;
  const bool flip = is_flipped(index);
  for (int c = 0; c < channels(); ++c) {
    const int source_channel = c_in == 1 ? 0 : c;
    uint8_t* out = chw + c * plane;
    for (int y = 0; y < resolution_; ++y) {
      const uint8_t* row = &image.pixels[static_cast<size_t>(y) * resolution_ * c_in];
      uint8_t* dst = out + static_cast<int64_t>(y) * resolution_;
      for (int x = 0; x < resolution_; ++x) {
        const int sx = flip ? resolution_ - 1 - x : x;
        dst[x] = row[sx * c_in + source_channel];
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> ImageDataset::Get(int64_t index) const {
  torch::Tensor out =
      torch::empty({channels(), resolution_, resolution_}, torch::kUInt8);
  RETURN_IF_ERROR(GetInto(index, out.data_ptr<uint8_t>()));
  return out;
}

void ImageDataset::LabelInto(int64_t index, float* out) const {
  if (label_dim_ == 0) return;
  const int64_t image = index % num_images();
  if (onehot_) {
    std::fill(out, out + label_dim_, 0.0f);
    out[class_labels_[image]] = 1.0f;
  } else {
    std::copy_n(vector_labels_.begin() + image * label_dim_, label_dim_, out);
  }
}

torch::Tensor ImageDataset::Label(int64_t index) const {
  torch::Tensor out = torch::empty({label_dim_}, torch::kFloat32);
  LabelInto(index, out.data_ptr<float>());
  return out;
}

}  // namespace pgan::trainer
