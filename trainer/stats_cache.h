// The dataset side of the quality metrics, cached by content: a dataset's
// feature statistics depend only on its bytes, the extractor and its
// weights, the resolution and the item options, so the key is a digest of
// exactly those. A changed dataset (any byte) gets a new key and never a
// stale entry; an unchanged one is shared by every run and job that reads
// it, wherever it lives. Entries are safetensors files written atomically;
// concurrent writers of one key write the same content. Thread-safe: no
// shared state.
#ifndef PGAN_TRAINER_STATS_CACHE_H_
#define PGAN_TRAINER_STATS_CACHE_H_

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/fid.h"

namespace pgan::trainer {

// SHA-256 (hex) of a dataset's content: a zip's bytes; for a folder, every
// regular file's relative path, size and bytes in sorted path order (so a
// renamed, added or edited file changes it).
absl::StatusOr<std::string> DatasetContentDigest(const std::string& path);

struct StatisticsKey {
  std::string dataset_digest;  // DatasetContentDigest.
  std::string extractor;       // FeatureExtractor::name().
  std::string weights_digest;  // FeatureExtractor::weights_digest().
  int resolution = 0;
  bool xflip = false;
  // Items used (0 = all); the first `max_items` in dataset order.
  int64_t max_items = 0;
  // Whether the entry keeps the features themselves (KID needs them).
  bool with_features = false;

  // The file name stem: SHA-256 of all fields and a format version.
  std::string Digest() const;
};

struct CachedStatistics {
  FeatureStatistics stats;
  torch::Tensor features;  // float32 [N, D] when the key asks for them.
};

class StatisticsCache {
 public:
  explicit StatisticsCache(std::string dir) : dir_(std::move(dir)) {}

  // "<folder of the dataset>/.pgan-stats": beside the data, shared by every
  // dataset of that folder (keys are content digests).
  static std::string BesideDataset(const std::string& dataset_path);
  // "$XDG_CACHE_HOME/pgan/stats", else "$HOME/.cache/pgan/stats" (the
  // user's cache, for datasets in read-only folders); empty without
  // either. Mains pass the environment's values (null when unset).
  static std::string InUserCache(const char* xdg_cache_home, const char* home);

  const std::string& dir() const { return dir_; }
  std::string PathFor(const StatisticsKey& key) const;

  // NOT_FOUND when there is no entry; DATA_LOSS (naming the file) for an
  // entry that cannot be read or does not match its key: the caller
  // recomputes and overwrites it.
  absl::StatusOr<CachedStatistics> Load(const StatisticsKey& key) const;
  // Creates the directory if needed; writes atomically.
  absl::Status Store(const StatisticsKey& key,
                     const CachedStatistics& value) const;

 private:
  std::string dir_;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_STATS_CACHE_H_
