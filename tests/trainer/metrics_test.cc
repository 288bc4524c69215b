// Quality metrics: names, the content-keyed statistics cache, and the
// evaluator (cache hits skip the dataset pass; results do not depend on the
// batch or on how many ranks share the work).
#include "trainer/metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "trainer/evaluation.h"
#include "trainer/network_file.h"
#include "trainer/stats_cache.h"

namespace pgan::trainer {
namespace {

using ::pgan::testing::TestDir;
using ::pgan::testing::WriteRandomImageFolder;

TEST(ConvergenceWatchTest, ReportsPlateauAndCollapse) {
  ConvergenceWatch watch(/*patience=*/2, /*collapse_ratio=*/2.0);
  EXPECT_EQ(watch.Observe(100), "");
  EXPECT_EQ(watch.Observe(50), "");
  EXPECT_TRUE(watch.improved());
  EXPECT_EQ(watch.Observe(60), "");  // One without a new best.
  EXPECT_FALSE(watch.improved());
  EXPECT_EQ(watch.Observe(55), "plateau");  // Two.
  EXPECT_EQ(watch.Observe(40), "");
  EXPECT_EQ(watch.best(), 40);
  EXPECT_EQ(watch.Observe(81), "collapse");  // Above 2 x 40.
  EXPECT_EQ(watch.Observe(std::nan("")), "collapse");

  ConvergenceWatch off(0, 0);
  for (double v : {1.0, 5.0, 50.0, 500.0}) EXPECT_EQ(off.Observe(v), "");
  ConvergenceWatch resumed(3, 0);
  resumed.Restore(10, 2);
  EXPECT_EQ(resumed.Observe(11), "plateau");
}

TEST(StatisticsCacheTest, DigestFollowsContent) {
  TestDir dir;
  ASSERT_TRUE(WriteRandomImageFolder(dir.file("a"), 3, 8, 1).ok());
  auto first = DatasetContentDigest(dir.file("a"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*DatasetContentDigest(dir.file("a")), *first);
  std::filesystem::rename(dir.file("a/img2.png"), dir.file("a/img9.png"));
  EXPECT_NE(*DatasetContentDigest(dir.file("a")), *first);
  std::filesystem::rename(dir.file("a/img9.png"), dir.file("a/img2.png"));
  EXPECT_EQ(*DatasetContentDigest(dir.file("a")), *first);
  std::ofstream(dir.file("a/img1.png"), std::ios::app) << "x";
  EXPECT_NE(*DatasetContentDigest(dir.file("a")), *first);
  EXPECT_FALSE(DatasetContentDigest(dir.file("missing.zip")).ok());
}

TEST(StatisticsCacheTest, StoresAndLoadsByKey) {
  TestDir dir;
  StatisticsCache cache(dir.file("cache"));
  StatisticsKey key{"abc", "efficientnet_lite0", "w", 32, false, 0, true};
  EXPECT_TRUE(absl::IsNotFound(cache.Load(key).status()));
  CachedStatistics entry;
  entry.features = torch::randn({5, 3});
  auto stats = ComputeStatistics(entry.features);
  ASSERT_TRUE(stats.ok());
  entry.stats = *stats;
  ASSERT_TRUE(cache.Store(key, entry).ok());
  auto loaded = cache.Load(key);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->stats.count, 5);
  EXPECT_TRUE(torch::equal(loaded->stats.covariance, entry.stats.covariance));
  EXPECT_TRUE(torch::equal(loaded->features, entry.features));
  // Any field of the key leads elsewhere.
  StatisticsKey other = key;
  other.xflip = true;
  EXPECT_TRUE(absl::IsNotFound(cache.Load(other).status()));
  other = key;
  other.dataset_digest = "abd";
  EXPECT_TRUE(absl::IsNotFound(cache.Load(other).status()));
  // A damaged entry is reported, not used.
  std::ofstream(cache.PathFor(key), std::ios::trunc) << "garbage";
  EXPECT_TRUE(absl::IsDataLoss(cache.Load(key).status()));
  EXPECT_EQ(StatisticsCache::BesideDataset("/data/ffhq.zip"),
            "/data/.pgan-stats");
  EXPECT_EQ(StatisticsCache::BesideDataset("/data/folder/"),
            "/data/.pgan-stats");
}

// Mean and spread of each channel: cheap, deterministic features that
// count how many images they saw.
class CountingExtractor : public FeatureExtractor {
 public:
  std::string name() const override { return "test_features"; }
  int64_t dim() const override { return 6; }
  std::string weights_digest() const override { return "v1"; }
  absl::StatusOr<torch::Tensor> Extract(const torch::Tensor& images) override {
    images_seen += images.size(0);
    const torch::Tensor x = images.to(torch::kFloat32).flatten(2) / 255;
    return torch::cat({x.mean(2), x.std(2)}, 1);
  }
  int64_t images_seen = 0;
};

// Ranks as threads: collectives meet at a generation barrier.
class ThreadGroupState {
 public:
  explicit ThreadGroupState(int world) : world_(world), slots_(world) {}
  void Barrier() {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t generation = generation_;
    if (++arrived_ == world_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
  }
  int world_;
  std::vector<std::vector<torch::Tensor>> slots_;
  std::vector<uint64_t> values_ = std::vector<uint64_t>(world_);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t generation_ = 0;
};

class ThreadGroup : public ProcessGroup {
 public:
  ThreadGroup(ThreadGroupState* state, int rank) : s_(state), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return s_->world_; }
  int local_rank() const override { return rank_; }
  absl::Status SumGradients(std::vector<torch::Tensor>&) override {
    return absl::UnimplementedError("not used");
  }
  absl::Status BroadcastFromRoot(std::vector<torch::Tensor>& t) override {
    return Broadcast(t, 0);
  }
  absl::Status Broadcast(std::vector<torch::Tensor>& t, int root) override {
    ++broadcasts;
    if (rank_ == root) s_->slots_[root] = t;
    s_->Barrier();
    if (rank_ != root) {
      for (size_t i = 0; i < t.size(); ++i) t[i].copy_(s_->slots_[root][i]);
    }
    s_->Barrier();
    return absl::OkStatus();
  }
  absl::Status SumValues(std::vector<double>&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::vector<uint64_t>> GatherValues(uint64_t value) override {
    s_->values_[rank_] = value;
    s_->Barrier();
    std::vector<uint64_t> all = s_->values_;
    s_->Barrier();
    return all;
  }
  int broadcasts = 0;

 private:
  ThreadGroupState* s_;
  int rank_;
};

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteRandomImageFolder(dir_.file("data"), 10, 32, 3).ok());
    ImageDatasetOptions options;
    options.gray_to_rgb = true;
    auto dataset = ImageDataset::Open(dir_.file("data"), options);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = std::move(*dataset);
    config::ModelConfig model;
    model.cfg = "fastgan_lite";
    model.resolution = 32;
    model.ngf = 8;  // Small and fast: the metrics do not care.
    torch::manual_seed(0);
    auto nets = BuildNetworks(model, kPartGEma);
    ASSERT_TRUE(nets.ok()) << nets.status();
    g_ema_ = nets->G_ema;
    g_ema_->eval();
  }

  absl::StatusOr<std::unique_ptr<MetricsEvaluator>> Make(
      ProcessGroup* group, int batch, CountingExtractor** extractor,
      const std::string& cache = "") {
    auto owned = std::make_unique<CountingExtractor>();
    *extractor = owned.get();
    MetricsOptions options;
    options.batch = batch;
    options.cache_dir = cache.empty() ? dir_.file("cache") : cache;
    MetricSpec spec;
    spec.kind = MetricKind::kFd;
    spec.num_fakes = 12;
    spec.name = "fd12_full_test_features";
    MetricsEvaluator::Extractors extractors;
    extractors[MetricDetector::kFeatureNetwork] = std::move(owned);
    return MetricsEvaluator::Create({spec}, std::move(extractors), dataset_,
                                    group, options);
  }

  TestDir dir_;
  std::shared_ptr<const ImageDataset> dataset_;
  Generator g_ema_{nullptr};
};

TEST_F(EvaluatorTest, SecondRunTakesDatasetStatisticsFromTheCache) {
  LocalProcessGroup group;
  CountingExtractor* extractor = nullptr;
  auto first = Make(&group, 4, &extractor);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->PrepareReals().ok());
  EXPECT_FALSE((*first)->reals_cached());
  EXPECT_EQ((*first)->dataset_images_read(), 10);
  EXPECT_EQ(extractor->images_seen, 10);
  auto partials = (*first)->ExtractFakes(g_ema_);
  ASSERT_TRUE(partials.ok()) << partials.status();
  auto results = (*first)->Reduce(*partials);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].metric, "fd12_full_test_features");
  EXPECT_EQ((*results)[0].num_fakes, 12);
  EXPECT_EQ((*results)[0].num_reals, 10);
  EXPECT_GT((*results)[0].value, 0);

  // Another run (another batch size) on the same data: no dataset pass,
  // the same value.
  auto second = Make(&group, 5, &extractor);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->PrepareReals().ok());
  EXPECT_TRUE((*second)->reals_cached());
  EXPECT_EQ((*second)->dataset_images_read(), 0);
  EXPECT_EQ(extractor->images_seen, 0);
  auto again = (*second)->Reduce(*(*second)->ExtractFakes(g_ema_));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NEAR((*again)[0].value, (*results)[0].value,
              1e-9 * (*results)[0].value);

  // The value is the Frechet distance of the two feature sets.
  CountingExtractor direct;
  std::vector<torch::Tensor> reals;
  for (int i = 0; i < 10; ++i) reals.push_back(*dataset_->Get(i));
  auto real_stats = ComputeStatistics(*direct.Extract(torch::stack(reals)));
  ASSERT_TRUE(real_stats.ok());
  // FeatureStats divides by N.
  FakePartials::Sums sums = partials->sums.at("test_features").at(12);
  FeatureStatistics fake;
  fake.count = 12;
  fake.mean = sums.sum / 12.0;
  fake.covariance = sums.outer / 12.0 - torch::outer(fake.mean, fake.mean);
  EXPECT_NEAR(*FrechetDistance(*real_stats, fake), (*results)[0].value, 1e-6);
}

TEST_F(EvaluatorTest, ChangedDatasetMissesTheCache) {
  LocalProcessGroup group;
  CountingExtractor* extractor = nullptr;
  auto first = Make(&group, 4, &extractor);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->PrepareReals().ok());
  ASSERT_TRUE(WriteRandomImageFolder(dir_.file("data"), 10, 32, 4).ok());
  auto second = Make(&group, 4, &extractor);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->PrepareReals().ok());
  EXPECT_FALSE((*second)->reals_cached());
  EXPECT_EQ(extractor->images_seen, 10);
}

TEST_F(EvaluatorTest, RanksShareTheWorkAndAgree) {
  LocalProcessGroup local;
  CountingExtractor* extractor = nullptr;
  auto single = Make(&local, 4, &extractor, dir_.file("cache1"));
  ASSERT_TRUE(single.ok());
  ASSERT_TRUE((*single)->PrepareReals().ok());
  auto expected = (*single)->Reduce(*(*single)->ExtractFakes(g_ema_));
  ASSERT_TRUE(expected.ok()) << expected.status();

  constexpr int kWorld = 3;
  ThreadGroupState state(kWorld);
  std::vector<double> values(kWorld, -1);
  std::vector<int64_t> seen(kWorld, 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < kWorld; ++r) {
    threads.emplace_back([&, r] {
      ThreadGroup group(&state, r);
      CountingExtractor* mine = nullptr;
      auto e = Make(&group, 2, &mine, dir_.file("cache3"));
      if (!e.ok() || !(*e)->PrepareReals().ok()) return;
      const int64_t reals = mine->images_seen;
      auto partials = (*e)->ExtractFakes(g_ema_);
      if (!partials.ok()) return;
      auto results = (*e)->Reduce(*partials);
      if (results.ok()) values[r] = (*results)[0].value;
      seen[r] = reals;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int r = 0; r < kWorld; ++r) {
    EXPECT_EQ(values[r], values[0]) << "rank " << r;
    EXPECT_NEAR(values[r], (*expected)[0].value, 1e-9 * (*expected)[0].value);
  }
  // 10 dataset images over 3 ranks: 3, 3, 4.
  EXPECT_EQ(seen[0] + seen[1] + seen[2], 10);
  EXPECT_LE(seen[2], 4);
}

}  // namespace
}  // namespace pgan::trainer
