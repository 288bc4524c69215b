#include "trainer/data_loader.h"

#include <exception>

#include <torch/cuda.h>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {

struct DataLoader::Pending {
  Batch batch;
  int64_t handed_out = 0;  // Slots given to workers.
  int64_t finished = 0;    // Slots done (decoded or failed).
  // The failure of the lowest failed slot, so the error does not depend on
  // which thread came first.
  int64_t error_slot = -1;
  absl::Status error;
};

absl::Status DataLoaderOptions::Validate() const {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data loader: batch_size ", batch_size, " must be >= 1"));
  }
  if (num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data loader: num_threads ", num_threads, " must be >= 1"));
  }
  if (skip_before < 0 || skip_after < 0) {
    return absl::InvalidArgumentError("data loader: negative skip");
  }
  if (pin_memory && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        "data loader: pin_memory needs a CUDA device (LibTorch finds none)");
  }
  if (prefetch_batches < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data loader: prefetch_batches ", prefetch_batches, " must be >= 1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DataLoader>> DataLoader::Create(
    std::shared_ptr<const ImageDataset> dataset, InfiniteSampler sampler,
    const DataLoaderOptions& options) {
  if (absl::Status status = options.Validate(); !status.ok()) return status;
  if (dataset == nullptr) {
    return absl::InvalidArgumentError("data loader: no dataset");
  }
  if (sampler.options().size != dataset->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data loader: the sampler covers ", sampler.options().size,
        " items but ", dataset->path(), " has ", dataset->size()));
  }
  return std::unique_ptr<DataLoader>(
      new DataLoader(std::move(dataset), std::move(sampler), options));
}

DataLoader::DataLoader(std::shared_ptr<const ImageDataset> dataset,
                       InfiniteSampler sampler, const DataLoaderOptions& options)
    : dataset_(std::move(dataset)),
      options_(options),
      start_position_(sampler.position()),
      sampler_(std::move(sampler)) {
  for (int i = 0; i < options_.num_threads; ++i) {
    workers_.emplace_back([this] { Work(); });
  }
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

int64_t DataLoader::position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return start_position_ + returned_ * (options_.skip_before +
                                       options_.batch_size + options_.skip_after);
}

DataLoader::Pending* DataLoader::FindWork() {
  for (Pending& pending : queue_) {
    if (pending.handed_out < options_.batch_size) return &pending;
  }
  if (static_cast<int>(queue_.size()) >= options_.prefetch_batches) return nullptr;
  Pending& pending = queue_.emplace_back();
  const int64_t b = options_.batch_size;
  for (int64_t i = 0; i < options_.skip_before; ++i) sampler_.Next();
  for (int64_t i = 0; i < b; ++i) pending.batch.indices.push_back(sampler_.Next());
  for (int64_t i = 0; i < options_.skip_after; ++i) sampler_.Next();
  try {
    const auto options =
        torch::TensorOptions().pinned_memory(options_.pin_memory);
    pending.batch.images = torch::empty(
        {b, dataset_->channels(), dataset_->resolution(), dataset_->resolution()},
        options.dtype(torch::kUInt8));
    if (dataset_->has_labels()) {
      pending.batch.labels = torch::empty({b, dataset_->label_dim()},
                                          options.dtype(torch::kFloat32));
    }
  } catch (const std::exception& e) {
    // Nothing to decode: the batch is complete, as an error.
    pending.error = absl::ResourceExhaustedError(
        absl::StrCat("data loader: cannot allocate a batch: ", e.what()));
    pending.error_slot = 0;
    pending.handed_out = pending.finished = b;
    ready_cv_.notify_all();
    return FindWork();
  }
  return &pending;
}

void DataLoader::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    Pending* pending = nullptr;
    work_cv_.wait(lock, [&] {
      if (stop_) return true;
      pending = FindWork();
      return pending != nullptr;
    });
    if (stop_) return;
    const int64_t slot = pending->handed_out++;
    const int64_t index = pending->batch.indices[slot];
    uint8_t* image = pending->batch.images.data_ptr<uint8_t>() +
                     slot * dataset_->item_bytes();
    float* label = pending->batch.labels.defined()
                       ? pending->batch.labels.data_ptr<float>() +
                             slot * dataset_->label_dim()
                       : nullptr;
    lock.unlock();
    // Each slot owns its own rows of the batch tensors: no lock needed.
    absl::Status status = dataset_->GetInto(index, image);
    if (label != nullptr) dataset_->LabelInto(index, label);
    lock.lock();
    if (!status.ok() && (pending->error_slot < 0 || slot < pending->error_slot)) {
      pending->error_slot = slot;
      pending->error = std::move(status);
    }
    if (++pending->finished == options_.batch_size) ready_cv_.notify_all();
  }
}

absl::StatusOr<Batch> DataLoader::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  ready_cv_.wait(lock, [&] {
    return !failed_.ok() ||
           (!queue_.empty() && queue_.front().finished == options_.batch_size);
  });
  if (!failed_.ok()) return failed_;
  Pending front = std::move(queue_.front());
  queue_.pop_front();
  work_cv_.notify_all();  // Room for one more batch.
  if (front.error_slot >= 0) {
    failed_ = front.error;
    ready_cv_.notify_all();  // Other callers of Next() get the error too.
    return failed_;
  }
  ++returned_;
  return std::move(front.batch);
}

}  // namespace pgan::trainer
