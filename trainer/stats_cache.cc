#include "trainer/stats_cache.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/safetensors.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;

// Bumped whenever what an entry means changes (extraction, preprocessing).
constexpr int kFormatVersion = 1;

absl::Status HashFile(const std::string& path, Sha256* sha) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    sha->Update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DatasetContentDigest(const std::string& path) {
  std::error_code ec;
  Sha256 sha;
  if (fs::is_directory(path, ec)) {
    ASSIGN_OR_RETURN(std::vector<std::string> files,
                     ListFilesRecursively(path));
    std::sort(files.begin(), files.end());
    for (const std::string& name : files) {
      const std::string full = (fs::path(path) / name).string();
      const uintmax_t size = fs::file_size(full, ec);
      if (ec)
        return absl::NotFoundError(absl::StrCat(full, ": ", ec.message()));
      // Name and size delimit each file, so no two folders hash alike.
      sha.Update(absl::StrCat(name.size(), ":", name, ":", size, ":"));
      RETURN_IF_ERROR(HashFile(full, &sha));
    }
    return sha.HexDigest();
  }
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat(path, ": no such dataset (expected a zip or a folder)"));
  }
  RETURN_IF_ERROR(HashFile(path, &sha));
  return sha.HexDigest();
}

std::string StatisticsKey::Digest() const {
  const nlohmann::json fields = {
      {"format", kFormatVersion}, {"dataset", dataset_digest},
      {"extractor", extractor},   {"weights", weights_digest},
      {"resolution", resolution}, {"xflip", xflip},
      {"max_items", max_items},   {"with_features", with_features}};
  return Sha256Hex(fields.dump());  // Keys are sorted: canonical.
}

std::string StatisticsCache::InUserCache(const char* xdg_cache_home,
                                         const char* home) {
  if (xdg_cache_home != nullptr && *xdg_cache_home != '\0') {
    return absl::StrCat(xdg_cache_home, "/pgan/stats");
  }
  if (home != nullptr && *home != '\0') {
    return absl::StrCat(home, "/.cache/pgan/stats");
  }
  return "";
}

std::string StatisticsCache::BesideDataset(const std::string& dataset_path) {
  fs::path parent = fs::path(dataset_path).lexically_normal();
  if (parent.filename().empty()) parent = parent.parent_path();  // "dir/".
  parent = parent.parent_path();
  if (parent.empty()) parent = ".";
  return (parent / ".pgan-stats").string();
}

std::string StatisticsCache::PathFor(const StatisticsKey& key) const {
  return (fs::path(dir_) /
          absl::StrCat(key.extractor, "-", key.Digest(), ".safetensors"))
      .string();
}

absl::StatusOr<CachedStatistics> StatisticsCache::Load(
    const StatisticsKey& key) const {
  const std::string path = PathFor(key);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no cached statistics"));
  }
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  if (!file.ok()) return absl::DataLossError(file.status().message());
  auto bad = [&](const std::string& what) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a usable statistics entry: ", what));
  };
  const auto it = file->metadata().find("key");
  if (it == file->metadata().end() || it->second != key.Digest()) {
    return bad("its key does not match");
  }
  const TensorEntry* mean = file->Find("mean");
  const TensorEntry* cov = file->Find("covariance");
  const TensorEntry* count = file->Find("count");
  if (mean == nullptr || cov == nullptr || count == nullptr ||
      mean->dtype != DType::kF64 || cov->dtype != DType::kF64 ||
      count->dtype != DType::kI64 || mean->shape.size() != 1 ||
      cov->shape != std::vector<int64_t>{mean->shape[0], mean->shape[0]} ||
      count->shape != std::vector<int64_t>{1}) {
    return bad("expected mean F64 [D], covariance F64 [D, D], count I64 [1]");
  }
  CachedStatistics out;
  out.stats.mean = TensorFromEntry(*mean);
  out.stats.covariance = TensorFromEntry(*cov);
  out.stats.count = *static_cast<const int64_t*>(count->data);
  if (key.with_features) {
    const TensorEntry* features = file->Find("features");
    if (features == nullptr || features->dtype != DType::kF32 ||
        features->shape !=
            std::vector<int64_t>{out.stats.count, mean->shape[0]}) {
      return bad("expected features F32 [count, D]");
    }
    out.features = TensorFromEntry(*features);
  }
  return out;
}

absl::Status StatisticsCache::Store(const StatisticsKey& key,
                                    const CachedStatistics& value) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat(
        "statistics cache ", dir_, ": cannot create: ", ec.message()));
  }
  const torch::Tensor mean =
      value.stats.mean.to(torch::kCPU, torch::kFloat64).contiguous();
  const torch::Tensor cov =
      value.stats.covariance.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t count = value.stats.count;
  std::vector<TensorToWrite> tensors = {
      {"mean", DType::kF64, mean.sizes().vec(), mean.data_ptr(), mean.nbytes()},
      {"covariance", DType::kF64, cov.sizes().vec(), cov.data_ptr(),
       cov.nbytes()},
      {"count", DType::kI64, {1}, &count, sizeof(count)}};
  torch::Tensor features;
  if (key.with_features) {
    if (!value.features.defined()) {
      return absl::InvalidArgumentError("statistics entry needs its features");
    }
    features = value.features.to(torch::kCPU, torch::kFloat32).contiguous();
    tensors.push_back({"features", DType::kF32, features.sizes().vec(),
                       features.data_ptr(), features.nbytes()});
  }
  const std::map<std::string, std::string> metadata = {
      {"key", key.Digest()},
      {"dataset_sha256", key.dataset_digest},
      {"extractor", key.extractor},
      {"resolution", std::to_string(key.resolution)},
      {"xflip", key.xflip ? "1" : "0"}};
  return WriteSafetensors(PathFor(key), tensors, metadata);
}

}  // namespace pgan::trainer
