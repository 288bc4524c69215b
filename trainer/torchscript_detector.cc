#include "trainer/torchscript_detector.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

class TorchScriptDetector : public FeatureExtractor {
 public:
  TorchScriptDetector(torch::jit::Module module, std::string path,
                      std::string name, std::string digest, c10::Device device)
      : module_(std::move(module)),
        path_(std::move(path)),
        name_(std::move(name)),
        digest_(std::move(digest)),
        device_(device) {}

  std::string name() const override { return name_; }
  int64_t dim() const override { return dim_; }
  std::string weights_digest() const override { return digest_; }

  absl::StatusOr<torch::Tensor> Extract(const torch::Tensor& images) override {
    if (!images.defined() || images.dim() != 4 ||
        images.scalar_type() != torch::kUInt8 ||
        (images.size(1) != 1 && images.size(1) != 3)) {
      return absl::InvalidArgumentError(
          "feature extraction expects uint8 images [N, 1 or 3, H, W]");
    }
    torch::Tensor features;
    absl::Status status = CatchTorch(path_, [&] {
      torch::NoGradGuard no_grad;
      torch::Tensor x = images.to(device_);
      if (x.size(1) == 1) x = x.repeat({1, 3, 1, 1});
      const c10::IValue out =
          module_.forward({x}, {{"return_features", c10::IValue(true)}});
      if (out.isTensor()) features = out.toTensor();
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(status);
    if (!features.defined() || features.dim() != 2 ||
        features.size(0) != images.size(0) ||
        !torch::isFloatingType(features.scalar_type()) ||
        (dim_ != 0 && features.size(1) != dim_)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": forward(images, return_features=True) returned ",
          features.defined()
              ? absl::StrCat("[", absl::StrJoin(features.sizes(), ", "), "] ",
                             c10::toString(features.scalar_type()))
              : "no tensor",
          " for ", images.size(0), " images; expected [", images.size(0),
          ", D] float features"));
    }
    return features.to(torch::kFloat32);
  }

  // A module without the detector's interface fails here, not mid-run.
  absl::Status Probe() {
    absl::StatusOr<torch::Tensor> f =
        Extract(torch::full({2, 3, 32, 32}, 128, torch::kUInt8));
    if (!f.ok()) {
      if (absl::IsInvalidArgument(f.status())) return f.status();
      std::string what(f.status().message());
      what = what.substr(0, what.find('\n', what.find_first_not_of('\n')));
      return absl::InvalidArgumentError(absl::StrCat(
          path_,
          ": not a metric detector: forward(images, "
          "return_features=True) on uint8 [2, 3, 32, 32] images failed: ",
          what));
    }
    dim_ = f->size(1);
    return absl::OkStatus();
  }

 private:
  torch::jit::Module module_;
  std::string path_, name_, digest_;
  c10::Device device_;
  int64_t dim_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FeatureExtractor>> LoadTorchScriptDetector(
    const std::string& path, const std::string& name, c10::Device device) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) {
    return absl::NotFoundError(absl::StrCat(
        path, ": cannot read the detector: ", bytes.status().message()));
  }
  torch::jit::Module module;
  try {
    std::istringstream stream(*bytes);
    module = torch::jit::load(stream, device);
    module.eval();
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": not a TorchScript module (NVIDIA's inception-2015-12-05.pt or "
        "vgg16.pt; convert a .pkl with tools/convert_detector.py): ",
        what));
  }
  auto detector = std::make_unique<TorchScriptDetector>(
      std::move(module), path, name, Sha256Hex(*bytes), device);
  RETURN_IF_ERROR(detector->Probe());
  return std::unique_ptr<FeatureExtractor>(std::move(detector));
}

}  // namespace pgan::trainer
