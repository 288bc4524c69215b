// A training dataset in the reference's layout (what its dataset_tool.py and
// `pgan dataset` write): a zip archive or a folder of PNG/JPEG images, taken
// in sorted path order, with optional labels in a top-level dataset.json.
// With xflip (--mirror) items N..2N-1 are the horizontally flipped images.
// Thread-safe: Get*/Label* may run on many threads at once.
#ifndef PGAN_TRAINER_DATASET_H_
#define PGAN_TRAINER_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan {
class ZipReader;
}

namespace pgan::trainer {

struct ImageDatasetOptions {
  // Append a horizontally flipped copy of every image (the reference's
  // --mirror=1): a deterministic flip per index, not a random one.
  bool xflip = false;
  // Read labels from dataset.json (conditional training). When false the
  // file is ignored, as the reference does without --cond.
  bool use_labels = true;
  // Repeat the channel of a gray dataset three times. The feature network
  // needs RGB; the reference keeps such datasets at one channel.
  bool gray_to_rgb = false;
  // Read the header of every image at Open (the first 33 bytes of a PNG,
  // the whole file for a JPEG), so mixed sizes fail before training rather
  // than in the middle of it. false checks the first image only (later ones
  // are still checked when decoded).
  bool check_all_images = true;
};

class ImageDataset {
 public:
  // Errors name the file: not a zip or directory, no images, an image that
  // is not square, not a power of two or not the size of the others, an
  // undecodable first image, a dataset.json that is malformed or has no
  // label for some image.
  static absl::StatusOr<std::unique_ptr<ImageDataset>> Open(
      const std::string& path, const ImageDatasetOptions& options = {});
  ~ImageDataset();
  ImageDataset(const ImageDataset&) = delete;
  ImageDataset& operator=(const ImageDataset&) = delete;

  const std::string& path() const { return path_; }
  // Items: the number of images, twice that with xflip.
  int64_t size() const { return num_images() * (options_.xflip ? 2 : 1); }
  int64_t num_images() const { return static_cast<int64_t>(names_.size()); }
  int resolution() const { return resolution_; }
  // Channels of a decoded item (3 for gray images with gray_to_rgb).
  int channels() const { return options_.gray_to_rgb ? 3 : file_channels_; }
  // Bytes of one decoded item: channels * resolution^2.
  int64_t item_bytes() const {
    return int64_t{channels()} * resolution_ * resolution_;
  }

  bool has_labels() const { return label_dim_ > 0; }
  // Integer labels: one-hot of max + 1 classes; vector labels: their length.
  int64_t label_dim() const { return label_dim_; }
  bool has_onehot_labels() const { return onehot_; }

  // The image file behind item `index` (path inside the zip or folder).
  const std::string& image_name(int64_t index) const {
    return names_[index % num_images()];
  }
  bool is_flipped(int64_t index) const { return index >= num_images(); }

  // Decodes item `index` into `chw` (item_bytes() bytes, uint8 channels-
  // first). A file that fails to decode or has another size than the
  // dataset is an error naming it.
  absl::Status GetInto(int64_t index, uint8_t* chw) const;
  // The same as a new uint8 tensor [C, H, W].
  absl::StatusOr<torch::Tensor> Get(int64_t index) const;
  // Writes label_dim() floats for item `index`; nothing without labels.
  void LabelInto(int64_t index, float* out) const;
  // float32 [label_dim] (empty without labels).
  torch::Tensor Label(int64_t index) const;

 private:
  ImageDataset(std::string path, const ImageDatasetOptions& options);
  // "archive.zip:name" or "dir/name", for messages.
  std::string Where(const std::string& name) const;
  // The file, or its first `prefix` bytes when prefix > 0.
  absl::StatusOr<std::string> ReadEntry(const std::string& name,
                                        size_t prefix = 0) const;
  absl::Status ListFiles(std::vector<std::string>* files);
  absl::Status CheckImages();
  absl::Status LoadLabels(const std::vector<std::string>& files);

  const std::string path_;
  const ImageDatasetOptions options_;
  std::unique_ptr<ZipReader> zip_;  // Null for a folder.
  std::vector<std::string> names_;  // Sorted image paths.
  int resolution_ = 0;
  int file_channels_ = 0;
  int64_t label_dim_ = 0;
  bool onehot_ = false;
  std::vector<int64_t> class_labels_;   // Per image, when onehot_.
  std::vector<float> vector_labels_;    // [image][label_dim], otherwise.
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_DATASET_H_
