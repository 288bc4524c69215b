// NVIDIA's metric detectors as the reference loads them: TorchScript modules
// (inception-2015-12-05.pt for FID and KID, vgg16.pt for precision and
// recall) called as detector(images, return_features=True) on uint8
// [N, 3, H, W] images of any size. Resizing and normalisation happen inside
// the module, exactly as in the reference; grayscale is repeated to RGB
// first, as the reference's metric code does. The StyleGAN3-era .pkl files
// hold the same modules; tools/convert_detector.py writes the .pt once.
#ifndef PGAN_TRAINER_TORCHSCRIPT_DETECTOR_H_
#define PGAN_TRAINER_TORCHSCRIPT_DETECTOR_H_

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trainer/feature_extractor.h"

namespace pgan::trainer {

// Loads `path` onto `device` and probes it once with two small images; the
// extractor is named `name` ("nvidia_inception", "nvidia_vgg16": the
// statistics cache keys on it) and its digest is SHA-256 of the file.
// INVALID_ARGUMENT names the file when it is not a TorchScript module, or
// when its forward does not take (images, return_features) or does not
// return [N, D] float features; NOT_FOUND when it cannot be read.
absl::StatusOr<std::unique_ptr<FeatureExtractor>> LoadTorchScriptDetector(
    const std::string& path, const std::string& name, c10::Device device);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_TORCHSCRIPT_DETECTOR_H_
