// Inception-v3 as the standard FID uses it: pytorch-fid's FIDInceptionV3,
// the network of `pt_inception-2015-12-05-6726825d.pth` (TensorFlow's
// 2015-12-05 Inception graph ported to PyTorch). It is torchvision's
// inception_v3 with the graph's differences patched in:
//   - every 3x3 average pool in a pool branch (Mixed_5b..5d, 6b..6e, 7b)
//     leaves the zero padding out of the average, as TensorFlow does;
//   - Mixed_7c's pool branch is a 3x3 max pool.
// Registered names equal the .pth's state-dict keys ("Conv2d_1a_3x3.conv.
// weight", "Mixed_5b.branch_pool.bn.running_var", ...). The classifier (fc)
// is not built: FID uses the 2048-d pool3 features only. Modules are not
// thread-safe.
#ifndef PGAN_TRAINER_INCEPTION_H_
#define PGAN_TRAINER_INCEPTION_H_

#include <c10/core/Device.h>
#include <torch/expanding_array.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trainer/feature_extractor.h"

namespace pgan::trainer {

// torchvision's BasicConv2d: conv (no bias), BatchNorm (eps 1e-3), ReLU.
class InceptionConvImpl : public torch::nn::Module {
 public:
  InceptionConvImpl(int64_t in, int64_t out, torch::ExpandingArray<2> kernel,
                    torch::ExpandingArray<2> stride = 1,
                    torch::ExpandingArray<2> padding = 0);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(InceptionConv);

// FIDInceptionA (Mixed_5b/5c/5d): 1x1, 5x5, double 3x3 and pool branches;
// 224 + pool_features output channels at the input's size.
class InceptionAImpl : public torch::nn::Module {
 public:
  InceptionAImpl(int64_t in, int64_t pool_features);
  torch::Tensor forward(const torch::Tensor& x);

  InceptionConv branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(InceptionA);

// InceptionB (Mixed_6a), unpatched: halves the size (stride 2, no padding);
// in + 480 output channels.
class InceptionBImpl : public torch::nn::Module {
 public:
  explicit InceptionBImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);

  InceptionConv branch3x3{nullptr}, branch3x3dbl_1{nullptr},
      branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr};
};
TORCH_MODULE(InceptionB);

// FIDInceptionC (Mixed_6b..6e): factorised 7x7 branches with `channels_7x7`
// inner channels; 768 output channels.
class InceptionCImpl : public torch::nn::Module {
 public:
  InceptionCImpl(int64_t in, int64_t channels_7x7);
  torch::Tensor forward(const torch::Tensor& x);

  InceptionConv branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr},
      branch7x7_3{nullptr}, branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr},
      branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr}, branch7x7dbl_5{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(InceptionC);

// InceptionD (Mixed_7a), unpatched: halves the size; in + 512 channels.
class InceptionDImpl : public torch::nn::Module {
 public:
  explicit InceptionDImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);

  InceptionConv branch3x3_1{nullptr}, branch3x3_2{nullptr},
      branch7x7x3_1{nullptr}, branch7x7x3_2{nullptr}, branch7x7x3_3{nullptr},
      branch7x7x3_4{nullptr};
};
TORCH_MODULE(InceptionD);

// What an InceptionE block's pool branch does before its 1x1 conv (3x3,
// stride 1, padding 1 either way).
enum class InceptionEPool {
  kAverage,  // FIDInceptionE_1 (Mixed_7b): padding left out of the average.
  kMax,      // FIDInceptionE_2 (Mixed_7c): the FID graph max-pools here.
};

// FIDInceptionE_1 / _2 (Mixed_7b, Mixed_7c): 2048 output channels.
class InceptionEImpl : public torch::nn::Module {
 public:
  InceptionEImpl(int64_t in, InceptionEPool pool);
  torch::Tensor forward(const torch::Tensor& x);

  InceptionConv branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr},
      branch3x3_2b{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr},
      branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr}, branch_pool{nullptr};
  InceptionEPool pool;
};
TORCH_MODULE(InceptionE);

class InceptionV3Impl : public torch::nn::Module {
 public:
  InceptionV3Impl();

  // `x`: float [N, 3, 299, 299] already resized and scaled to [-1, 1] (other
  // sizes from 75x75 up run too, but FID is defined at 299). Returns the
  // pool3 features, [N, 2048].
  torch::Tensor forward(const torch::Tensor& x);

  InceptionConv conv2d_1a_3x3{nullptr}, conv2d_2a_3x3{nullptr},
      conv2d_2b_3x3{nullptr}, conv2d_3b_1x1{nullptr}, conv2d_4a_3x3{nullptr};
  InceptionA mixed_5b{nullptr}, mixed_5c{nullptr}, mixed_5d{nullptr};
  InceptionB mixed_6a{nullptr};
  InceptionC mixed_6b{nullptr}, mixed_6c{nullptr}, mixed_6d{nullptr},
      mixed_6e{nullptr};
  InceptionD mixed_7a{nullptr};
  InceptionE mixed_7b{nullptr}, mixed_7c{nullptr};
};
TORCH_MODULE(InceptionV3);

// Loads the FID Inception weights and returns an extractor on `device`
// (name "inception_v3", dim 2048) whose Extract() does what pytorch-fid's
// InceptionV3(resize_input=True, normalize_input=True) does to images:
// uint8 / 255, bilinear resize to 299x299 (align_corners=False), x * 2 - 1;
// grayscale is repeated to RGB.
//
// `weights_path`: a .safetensors file (tools/convert_inception.py writes one
// from the published .pth), or a torch.save zip file holding a plain dict of
// tensors. Python's state_dict() is an OrderedDict, which LibTorch 1.13 cannot
// unpickle, and the published .pth is in torch.save's pre-1.6 format, which
// LibTorch cannot read at all: both are errors that name the converter.
// Every weight must be present as float32 with its shape; fc.*, AuxLogits.*
// and num_batches_tracked are ignored, but an fc with 1000 classes (the
// torchvision ImageNet weights, not the FID ones) is refused. Errors name the
// file and the key. The digest is SHA-256 over the sorted keys and float32
// bytes of the weights used (num_batches_tracked left out).
absl::StatusOr<std::unique_ptr<FeatureExtractor>> LoadInceptionExtractor(
    const std::string& weights_path, c10::Device device);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_INCEPTION_H_
