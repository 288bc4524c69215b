// Training batches: the sampler's indices, decoded on background threads
// into a bounded queue of prefetched batches. Batch k always holds the
// sampler's next batch_size indices after batch k-1, whatever the thread
// timing, so training is repeatable. Thread-safe: Next() and position() may
// be called from any thread (Next() calls are serialised); the destructor
// stops and joins the decoding threads.
#ifndef PGAN_TRAINER_DATA_LOADER_H_
#define PGAN_TRAINER_DATA_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/dataset.h"
#include "trainer/sampler.h"

namespace pgan::trainer {

struct DataLoaderOptions {
  // Items per batch (the per-process batch).
  int64_t batch_size = 32;
  // Decoding threads, at least 1. The reference uses 3 worker processes.
  int num_threads = 2;
  // Batches decoded ahead of the one Next() is waiting for, at least 1.
  int prefetch_batches = 2;
  // This process's block of each global batch: per batch the sampler's next
  // skip_before indices belong to lower ranks, then batch_size are this
  // process's, then skip_after belong to higher ranks. Every rank draws the
  // whole sequence and decodes only its block.
  int64_t skip_before = 0;
  int64_t skip_after = 0;
  // Allocate batches in pinned (page-locked) host memory, as PyTorch's
  // DataLoader(pin_memory=True); needs LibTorch with CUDA.
  bool pin_memory = false;

  absl::Status Validate() const;
};

struct Batch {
  torch::Tensor images;          // uint8 [B, C, H, W]
  torch::Tensor labels;          // float32 [B, label_dim]; undefined without labels
  std::vector<int64_t> indices;  // Dataset items, in sampler order.
};

class DataLoader {
 public:
  // Takes the sampler as it is: a sampler created at position p yields the
  // batches that follow p.
  static absl::StatusOr<std::unique_ptr<DataLoader>> Create(
      std::shared_ptr<const ImageDataset> dataset, InfiniteSampler sampler,
      const DataLoaderOptions& options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch, waiting for it if needed. An image that fails to decode
  // makes its batch an error naming the file; the loader is then finished
  // and every later call returns the same error.
  absl::StatusOr<Batch> Next();

  // The sampler position after the batches Next() has returned: what a
  // snapshot stores, and what a resumed run passes to InfiniteSampler.
  int64_t position() const;

 private:
  struct Pending;
  DataLoader(std::shared_ptr<const ImageDataset> dataset,
             InfiniteSampler sampler, const DataLoaderOptions& options);
  void Work();
  // A batch with a slot left to decode, starting a new one if the queue has
  // room; null when there is nothing to do. Called with mu_ held.
  Pending* FindWork();

  const std::shared_ptr<const ImageDataset> dataset_;
  const DataLoaderOptions options_;
  const int64_t start_position_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // Workers: work or stop.
  std::condition_variable ready_cv_;  // Next(): the front batch is complete.
  InfiniteSampler sampler_;           // Guarded by mu_.
  // Batches in sampler order; Next() pops the front. std::deque keeps the
  // other elements in place, so a worker may fill one without the lock.
  std::deque<Pending> queue_;
  int64_t returned_ = 0;
  absl::Status failed_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_DATA_LOADER_H_
