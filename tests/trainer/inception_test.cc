#include "trainer/inception.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/zip_archive.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/inception_weights.h"
#include "trainer/state_dict.h"
#include "trainer/summary.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
using ::pgan::testing::MakeInceptionTestWeights;
using ::pgan::testing::TestDir;
using ::pgan::testing::WriteTensorsAsSafetensors;
using ::testing::AllOf;
using ::testing::HasSubstr;

using Weights = std::map<std::string, torch::Tensor>;

// An InceptionV3 holding `weights`, in eval mode.
InceptionV3 NetWith(const Weights& weights) {
  InceptionV3 net;
  torch::NoGradGuard no_grad;
  for (auto& [key, tensor] : StateDict(*net)) {
    tensor.copy_(weights.at(key));
  }
  net->eval();
  return net;
}

// pytorch-fid's preprocessing, step by step.
torch::Tensor Preprocess(const torch::Tensor& uint8_rgb) {
  torch::Tensor x = uint8_rgb.to(torch::kFloat) / 255;
  x = F::interpolate(x, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{299, 299})
                            .mode(torch::kBilinear)
                            .align_corners(false));
  return 2 * x - 1;
}

torch::Tensor RandomImages(std::vector<int64_t> shape, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, 256, shape, torch::kUInt8);
}

absl::Status LoadStatus(const std::string& path) {
  return LoadInceptionExtractor(path, torch::kCPU).status();
}

// One set of weights, one network and one extractor for the suite: each
// costs a second or more on one core.
class InceptionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    weights_ = new Weights(MakeInceptionTestWeights(1));
    net_ = new InceptionV3(NetWith(*weights_));
    const std::string path =
        std::filesystem::temp_directory_path() /
        absl::StrCat("pgan_inception_test_", ::getpid(), ".safetensors");
    const absl::Status written = WriteTensorsAsSafetensors(path, *weights_);
    ASSERT_TRUE(written.ok()) << written;
    auto loaded = LoadInceptionExtractor(path, torch::kCPU);
    std::filesystem::remove(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    extractor_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete extractor_;
    delete net_;
    delete weights_;
  }
  void SetUp() override { ASSERT_NE(extractor_, nullptr); }

  static const Weights* weights_;
  static InceptionV3* net_;
  static FeatureExtractor* extractor_;
};
const Weights* InceptionTest::weights_ = nullptr;
InceptionV3* InceptionTest::net_ = nullptr;
FeatureExtractor* InceptionTest::extractor_ = nullptr;

TEST_F(InceptionTest, ParameterCountIsFidInceptionWithoutFc) {
  // torchvision's inception_v3 has 27,161,264 parameters (its published
  // num_params: 1000 classes, with AuxLogits). Less AuxLogits (3,326,696)
  // and fc (2048 * 1000 + 1000) leaves 21,785,568, which is also what
  // sum(p.numel()) gives for pytorch-fid's FIDInceptionV3 without fc.*
  // (PyTorch 1.13, torchvision 0.14).
  EXPECT_EQ(CountParameters(**net_), 21785568);
}

TEST_F(InceptionTest, StateDictKeysAreThoseOfTheFidWeights) {
  const auto state = StateDict(**net_);
  // 94 BasicConv2d: conv.weight plus 5 BatchNorm entries each.
  EXPECT_EQ(state.size(), 564u);
  std::map<std::string, std::string> lines;
  for (const auto& [key, tensor] : state) {
    lines[key] =
        absl::StrCat(key, " ", absl::StrJoin(tensor.sizes(), ","), "\n");
  }
  // SHA-256 of "key shape\n" over the sorted keys of torchvision's
  // inception_v3(num_classes=1008, aux_logits=False).state_dict(), fc.*
  // left out (PyTorch 1.13, torchvision 0.14): the keys pytorch-fid loads.
  Sha256 sha;
  for (const auto& [key, line] : lines) sha.Update(line);
  EXPECT_EQ(sha.HexDigest(),
            "c9af3183968c8bb2c6e1c276f1b80a7bb06d55b29e5764c35b681e8ce0bcd674");
  EXPECT_EQ(lines.at("Conv2d_1a_3x3.conv.weight"),
            "Conv2d_1a_3x3.conv.weight 32,3,3,3\n");
  EXPECT_EQ(lines.at("Mixed_5b.branch_pool.conv.weight"),
            "Mixed_5b.branch_pool.conv.weight 32,192,1,1\n");
  EXPECT_EQ(lines.at("Mixed_6e.branch7x7dbl_5.conv.weight"),
            "Mixed_6e.branch7x7dbl_5.conv.weight 192,192,1,7\n");
  EXPECT_EQ(lines.at("Mixed_7c.branch3x3dbl_3b.bn.running_var"),
            "Mixed_7c.branch3x3dbl_3b.bn.running_var 384\n");
  EXPECT_EQ(lines.count("Conv2d_1a_3x3.conv.bias"), 0u);
}

TEST_F(InceptionTest, BlockOutputShapes) {
  torch::NoGradGuard no_grad;
  InceptionV3& net = *net_;
  // The sizes they have in the 299 network.
  EXPECT_EQ(net->mixed_5b(torch::rand({1, 192, 35, 35})).sizes(),
            torch::IntArrayRef({1, 256, 35, 35}));
  EXPECT_EQ(net->mixed_6a(torch::rand({1, 288, 35, 35})).sizes(),
            torch::IntArrayRef({1, 768, 17, 17}));
  EXPECT_EQ(net->mixed_6b(torch::rand({1, 768, 17, 17})).sizes(),
            torch::IntArrayRef({1, 768, 17, 17}));
  EXPECT_EQ(net->mixed_7a(torch::rand({1, 768, 17, 17})).sizes(),
            torch::IntArrayRef({1, 1280, 8, 8}));
  EXPECT_EQ(net->mixed_7b(torch::rand({1, 1280, 8, 8})).sizes(),
            torch::IntArrayRef({1, 2048, 8, 8}));
  EXPECT_EQ(net->mixed_7c(torch::rand({1, 2048, 8, 8})).sizes(),
            torch::IntArrayRef({1, 2048, 8, 8}));
}

// The pool branches, assembled by hand from a block's own convs.
torch::Tensor Avg(const torch::Tensor& x, bool count_include_pad) {
  return F::avg_pool2d(
      x, F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(
             count_include_pad));
}
torch::Tensor Max(const torch::Tensor& x) {
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
}

TEST_F(InceptionTest, PoolBranchesAreTheFidGraphs) {
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  // Positive inputs, so an average that counts the zero padding is smaller
  // at the border.
  const torch::Tensor x = torch::rand({1, 16, 5, 5}) + 1;

  InceptionA a(16, 8);
  a->eval();
  auto a_with = [&](const torch::Tensor& pooled) {
    return torch::cat(
        {a->branch1x1(x), a->branch5x5_2(a->branch5x5_1(x)),
         a->branch3x3dbl_3(a->branch3x3dbl_2(a->branch3x3dbl_1(x))),
         a->branch_pool(pooled)},
        1);
  };
  EXPECT_TRUE(torch::allclose(a(x), a_with(Avg(x, false)), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(a(x), a_with(Avg(x, true)), 1e-3, 1e-3));

  InceptionC c(16, 8);
  c->eval();
  auto c_with = [&](const torch::Tensor& pooled) {
    torch::Tensor dbl = c->branch7x7dbl_2(c->branch7x7dbl_1(x));
    dbl = c->branch7x7dbl_5(c->branch7x7dbl_4(c->branch7x7dbl_3(dbl)));
    return torch::cat(
        {c->branch1x1(x), c->branch7x7_3(c->branch7x7_2(c->branch7x7_1(x))),
         dbl, c->branch_pool(pooled)},
        1);
  };
  EXPECT_TRUE(torch::allclose(c(x), c_with(Avg(x, false)), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(c(x), c_with(Avg(x, true)), 1e-3, 1e-3));

  for (InceptionEPool kind : {InceptionEPool::kAverage, InceptionEPool::kMax}) {
    InceptionE e(16, kind);
    e->eval();
    auto e_with = [&](const torch::Tensor& pooled) {
      const torch::Tensor b3 = e->branch3x3_1(x);
      const torch::Tensor dbl = e->branch3x3dbl_2(e->branch3x3dbl_1(x));
      return torch::cat({e->branch1x1(x), e->branch3x3_2a(b3),
                         e->branch3x3_2b(b3), e->branch3x3dbl_3a(dbl),
                         e->branch3x3dbl_3b(dbl), e->branch_pool(pooled)},
                        1);
    };
    const torch::Tensor expected =
        e_with(kind == InceptionEPool::kMax ? Max(x) : Avg(x, false));
    EXPECT_TRUE(torch::allclose(e(x), expected, 1e-6, 1e-6));
    EXPECT_FALSE(torch::allclose(e(x), e_with(Avg(x, true)), 1e-3, 1e-3));
  }
  // And the network uses them where the FID graph does.
  EXPECT_EQ((*net_)->mixed_7b->pool, InceptionEPool::kAverage);
  EXPECT_EQ((*net_)->mixed_7c->pool, InceptionEPool::kMax);

  // The padding-free average itself, at a corner: the mean of 4 pixels.
  const torch::Tensor plane =
      torch::arange(25, torch::kFloat).view({1, 1, 5, 5});
  EXPECT_FLOAT_EQ(Avg(plane, false)[0][0][0][0].item<float>(),
                  (0 + 1 + 5 + 6) / 4.0f);
}

TEST_F(InceptionTest, SafetensorsRoundTripsTheFeatures) {
  EXPECT_EQ(extractor_->name(), "inception_v3");
  EXPECT_EQ(extractor_->dim(), 2048);
  // 64x64 RGB, as a dataset at that resolution gives it.
  const torch::Tensor images = RandomImages({2, 3, 64, 64}, 5);
  auto features = extractor_->Extract(images);
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ(features->sizes(), torch::IntArrayRef({2, 2048}));
  EXPECT_EQ(features->scalar_type(), torch::kFloat);
  EXPECT_EQ(features->device(), torch::Device(torch::kCPU));
  EXPECT_TRUE(torch::isfinite(*features).all().item<bool>());
  EXPECT_GT((*features)[0].sub((*features)[1]).abs().max().item<float>(), 1e-3);

  // The weights read back from the file, and the preprocessing, are the
  // ones that went in.
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = (*net_)->forward(Preprocess(images));
  EXPECT_TRUE(torch::equal(*features, expected))
      << (*features - expected).abs().max();
}

TEST_F(InceptionTest, GrayscaleIsRepeatedToRgb) {
  const torch::Tensor gray = RandomImages({1, 1, 32, 32}, 7);
  auto features = extractor_->Extract(gray);
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ(features->sizes(), torch::IntArrayRef({1, 2048}));
  auto rgb = extractor_->Extract(gray.repeat({1, 3, 1, 1}));
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_TRUE(torch::equal(*features, *rgb));
}

TEST_F(InceptionTest, EmptyBatchesAndBadImages) {
  auto none = extractor_->Extract(torch::zeros({0, 3, 8, 8}, torch::kUInt8));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->sizes(), torch::IntArrayRef({0, 2048}));

  for (const torch::Tensor& bad :
       {torch::zeros({1, 3, 8, 8}), torch::zeros({3, 8, 8}, torch::kUInt8),
        torch::zeros({1, 2, 8, 8}, torch::kUInt8),
        torch::zeros({1, 4, 8, 8}, torch::kUInt8), torch::Tensor()}) {
    auto result = extractor_->Extract(bad);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << result.status();
    EXPECT_THAT(result.status().message(),
                HasSubstr("expected uint8 images [N, C, H, W] with C 1 or 3"));
  }
}

TEST_F(InceptionTest, DigestIsOfTheWeightsUsed) {
  // The definition: sorted keys, NUL, float32 bytes; fc and
  // num_batches_tracked left out.
  Sha256 sha;
  for (const auto& [key, tensor] : *weights_) {
    if (key.rfind("fc.", 0) == 0 ||
        key.find("num_batches_tracked") != std::string::npos) {
      continue;
    }
    const char separator = 0;
    sha.Update(key);
    sha.Update(&separator, 1);
    sha.Update(tensor.data_ptr(), tensor.numel() * tensor.element_size());
  }
  EXPECT_EQ(extractor_->weights_digest(), sha.HexDigest());
}

TEST_F(InceptionTest, ZipPthOfADictLoadsAndIgnoresWhatItShould) {
  TestDir dir;
  // What the loader ignores, changed: no fc, a num_batches_tracked less,
  // an AuxLogits tensor more.
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [key, tensor] : *weights_) {
    if (key.rfind("fc.", 0) == 0 ||
        key == "Mixed_5b.branch1x1.bn.num_batches_tracked") {
      continue;
    }
    dict.insert(key, tensor);
  }
  dict.insert("AuxLogits.fc.bias", torch::zeros({1008}));
  const std::vector<char> bytes = torch::pickle_save(dict);
  const std::string path = dir.file("inception.pth");
  ASSERT_TRUE(
      WriteFileAtomically(path, std::string(bytes.begin(), bytes.end())).ok());
  auto loaded = LoadInceptionExtractor(path, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // Equal digests: the same weights as the .safetensors gave.
  EXPECT_EQ((*loaded)->weights_digest(), extractor_->weights_digest());
}

TEST_F(InceptionTest, MissingKeyIsAnErrorNamingFileKeyAndShape) {
  TestDir dir;
  const std::string path = dir.file("missing.safetensors");
  Weights missing = *weights_;
  missing.erase("Mixed_6c.branch7x7_2.bn.running_var");
  ASSERT_TRUE(WriteTensorsAsSafetensors(path, missing).ok());
  const absl::Status status = LoadStatus(path);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      status.message(),
      AllOf(HasSubstr(path),
            HasSubstr("missing key \"Mixed_6c.branch7x7_2.bn.running_var\""),
            HasSubstr("[160]")));
}

TEST_F(InceptionTest, BadEntriesAreErrorsNamingFileAndKey) {
  // Entries are checked before completeness, so one entry makes the case.
  TestDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto load_one = [&](const std::string& key, const torch::Tensor& value) {
    const absl::Status written =
        WriteTensorsAsSafetensors(path, {{key, value}});
    EXPECT_TRUE(written.ok()) << written;
    return LoadStatus(path);
  };

  absl::Status status =
      load_one("Mixed_5b.branch1x1.conv.weight", torch::zeros({64, 192, 3, 3}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path),
                    HasSubstr("\"Mixed_5b.branch1x1.conv.weight\" has shape "
                              "[64, 192, 3, 3], expected [64, 192, 1, 1]")));

  status = load_one("Conv2d_1a_3x3.bn.running_mean",
                    torch::zeros({32}, torch::kHalf));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path),
                    HasSubstr("\"Conv2d_1a_3x3.bn.running_mean\" has dtype"),
                    HasSubstr("expected float32")));

  status = load_one("Mixed_8a.branch1x1.conv.weight", torch::zeros({1}));
  EXPECT_THAT(status.message(),
              HasSubstr("unexpected key \"Mixed_8a.branch1x1.conv.weight\""));

  // torchvision's ImageNet weights have the same trunk keys; FID must not
  // quietly use them.
  status = load_one("fc.weight", torch::zeros({1000, 2048}));
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("torchvision")));

  EXPECT_EQ(LoadStatus(dir.file("absent.safetensors")).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomically(path, "not safetensors").ok());
  EXPECT_THAT(LoadStatus(path).message(), HasSubstr(path));
}

TEST_F(InceptionTest, UnreadablePthFormatsNameTheConverter) {
  TestDir dir;
  // torch.save's legacy format (the published file's): the pickled magic
  // number first.
  const std::string legacy = dir.file("pt_inception-2015-12-05-6726825d.pth");
  ASSERT_TRUE(WriteFileAtomically(
                  legacy, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9"
                                      "\x20\x6a\xa8\x50\x19\x2e\x80\x02",
                                      17))
                  .ok());
  absl::Status status = LoadStatus(legacy);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(legacy), HasSubstr("legacy"),
                                      HasSubstr("tools/convert_inception.py")));

  // A zip-format state_dict() saved by Python: data.pkl as torch.save
  // (PyTorch 1.13) writes for OrderedDict(v=t, w=t), t = torch.zeros(1).
  // Opcodes: PROTO 2; OrderedDict() by GLOBAL + REDUCE; MARK; key "v";
  // _rebuild_tensor_v2((persistent id ("storage", FloatStorage, "0", "cpu",
  // 1)), 0, (1,), (1,), False, OrderedDict()); key "w"; the same tensor;
  // SETITEMS; STOP. Literals are split after escapes that a hex digit
  // follows.
  const std::string pickle(
      "\x80\x02"
      "ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00vq\x02"
      "ctorch._utils\n_rebuild_tensor_v2\nq\x03"
      "((X\x07\x00\x00\x00storageq\x04"
      "ctorch\nFloatStorage\nq\x05"
      "X\x01\x00\x00\x00"
      "0q\x06"
      "X\x03\x00\x00\x00"
      "cpuq\x07K\x01tq\x08QK\x00K\x01\x85q\x09K\x01\x85q\n\x89h\x00)"
      "Rq\x0btq\x0cRq\x0dX\x01\x00\x00\x00wq\x0eh\x0du.",
      176);
  const std::string zip = dir.file("state_dict.pth");
  {
    auto writer = ZipWriter::Create(zip);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->AddBytes("state_dict/data.pkl", pickle).ok());
    ASSERT_TRUE(
        (*writer)->AddBytes("state_dict/data/0", std::string(4, '\0')).ok());
    ASSERT_TRUE((*writer)->AddBytes("state_dict/version", "3\n").ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  status = LoadStatus(zip);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(zip));
  // LibTorch 1.13 cannot unpickle the OrderedDict; a LibTorch that can
  // finds a dict without the network's keys.
  const bool unreadable =
      status.message().find("OrderedDict") != absl::string_view::npos &&
      status.message().find("tools/convert_inception.py") !=
          absl::string_view::npos;
  const bool read =
      status.message().find("unexpected key \"v\"") != absl::string_view::npos;
  EXPECT_TRUE(unreadable || read) << status;
}

}  // namespace
}  // namespace pgan::trainer
