// Benchmark (not a test): the time of an in-training FID evaluation per
// 1,000 images, split into generating, feature extraction and the
// statistics, for a fresh generator at each resolution; the dataset pass is
// timed separately (the statistics cache makes it a one-off). Inception-v3
// runs on stand-in weights of the published shapes (the time does not
// depend on the values).
//
//   fid_benchmark [--res 64,256] [--num 1000] [--reals 200] [--fd 1]
//                 [--device cpu] [--threads N]
// (threads default: every core)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/trainer/inception_weights.h"
#include "tests/trainer/random_images.h"
#include "trainer/device.h"
#include "trainer/inception.h"
#include "trainer/metrics.h"
#include "trainer/network_file.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace tr = pgan::trainer;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int Run(int argc, char** argv) {
  std::vector<int> resolutions = {64, 256};
  int64_t num = 1000;
  std::string device_spec = "cpu";
  int reals = 200;      // Dataset images.
  bool with_fd = true;  // Also the feature network's FD.
  // LibTorch's default here is one thread: use every core unless told.
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--res") {
      resolutions.clear();
      for (absl::string_view r : absl::StrSplit(value, ',')) {
        int x = 0;
        if (absl::SimpleAtoi(r, &x)) resolutions.push_back(x);
      }
    } else if (flag == "--num") {
      num = std::atoll(value.c_str());
    } else if (flag == "--device") {
      device_spec = value;
    } else if (flag == "--reals") {
      reals = std::atoi(value.c_str());
    } else if (flag == "--fd") {
      with_fd = value != "0";
    } else if (flag == "--threads") {
      threads = std::atoi(value.c_str());
    }
  }
  if (threads > 0) tr::SetIntraOpThreads(threads);
  auto device = tr::ResolveDevice(device_spec);
  if (!device.ok()) {
    std::cerr << device.status() << "\n";
    return 1;
  }
  const std::string dir = "/tmp/pgan_fid_benchmark";
  const std::string weights = dir + "/inception.safetensors";
  std::filesystem::create_directories(dir);
  if (!pgan::testing::WriteInceptionTestWeights(weights, 1).ok()) return 1;
  std::printf("device %s, %d intra-op threads, %lld generated images\n",
              device->str().c_str(), torch::get_num_threads(),
              static_cast<long long>(num));
  for (int res : resolutions) {
    const std::string data = dir + "/data" + std::to_string(res);
    std::filesystem::remove_all(data);
    if (!pgan::testing::WriteRandomImageFolder(data, reals, res, 7).ok())
      return 1;
    tr::ImageDatasetOptions options;
    options.gray_to_rgb = true;
    std::shared_ptr<const tr::ImageDataset> dataset =
        std::move(*tr::ImageDataset::Open(data, options));
    pgan::config::ModelConfig model;
    model.cfg = "fastgan";
    model.resolution = res;
    auto nets = tr::BuildNetworks(model, tr::kPartGEma | tr::kPartD);
    if (!nets.ok()) return 1;
    nets->G_ema->to(*device);
    nets->G_ema->eval();
    for (const bool inception : {true, false}) {
      if (!inception && !with_fd) continue;
      std::unique_ptr<tr::FeatureExtractor> extractor;
      if (inception) {
        extractor = std::move(*tr::LoadInceptionExtractor(weights, *device));
      } else {
        extractor = std::move(*tr::MakeFeatureNetworkExtractor(
            *nets->D->feature_network->pretrained, model.feature_network,
            *device));
      }
      const std::string name = extractor->name();
      // pytorch-fid's Inception (the same network shape as NVIDIA's).
      tr::MetricSpec spec;
      spec.kind = inception ? tr::MetricKind::kFid : tr::MetricKind::kFd;
      spec.detector = inception ? tr::MetricDetector::kPytorchFid
                                : tr::MetricDetector::kFeatureNetwork;
      spec.num_fakes = num;
      spec.name = inception ? "fid" : "fd";
      tr::LocalProcessGroup group;
      tr::MetricsOptions mo;
      mo.batch = 32;
      mo.cache_dir = dir + "/cache";
      std::filesystem::remove_all(mo.cache_dir);
      tr::MetricsEvaluator::Extractors extractors;
      extractors[spec.detector] = std::move(extractor);
      auto evaluator = tr::MetricsEvaluator::Create(
          {spec}, std::move(extractors), dataset, &group, mo);
      if (!evaluator.ok()) {
        std::cerr << evaluator.status() << "\n";
        return 1;
      }
      Clock::time_point t = Clock::now();
      if (!(*evaluator)->PrepareReals().ok()) return 1;
      const double reals = Since(t);
      t = Clock::now();
      auto partials = (*evaluator)->ExtractFakes(nets->G_ema);
      const double fakes = Since(t);
      t = Clock::now();
      auto results = (*evaluator)->Reduce(*partials);
      const double reduce = Since(t);
      if (!results.ok()) return 1;
      std::printf(
          "%4d px  %-20s  %6.1f s per 1000 generated (generate+extract "
          "%.1f s for %d, then the distance %.2f s once)  dataset pass %.2f s "
          "per 1000 images\n",
          res, name.c_str(), fakes * 1000.0 / num + reduce, fakes,
          static_cast<int>(num), reduce, reals * 1000.0 / dataset->size());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
