#include "tools/dataset_command.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/dataset_json.h"
#include "common/file_util.h"
#include "common/idx.h"
#include "common/image_io.h"
#include "common/resample.h"
#include "common/status_macros.h"
#include "common/zip_archive.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;

constexpr char kCenterCrop[] = "center-crop";
constexpr char kIdxImages[] = "images-idx3-ubyte";
constexpr char kIdxLabels[] = "labels-idx1-ubyte";

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

int NextPowerOfTwo(int v) {
  int p = 1;
  while (p < v) p *= 2;
  return p;
}

// The images of a source, in output order, with their labels.
class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t size() const = 0;
  // The file (and member) of image i, for messages.
  virtual std::string Where(int64_t i) const = 0;
  virtual absl::StatusOr<Image> Load(int64_t i) const = 0;
  // Whether the source has labels at all, and where they come from.
  virtual bool labelled() const = 0;
  virtual std::string labels_where() const = 0;
  virtual std::optional<DatasetLabel> Label(int64_t i) const = 0;
};

// A folder or a zip of PNG/JPEG files with an optional dataset.json.
class FileSource : public Source {
 public:
  static absl::StatusOr<std::unique_ptr<Source>> Open(const std::string& path,
                                                      bool is_zip);
  int64_t size() const override { return static_cast<int64_t>(names_.size()); }
  std::string Where(int64_t i) const override { return WhereName(names_[i]); }
  absl::StatusOr<Image> Load(int64_t i) const override {
    ASSIGN_OR_RETURN(const std::string bytes, Read(names_[i]));
    return DecodeImage(bytes, Where(i));
  }
  bool labelled() const override { return labels_.present; }
  std::string labels_where() const override { return WhereName("dataset.json"); }
  std::optional<DatasetLabel> Label(int64_t i) const override {
    const auto it = labels_.by_name.find(names_[i]);
    if (it == labels_.by_name.end()) return std::nullopt;
    return it->second;
  }

 private:
  explicit FileSource(std::string path) : path_(std::move(path)) {}
  std::string WhereName(const std::string& name) const {
    return zip_ ? absl::StrCat(path_, ":", name) : (fs::path(path_) / name).string();
  }
  absl::StatusOr<std::string> Read(const std::string& name) const {
    return zip_ ? zip_->Read(name) : ReadFile((fs::path(path_) / name).string());
  }

  const std::string path_;
  std::unique_ptr<ZipReader> zip_;
  std::vector<std::string> names_;
  DatasetLabels labels_;
};

// Python's sorted() of pathlib.Path objects (what the reference's folder
// source uses) compares path components: "a/b.png" sorts before "a-c.png".
// That is byte order with '/' below every other byte.
bool ComponentLess(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        const int kx = x == '/' ? -1 : static_cast<unsigned char>(x);
        const int ky = y == '/' ? -1 : static_cast<unsigned char>(y);
        return kx < ky;
      });
}

absl::StatusOr<std::unique_ptr<Source>> FileSource::Open(const std::string& path,
                                                         bool is_zip) {
  std::unique_ptr<FileSource> source(new FileSource(path));
  std::vector<std::string> files;
  if (is_zip) {
    ASSIGN_OR_RETURN(source->zip_, ZipReader::Open(path));
    files = source->zip_->names();
  } else {
    ASSIGN_OR_RETURN(files, ListFilesRecursively(path));
  }
  bool has_json = false;
  for (const std::string& file : files) {
    if (file == "dataset.json") has_json = true;
    if (HasImageExtension(file)) {
      source->names_.push_back(file);
    } else if (HasUnsupportedImageExtension(file)) {
      return absl::InvalidArgumentError(absl::StrCat(
          source->WhereName(file),
          ": unsupported image format (PNG and JPEG only); convert or remove it"));
    }
  }
  if (is_zip) {
    std::sort(source->names_.begin(), source->names_.end());
  } else {
    std::sort(source->names_.begin(), source->names_.end(), ComponentLess);
  }
  if (has_json) {
    ASSIGN_OR_RETURN(const std::string text, source->Read("dataset.json"));
    ASSIGN_OR_RETURN(source->labels_,
                     ParseDatasetJson(text, source->labels_where()));
  }
  return std::unique_ptr<Source>(std::move(source));
}

// MNIST-style IDX files: 28x28 gray images padded with black to 32x32 as the
// reference does (to the next power of two in general), labels 0-9.
class IdxSource : public Source {
 public:
  static absl::StatusOr<std::unique_ptr<Source>> Open(const std::string& path);
  int64_t size() const override { return images_.dims[0]; }
  std::string Where(int64_t i) const override {
    return absl::StrCat(path_, ": image ", i);
  }
  absl::StatusOr<Image> Load(int64_t i) const override {
    const int rows = static_cast<int>(images_.dims[1]);
    const int cols = static_cast<int>(images_.dims[2]);
    const size_t bytes = static_cast<size_t>(rows) * cols;
    Image image{cols, rows, 1, {}};
    image.pixels.assign(images_.data.begin() + i * bytes,
                        images_.data.begin() + (i + 1) * bytes);
    const int side = NextPowerOfTwo(std::max(rows, cols));
    return PadCentered(image, side, side);
  }
  bool labelled() const override { return true; }
  std::string labels_where() const override { return labels_path_; }
  std::optional<DatasetLabel> Label(int64_t i) const override {
    DatasetLabel label;
    label.class_index = labels_.data[i];
    return label;
  }

 private:
  std::string path_;
  std::string labels_path_;
  IdxArray images_;
  IdxArray labels_;
};

absl::StatusOr<std::unique_ptr<Source>> IdxSource::Open(const std::string& path) {
  std::unique_ptr<IdxSource> source(new IdxSource());
  source->path_ = path;
  const fs::path p(path);
  source->labels_path_ =
      (p.parent_path() /
       absl::StrReplaceAll(p.filename().string(), {{kIdxImages, kIdxLabels}}))
          .string();
  ASSIGN_OR_RETURN(source->images_, ReadIdxFile(path));
  const std::vector<int64_t>& dims = source->images_.dims;
  if (dims.size() != 3 || dims[1] < 1 || dims[2] < 1 || dims[1] > 16384 ||
      dims[2] > 16384) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected IDX images [count, rows, cols] of 1 to 16384 pixels"));
  }
  auto labels = ReadIdxFile(source->labels_path_);
  if (!labels.ok()) {
    return absl::Status(labels.status().code(),
                        absl::StrCat("the labels of ", path, ": ",
                                     labels.status().message()));
  }
  source->labels_ = *std::move(labels);
  if (source->labels_.dims.size() != 1 ||
      source->labels_.dims[0] != source->images_.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        source->labels_path_, ": expected ", source->images_.dims[0],
        " labels (one per image of ", path, ")"));
  }
  return std::unique_ptr<Source>(std::move(source));
}

absl::StatusOr<std::unique_ptr<Source>> OpenSource(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) return FileSource::Open(path, /*is_zip=*/false);
  if (!fs::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
  }
  const std::string name = fs::path(path).filename().string();
  if (absl::StrContains(name, kIdxImages)) return IdxSource::Open(path);
  if (absl::EndsWithIgnoreCase(name, ".zip")) {
    return FileSource::Open(path, /*is_zip=*/true);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": not a folder, a .zip or an IDX image file (*-", kIdxImages, ".gz)"));
}

// Applies the transform; `first_side` remembers the size of the first image
// (without a transform every image must have it).
absl::StatusOr<Image> Transform(const DatasetOptions& options, const Source& source,
                                int64_t i, Image image, int* first_side) {
  if (options.transform == kCenterCrop) {
    image = GrayToRgb(CenterCropSquare(image));
    return ResizeLanczos(image, options.resolution, options.resolution);
  }
  if (image.width != image.height) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.Where(i), " is ", image.width, "x", image.height,
        ": without --transform center-crop images must be square"));
  }
  if (*first_side == 0) {
    *first_side = image.width;
    if (options.resolution == 0 && !IsPowerOfTwo(image.width)) {
      return absl::InvalidArgumentError(absl::StrCat(
          source.Where(i), " is ", image.width, "x", image.height,
          ", not a power of two: pass --resolution N (a power of two) to "
          "resize, or --transform center-crop"));
    }
  } else if (image.width != *first_side) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.Where(i), " is ", image.width, "x", image.height, " but ",
        source.Where(0), " is ", *first_side, "x", *first_side,
        ": without --transform center-crop all images must have the same size"));
  }
  image = GrayToRgb(image);
  if (options.resolution == 0) return image;
  return ResizeLanczos(image, options.resolution, options.resolution);
}

// The encoded PNGs wait in a temporary file beside the destination until
// the archive is written: libzip writes every member at zip_close, and
// holding them in memory would not scale to large datasets.
class SpillFile {
 public:
  static absl::StatusOr<std::unique_ptr<SpillFile>> Create(const std::string& dest) {
    fs::path dir = fs::path(dest).parent_path();
    if (dir.empty()) dir = ".";
    std::string path =
        (dir / ("." + fs::path(dest).filename().string() + ".images.XXXXXX")).string();
    const int fd = ::mkstemp(path.data());
    if (fd < 0) {
      return absl::InternalError(absl::StrCat(
          "cannot create a temporary file in ", dir.string(), ": ", std::strerror(errno)));
    }
    return std::unique_ptr<SpillFile>(new SpillFile(std::move(path), fd));
  }
  ~SpillFile() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  // Appends `data`; returns its offset.
  absl::StatusOr<int64_t> Append(const std::string& data) {
    RETURN_IF_ERROR(WriteAll(fd_, data.data(), data.size(), path_));
    const int64_t offset = size_;
    size_ += static_cast<int64_t>(data.size());
    return offset;
  }
  absl::Status Close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      return absl::InternalError(absl::StrCat("cannot write ", path_, ": ",
                                              std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  const std::string& path() const { return path_; }

 private:
  SpillFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  int fd_;
  int64_t size_ = 0;
};

}  // namespace

absl::Status DatasetOptions::Validate() const {
  if (source.empty()) return absl::InvalidArgumentError("--source is required");
  if (!absl::EndsWithIgnoreCase(dest, ".zip")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dest ", dest, ": must name a .zip file"));
  }
  if (!transform.empty() && transform != kCenterCrop) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--transform ", transform, ": expected center-crop (or nothing)"));
  }
  if (resolution != 0 && (!IsPowerOfTwo(resolution) || resolution > 16384)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--resolution ", resolution, ": must be a power of two up to 16384"));
  }
  if (transform == kCenterCrop && resolution == 0) {
    return absl::InvalidArgumentError(
        "--transform center-crop needs --resolution");
  }
  if (max_images == 0 || max_images < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-images ", max_images, ": must be at least 1"));
  }
  return absl::OkStatus();
}

absl::Status RunDataset(const DatasetOptions& options, std::ostream& out) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(const std::unique_ptr<Source> source, OpenSource(options.source));
  int64_t count = source->size();
  if (options.max_images > 0) count = std::min(count, options.max_images);
  if (count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.source, ": no PNG or JPEG images"));
  }

  // Labels are all or nothing: a partial set is a mistake worth stopping for.
  std::vector<DatasetLabel> labels;
  int64_t num_classes = 0;
  if (source->labelled()) {
    for (int64_t i = 0; i < count; ++i) {
      std::optional<DatasetLabel> label = source->Label(i);
      if (!label.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source->labels_where(), " has no label for ", source->Where(i),
            ": labels must cover every image"));
      }
      num_classes = std::max(num_classes, label->class_index + 1);
      labels.push_back(*std::move(label));
    }
  }

  const fs::path dest_dir = fs::path(options.dest).parent_path();
  std::error_code error;
  if (!dest_dir.empty() && !fs::is_directory(dest_dir, error) &&
      !fs::create_directories(dest_dir, error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dest ", options.dest, ": cannot create its folder: ", error.message()));
  }
  ASSIGN_OR_RETURN(const std::unique_ptr<SpillFile> spill,
                   SpillFile::Create(options.dest));
  std::vector<std::string> names;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // Offset, length.
  int first_side = 0;
  int side = 0;
  for (int64_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(Image image, source->Load(i));
    ASSIGN_OR_RETURN(image, Transform(options, *source, i, std::move(image),
                                      &first_side));
    side = image.width;
    ASSIGN_OR_RETURN(const std::string png, EncodePng(image, /*compression_level=*/0));
    ASSIGN_OR_RETURN(const int64_t offset, spill->Append(png));
    const std::string index = absl::StrFormat("%08d", i);
    names.push_back(absl::StrCat(index.substr(0, 5), "/img", index, ".png"));
    ranges.emplace_back(offset, static_cast<int64_t>(png.size()));
    if ((i + 1) % 10000 == 0 && i + 1 < count) {
      out << "  " << i + 1 << " / " << count << " images\n" << std::flush;
    }
  }
  RETURN_IF_ERROR(spill->Close());

  ASSIGN_OR_RETURN(const std::unique_ptr<ZipWriter> zip,
                   ZipWriter::Create(options.dest));
  for (size_t i = 0; i < names.size(); ++i) {
    RETURN_IF_ERROR(zip->AddFileRange(names[i], spill->path(), ranges[i].first,
                                      ranges[i].second));
  }
  RETURN_IF_ERROR(zip->AddBytes(
      "dataset.json",
      FormatDatasetJson(names, source->labelled() ? &labels : nullptr)));
  RETURN_IF_ERROR(zip->Commit());

  std::string label_text = "no labels";
  if (!labels.empty()) {
    label_text = labels[0].class_index >= 0
                     ? absl::StrCat("labels: ", num_classes, " classes")
                     : absl::StrCat("labels: vectors of ", labels[0].vector.size());
  }
  out << "Wrote " << count << " images (" << side << "x" << side << " RGB, "
      << label_text << ") to " << options.dest << "\n";
  return absl::OkStatus();
}

}  // namespace pgan::tools
