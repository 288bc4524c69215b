#include "trainer/inception.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/safetensors.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;

constexpr int64_t kInputSize = 299;
constexpr int64_t kFeatureDim = 2048;
// The FID graph classifies into 1008 classes; torchvision's ImageNet
// Inception-v3 has the same trunk keys but 1000 classes and other weights.
constexpr int64_t kFidClasses = 1008;
constexpr int64_t kTorchvisionClasses = 1000;
constexpr char kConverter[] = "tools/convert_inception.py";

// The TensorFlow graph's average pools ignore the padding; torchvision's
// default (count_include_pad=True) would darken every border pixel.
torch::Tensor AveragePoolExcludingPadding(const torch::Tensor& x) {
  return F::avg_pool2d(
      x,
      F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
}

std::string ShapeString(torch::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

bool Ignored(const std::string& key) {
  return absl::StartsWith(key, "fc.") || absl::StartsWith(key, "AuxLogits.") ||
         absl::EndsWith(key, "num_batches_tracked");
}

std::string ConvertHint(const std::string& path) {
  return absl::StrCat("convert it with `python3 ", kConverter, " ", path,
                      " inception-2015-12-05.safetensors` and pass the "
                      ".safetensors file");
}

// What the weights file starts with.
enum class FileKind { kSafetensors, kTorchZip, kTorchLegacy };

// torch.save before PyTorch 1.6 (and with _use_new_zipfile_serialization=
// False) starts with a pickled magic number: PROTO 2, LONG1 of 10 bytes,
// 0x1950a86a20f9469cfc6c little-endian.
constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c,
                                          0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                          0x6a, 0xa8, 0x50, 0x19};
constexpr unsigned char kZipMagic[] = {'P', 'K', 0x03, 0x04};

absl::StatusOr<FileKind> Sniff(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open the Inception weights"));
  }
  unsigned char head[sizeof(kLegacyMagic)] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const size_t got = static_cast<size_t>(in.gcount());
  // A .safetensors name wins: its first bytes are a length, which could
  // collide with a magic number by chance.
  if (absl::EndsWith(path, ".safetensors")) return FileKind::kSafetensors;
  if (got >= sizeof(kZipMagic) &&
      std::memcmp(head, kZipMagic, sizeof(kZipMagic)) == 0) {
    return FileKind::kTorchZip;
  }
  if (got == sizeof(kLegacyMagic) &&
      std::memcmp(head, kLegacyMagic, sizeof(kLegacyMagic)) == 0) {
    return FileKind::kTorchLegacy;
  }
  return FileKind::kSafetensors;
}

// A tensor of the file under its key, with the file's dtype.
using RawWeights = std::map<std::string, torch::Tensor>;

absl::StatusOr<RawWeights> ReadSafetensors(const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  RawWeights out;
  for (const TensorEntry& entry : file.tensors()) {
    if (Ignored(entry.name) && entry.name != "fc.weight") continue;
    // The dtype is checked with the shapes, where the message can name the
    // expected one; TensorFromEntry copies any safetensors dtype.
    out.emplace(entry.name, TensorFromEntry(entry));
  }
  return out;
}

absl::StatusOr<RawWeights> ReadTorchZip(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  const std::vector<char> data(bytes.begin(), bytes.end());
  bytes.clear();
  torch::IValue value;
  try {
    value = torch::pickle_load(data);
  } catch (const c10::Error& e) {
    // LibTorch 1.13's unpickler turns collections.OrderedDict into None and
    // then fails on its items (pytorch/pytorch#100741), so every state_dict()
    // saved by Python ends here.
    const std::string what = e.what_without_backtrace();
    const bool ordered_dict =
        absl::StrContains(what, "Expected GenericDict but got None");
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": LibTorch cannot read this torch.save file (",
        ordered_dict ? "it holds an OrderedDict, as Python's state_dict() "
                       "is, which LibTorch 1.13 cannot unpickle"
                     : what,
        "); ", ConvertHint(path)));
  }
  if (!value.isGenericDict()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected a dict of tensors, found ",
                     value.tagKind(), "; ", ConvertHint(path)));
  }
  RawWeights out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": a key is a ", item.key().tagKind(), ", expected strings"));
    }
    const std::string& key = item.key().toStringRef();
    if (Ignored(key) && key != "fc.weight") continue;
    if (!item.value().isTensor()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": \"", key, "\" is a ", item.value().tagKind(),
                       ", expected a tensor"));
    }
    out.emplace(key, item.value().toTensor().to(torch::kCPU));
  }
  return out;
}

// The weights a file must hold, by key: the network's state less
// num_batches_tracked (unused in eval mode, and absent from some exports).
const std::map<std::string, std::vector<int64_t>>& ExpectedShapes() {
  static const auto* shapes = [] {
    auto* out = new std::map<std::string, std::vector<int64_t>>();
    for (const auto& [key, tensor] : StateDict(*InceptionV3())) {
      if (!absl::EndsWith(key, "num_batches_tracked")) {
        out->emplace(key, tensor.sizes().vec());
      }
    }
    return out;
  }();
  return *shapes;
}

class InceptionExtractor : public FeatureExtractor {
 public:
  InceptionExtractor(InceptionV3 net, c10::Device device, std::string digest)
      : net_(std::move(net)), device_(device), digest_(std::move(digest)) {}

  std::string name() const override { return "inception_v3"; }
  int64_t dim() const override { return kFeatureDim; }
  std::string weights_digest() const override { return digest_; }

  absl::StatusOr<torch::Tensor> Extract(const torch::Tensor& images) override {
    if (!images.defined() || images.scalar_type() != torch::kByte ||
        images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3) ||
        images.size(2) < 1 || images.size(3) < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inception_v3 features: expected uint8 images [N, C, H, W] with C "
          "1 or 3; got ",
          images.defined() ? absl::StrCat(c10::toString(images.scalar_type()),
                                          " ", ShapeString(images.sizes()))
                           : "an undefined tensor"));
    }
    return CatchTorchOr<torch::Tensor>(
        "inception_v3 features", [&]() -> absl::StatusOr<torch::Tensor> {
          torch::NoGradGuard no_grad;
          const auto float_options =
              torch::TensorOptions().dtype(torch::kFloat).device(device_);
          if (images.size(0) == 0) {
            return torch::empty({0, kFeatureDim}, float_options);
          }
          // pytorch-fid's order: PIL's convert("RGB"), ToTensor (/255),
          // resize, then 2x - 1. Repeating grayscale after the resize would
          // save work but move results by ~1e-6 (the kernels vectorise
          // differently over one channel), and parity is worth more.
          torch::Tensor x = images.to(device_);
          if (x.size(1) == 1) x = x.repeat({1, 3, 1, 1});
          x = x.to(torch::kFloat).div(255);
          x = F::interpolate(
              x, F::InterpolateFuncOptions()
                     .size(std::vector<int64_t>{kInputSize, kInputSize})
                     .mode(torch::kBilinear)
                     .align_corners(false));
          x = x * 2 - 1;
          return net_->forward(x);
        });
  }

 private:
  InceptionV3 net_;
  c10::Device device_;
  std::string digest_;
};

}  // namespace

InceptionConvImpl::InceptionConvImpl(int64_t in, int64_t out,
                                     torch::ExpandingArray<2> kernel,
                                     torch::ExpandingArray<2> stride,
                                     torch::ExpandingArray<2> padding) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                    .stride(stride)
                                    .padding(padding)
                                    .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(
                                 torch::nn::BatchNorm2dOptions(out).eps(1e-3)));
}

torch::Tensor InceptionConvImpl::forward(const torch::Tensor& x) {
  return torch::relu(bn(conv(x)));
}

InceptionAImpl::InceptionAImpl(int64_t in, int64_t pool_features) {
  branch1x1 = register_module("branch1x1", InceptionConv(in, 64, 1));
  branch5x5_1 = register_module("branch5x5_1", InceptionConv(in, 48, 1));
  branch5x5_2 = register_module("branch5x5_2", InceptionConv(48, 64, 5, 1, 2));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", InceptionConv(in, 64, 1));
  branch3x3dbl_2 =
      register_module("branch3x3dbl_2", InceptionConv(64, 96, 3, 1, 1));
  branch3x3dbl_3 =
      register_module("branch3x3dbl_3", InceptionConv(96, 96, 3, 1, 1));
  branch_pool =
      register_module("branch_pool", InceptionConv(in, pool_features, 1));
}

torch::Tensor InceptionAImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch1x1(x), branch5x5_2(branch5x5_1(x)),
                     branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                     branch_pool(AveragePoolExcludingPadding(x))},
                    1);
}

InceptionBImpl::InceptionBImpl(int64_t in) {
  branch3x3 = register_module("branch3x3", InceptionConv(in, 384, 3, 2));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", InceptionConv(in, 64, 1));
  branch3x3dbl_2 =
      register_module("branch3x3dbl_2", InceptionConv(64, 96, 3, 1, 1));
  branch3x3dbl_3 =
      register_module("branch3x3dbl_3", InceptionConv(96, 96, 3, 2));
}

torch::Tensor InceptionBImpl::forward(const torch::Tensor& x) {
  return torch::cat(
      {branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
       F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2))},
      1);
}

InceptionCImpl::InceptionCImpl(int64_t in, int64_t c7) {
  const torch::ExpandingArray<2> k1x7({1, 7}), k7x1({7, 1});
  const torch::ExpandingArray<2> p1x7({0, 3}), p7x1({3, 0});
  branch1x1 = register_module("branch1x1", InceptionConv(in, 192, 1));
  branch7x7_1 = register_module("branch7x7_1", InceptionConv(in, c7, 1));
  branch7x7_2 =
      register_module("branch7x7_2", InceptionConv(c7, c7, k1x7, 1, p1x7));
  branch7x7_3 =
      register_module("branch7x7_3", InceptionConv(c7, 192, k7x1, 1, p7x1));
  branch7x7dbl_1 = register_module("branch7x7dbl_1", InceptionConv(in, c7, 1));
  branch7x7dbl_2 =
      register_module("branch7x7dbl_2", InceptionConv(c7, c7, k7x1, 1, p7x1));
  branch7x7dbl_3 =
      register_module("branch7x7dbl_3", InceptionConv(c7, c7, k1x7, 1, p1x7));
  branch7x7dbl_4 =
      register_module("branch7x7dbl_4", InceptionConv(c7, c7, k7x1, 1, p7x1));
  branch7x7dbl_5 =
      register_module("branch7x7dbl_5", InceptionConv(c7, 192, k1x7, 1, p1x7));
  branch_pool = register_module("branch_pool", InceptionConv(in, 192, 1));
}

torch::Tensor InceptionCImpl::forward(const torch::Tensor& x) {
  torch::Tensor dbl = branch7x7dbl_2(branch7x7dbl_1(x));
  dbl = branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl_3(dbl)));
  return torch::cat({branch1x1(x), branch7x7_3(branch7x7_2(branch7x7_1(x))),
                     dbl, branch_pool(AveragePoolExcludingPadding(x))},
                    1);
}

InceptionDImpl::InceptionDImpl(int64_t in) {
  const torch::ExpandingArray<2> k1x7({1, 7}), k7x1({7, 1});
  const torch::ExpandingArray<2> p1x7({0, 3}), p7x1({3, 0});
  branch3x3_1 = register_module("branch3x3_1", InceptionConv(in, 192, 1));
  branch3x3_2 = register_module("branch3x3_2", InceptionConv(192, 320, 3, 2));
  branch7x7x3_1 = register_module("branch7x7x3_1", InceptionConv(in, 192, 1));
  branch7x7x3_2 =
      register_module("branch7x7x3_2", InceptionConv(192, 192, k1x7, 1, p1x7));
  branch7x7x3_3 =
      register_module("branch7x7x3_3", InceptionConv(192, 192, k7x1, 1, p7x1));
  branch7x7x3_4 =
      register_module("branch7x7x3_4", InceptionConv(192, 192, 3, 2));
}

torch::Tensor InceptionDImpl::forward(const torch::Tensor& x) {
  const torch::Tensor b7 =
      branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x))));
  return torch::cat({branch3x3_2(branch3x3_1(x)), b7,
                     F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2))},
                    1);
}

InceptionEImpl::InceptionEImpl(int64_t in, InceptionEPool pool_) : pool(pool_) {
  const torch::ExpandingArray<2> k1x3({1, 3}), k3x1({3, 1});
  const torch::ExpandingArray<2> p1x3({0, 1}), p3x1({1, 0});
  branch1x1 = register_module("branch1x1", InceptionConv(in, 320, 1));
  branch3x3_1 = register_module("branch3x3_1", InceptionConv(in, 384, 1));
  branch3x3_2a =
      register_module("branch3x3_2a", InceptionConv(384, 384, k1x3, 1, p1x3));
  branch3x3_2b =
      register_module("branch3x3_2b", InceptionConv(384, 384, k3x1, 1, p3x1));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", InceptionConv(in, 448, 1));
  branch3x3dbl_2 =
      register_module("branch3x3dbl_2", InceptionConv(448, 384, 3, 1, 1));
  branch3x3dbl_3a = register_module("branch3x3dbl_3a",
                                    InceptionConv(384, 384, k1x3, 1, p1x3));
  branch3x3dbl_3b = register_module("branch3x3dbl_3b",
                                    InceptionConv(384, 384, k3x1, 1, p3x1));
  branch_pool = register_module("branch_pool", InceptionConv(in, 192, 1));
}

torch::Tensor InceptionEImpl::forward(const torch::Tensor& x) {
  const torch::Tensor b3 = branch3x3_1(x);
  const torch::Tensor dbl = branch3x3dbl_2(branch3x3dbl_1(x));
  const torch::Tensor pooled =
      pool == InceptionEPool::kMax
          ? F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(1).padding(1))
          : AveragePoolExcludingPadding(x);
  return torch::cat(
      {branch1x1(x), branch3x3_2a(b3), branch3x3_2b(b3), branch3x3dbl_3a(dbl),
       branch3x3dbl_3b(dbl), branch_pool(pooled)},
      1);
}

InceptionV3Impl::InceptionV3Impl() {
  conv2d_1a_3x3 = register_module("Conv2d_1a_3x3", InceptionConv(3, 32, 3, 2));
  conv2d_2a_3x3 = register_module("Conv2d_2a_3x3", InceptionConv(32, 32, 3));
  conv2d_2b_3x3 =
      register_module("Conv2d_2b_3x3", InceptionConv(32, 64, 3, 1, 1));
  conv2d_3b_1x1 = register_module("Conv2d_3b_1x1", InceptionConv(64, 80, 1));
  conv2d_4a_3x3 = register_module("Conv2d_4a_3x3", InceptionConv(80, 192, 3));
  mixed_5b = register_module("Mixed_5b", InceptionA(192, 32));
  mixed_5c = register_module("Mixed_5c", InceptionA(256, 64));
  mixed_5d = register_module("Mixed_5d", InceptionA(288, 64));
  mixed_6a = register_module("Mixed_6a", InceptionB(288));
  mixed_6b = register_module("Mixed_6b", InceptionC(768, 128));
  mixed_6c = register_module("Mixed_6c", InceptionC(768, 160));
  mixed_6d = register_module("Mixed_6d", InceptionC(768, 160));
  mixed_6e = register_module("Mixed_6e", InceptionC(768, 192));
  mixed_7a = register_module("Mixed_7a", InceptionD(768));
  mixed_7b =
      register_module("Mixed_7b", InceptionE(1280, InceptionEPool::kAverage));
  mixed_7c =
      register_module("Mixed_7c", InceptionE(2048, InceptionEPool::kMax));
}

torch::Tensor InceptionV3Impl::forward(const torch::Tensor& x) {
  const auto max_pool = F::MaxPool2dFuncOptions(3).stride(2);
  torch::Tensor h = conv2d_2b_3x3(conv2d_2a_3x3(conv2d_1a_3x3(x)));
  h = conv2d_4a_3x3(conv2d_3b_1x1(F::max_pool2d(h, max_pool)));
  h = F::max_pool2d(h, max_pool);
  h = mixed_5d(mixed_5c(mixed_5b(h)));
  h = mixed_6e(mixed_6d(mixed_6c(mixed_6b(mixed_6a(h)))));
  h = mixed_7c(mixed_7b(mixed_7a(h)));
  return F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1))
      .flatten(1);
}

absl::StatusOr<std::unique_ptr<FeatureExtractor>> LoadInceptionExtractor(
    const std::string& weights_path, c10::Device device) {
  const std::string& path = weights_path;
  ASSIGN_OR_RETURN(const FileKind kind, Sniff(path));
  if (kind == FileKind::kTorchLegacy) {
    // LibTorch reads only the zip format; the published
    // pt_inception-2015-12-05-6726825d.pth (2019, PyTorch 1.1) predates it.
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": this .pth is in torch.save's legacy (pre-1.6) format, which "
        "LibTorch cannot read; ",
        ConvertHint(path)));
  }
  return CatchTorchOr<std::unique_ptr<FeatureExtractor>>(
      absl::StrCat("loading ", path),
      [&]() -> absl::StatusOr<std::unique_ptr<FeatureExtractor>> {
        RawWeights raw;
        if (kind == FileKind::kTorchZip) {
          ASSIGN_OR_RETURN(raw, ReadTorchZip(path));
        } else {
          ASSIGN_OR_RETURN(raw, ReadSafetensors(path));
        }
        if (auto fc = raw.find("fc.weight"); fc != raw.end()) {
          if (fc->second.dim() == 2 &&
              fc->second.size(0) == kTorchvisionClasses) {
            return absl::InvalidArgumentError(absl::StrCat(
                path,
                ": fc.weight has 1000 classes: these are torchvision's "
                "ImageNet Inception-v3 weights, not the FID weights "
                "(pt_inception-2015-12-05-6726825d.pth, 1008 classes); FID "
                "computed with them is not comparable"));
          }
          if (fc->second.sizes() !=
              torch::IntArrayRef{kFidClasses, kFeatureDim}) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ": key \"fc.weight\" has shape ",
                             ShapeString(fc->second.sizes()), ", expected [",
                             kFidClasses, ", ", kFeatureDim, "]"));
          }
          raw.erase(fc);
        }

        // What is in the file is checked first, so an error names the bad
        // entry itself rather than whatever sorts first; nothing is built
        // or copied until everything is right.
        const std::map<std::string, std::vector<int64_t>>& expected =
            ExpectedShapes();
        for (const auto& [key, src] : raw) {
          auto it = expected.find(key);
          if (it == expected.end()) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ": unexpected key \"", key,
                             "\": not a weight of the FID Inception-v3"));
          }
          if (src.sizes() != torch::IntArrayRef(it->second)) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ": key \"", key, "\" has shape ",
                             ShapeString(src.sizes()), ", expected ",
                             ShapeString(it->second)));
          }
          // Half-precision weights would change the features, and with
          // them every FID computed from them: only the float32 originals.
          if (src.scalar_type() != torch::kFloat) {
            return absl::InvalidArgumentError(absl::StrCat(
                path, ": key \"", key, "\" has dtype ",
                c10::toString(src.scalar_type()), ", expected float32"));
          }
        }
        for (const auto& [key, shape] : expected) {
          if (!raw.count(key)) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ": missing key \"", key, "\" (float32 ",
                             ShapeString(shape), ")"));
          }
        }

        InceptionV3 net;
        torch::NoGradGuard no_grad;
        std::map<std::string, torch::Tensor> state;  // Sorted, for the digest.
        for (auto& [key, tensor] : StateDict(*net)) {
          if (expected.count(key)) state.emplace(key, tensor);
        }
        Sha256 sha;
        for (auto& [key, dst] : state) {
          const torch::Tensor src = raw.at(key).contiguous();
          const char separator = 0;
          sha.Update(key);
          sha.Update(&separator, 1);
          sha.Update(src.data_ptr(), src.numel() * src.element_size());
          dst.copy_(src);
        }
        net->eval();
        for (torch::Tensor& p : net->parameters()) p.requires_grad_(false);
        net->to(device);
        return std::unique_ptr<FeatureExtractor>(
            std::make_unique<InceptionExtractor>(std::move(net), device,
                                                 sha.HexDigest()));
      });
}

}  // namespace pgan::trainer
