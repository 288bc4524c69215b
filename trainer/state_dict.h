// Moving module state (parameters and buffers, by their dotted names) in and
// out of safetensors files and between modules. Not thread-safe with
// respect to the modules it touches.
#ifndef PGAN_TRAINER_STATE_DICT_H_
#define PGAN_TRAINER_STATE_DICT_H_

#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "common/safetensors.h"

namespace pgan::trainer {

// Parameters then buffers, with PyTorch's dotted state-dict names.
std::vector<std::pair<std::string, torch::Tensor>> StateDict(
    const torch::nn::Module& module);

// A CPU tensor holding a copy of a file entry (any safetensors dtype).
torch::Tensor TensorFromEntry(const TensorEntry& entry);

// Copies every state entry of `module` from the tensors of `file` named
// `prefix` + key. Every key must be present with the same shape (floating
// dtypes convert); tensors under `prefix` that the module does not have are
// errors too. Errors name the file and the key.
absl::Status LoadStateDict(torch::nn::Module& module,
                           const SafetensorsFile& file,
                           const std::string& prefix);

// Appends `module`'s state as contiguous CPU tensors named prefix + key.
// `keep_alive` owns the copies that `out` points into.
void AppendStateDict(const torch::nn::Module& module, const std::string& prefix,
                     std::vector<torch::Tensor>* keep_alive,
                     std::vector<TensorToWrite>* out);

// Copies all parameters and buffers of `from` into the same-named ones of
// `to` (same architecture).
void CopyState(const torch::nn::Module& from, torch::nn::Module& to);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_STATE_DICT_H_
