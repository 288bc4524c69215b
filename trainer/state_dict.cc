#include "trainer/state_dict.h"

#include <set>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pgan::trainer {
namespace {

torch::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kF64: return torch::kDouble;
    case DType::kF32: return torch::kFloat;
    case DType::kF16: return torch::kHalf;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kI64: return torch::kLong;
    case DType::kI32: return torch::kInt;
    case DType::kI16: return torch::kShort;
    case DType::kI8: return torch::kChar;
    case DType::kU8: return torch::kByte;
    case DType::kBool: return torch::kBool;
  }
  return torch::kFloat;
}

absl::StatusOr<DType> FromScalarType(torch::ScalarType type) {
  switch (type) {
    case torch::kDouble: return DType::kF64;
    case torch::kFloat: return DType::kF32;
    case torch::kHalf: return DType::kF16;
    case torch::kBFloat16: return DType::kBF16;
    case torch::kLong: return DType::kI64;
    case torch::kInt: return DType::kI32;
    case torch::kShort: return DType::kI16;
    case torch::kChar: return DType::kI8;
    case torch::kByte: return DType::kU8;
    case torch::kBool: return DType::kBool;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("no safetensors dtype for ", c10::toString(type)));
  }
}

std::string ShapeString(torch::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> StateDict(
    const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

torch::Tensor TensorFromEntry(const TensorEntry& entry) {
  torch::Tensor t = torch::empty(entry.shape, torch::dtype(ToScalarType(entry.dtype)));
  if (entry.nbytes > 0) std::memcpy(t.data_ptr(), entry.data, entry.nbytes);
  return t;
}

absl::Status LoadStateDict(torch::nn::Module& module,
                           const SafetensorsFile& file,
                           const std::string& prefix) {
  // Validate everything before copying anything, so that an error leaves
  // the module as it was.
  std::vector<std::pair<torch::Tensor, const TensorEntry*>> plan;
  std::set<std::string> expected;
  for (auto& [key, tensor] : StateDict(module)) {
    const std::string name = prefix + key;
    expected.insert(name);
    const TensorEntry* entry = file.Find(name);
    if (entry == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": missing tensor \"", name, "\""));
    }
    if (torch::IntArrayRef(entry->shape) != tensor.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": tensor \"", name, "\" has shape ",
          ShapeString(entry->shape), ", expected ", ShapeString(tensor.sizes())));
    }
    const torch::ScalarType from = ToScalarType(entry->dtype);
    const bool both_float = torch::isFloatingType(from) &&
                            torch::isFloatingType(tensor.scalar_type());
    const bool both_int = torch::isIntegralType(from, /*includeBool=*/false) &&
                          torch::isIntegralType(tensor.scalar_type(), false);
    if (!both_float && !both_int) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": tensor \"", name, "\" has dtype ",
          DTypeName(entry->dtype), ", expected ",
          c10::toString(tensor.scalar_type())));
    }
    plan.emplace_back(tensor, entry);
  }
  std::vector<std::string> unexpected;
  for (const TensorEntry& entry : file.tensors()) {
    if (absl::StartsWith(entry.name, prefix) && !expected.count(entry.name)) {
      unexpected.push_back(entry.name);
    }
  }
  if (!unexpected.empty()) {
    const size_t shown = std::min<size_t>(unexpected.size(), 5);
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": ", unexpected.size(),
        " tensor(s) that this architecture does not have, for example \"",
        absl::StrJoin(unexpected.begin(), unexpected.begin() + shown, "\", \""),
        "\" (does the metadata describe this file's network?)"));
  }
  torch::NoGradGuard no_grad;
  for (auto& [tensor, entry] : plan) tensor.copy_(TensorFromEntry(*entry));
  return absl::OkStatus();
}

void AppendStateDict(const torch::nn::Module& module, const std::string& prefix,
                     std::vector<torch::Tensor>* keep_alive,
                     std::vector<TensorToWrite>* out) {
  for (const auto& [key, tensor] : StateDict(module)) {
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    keep_alive->push_back(cpu);
    TensorToWrite t;
    t.name = prefix + key;
    t.dtype = FromScalarType(cpu.scalar_type()).value();
    t.shape = cpu.sizes().vec();
    t.data = cpu.data_ptr();
    t.nbytes = cpu.numel() * cpu.element_size();
    out->push_back(std::move(t));
  }
}

void CopyState(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto src = StateDict(from);
  auto dst = StateDict(to);
  TORCH_CHECK(src.size() == dst.size(), "CopyState: architectures differ");
  for (size_t i = 0; i < src.size(); ++i) {
    TORCH_CHECK(src[i].first == dst[i].first, "CopyState: ", src[i].first,
                " vs ", dst[i].first);
    dst[i].second.copy_(src[i].second);
  }
}

}  // namespace pgan::trainer
