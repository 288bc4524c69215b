#include "worker/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pgan::comm {
namespace {

// Gloo's rendezvous calls a Store that reports failures by throwing; the
// exception surfaces from connectFullMesh, where Create catches it.
class StoreAdapter final : public gloo::rendezvous::Store {
 public:
  StoreAdapter(KeyValueStore* store, absl::Duration timeout)
      : store_(store), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    const absl::Status status =
        store_->Set(key, std::string(data.begin(), data.end()));
    if (!status.ok()) throw gloo::IoException(std::string(status.message()));
  }
  std::vector<char> get(const std::string& key) override {
    absl::StatusOr<std::string> value = store_->Get(key, timeout_);
    if (!value.ok()) {
      throw gloo::IoException(std::string(value.status().message()));
    }
    return std::vector<char>(value->begin(), value->end());
  }
  void wait(const std::vector<std::string>& keys) override {
    for (const std::string& key : keys) get(key);
  }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override {
    for (const std::string& key : keys) {
      absl::StatusOr<std::string> value =
          store_->Get(key, absl::FromChrono(timeout));
      if (!value.ok()) {
        throw gloo::IoException(std::string(value.status().message()));
      }
    }
  }

 private:
  KeyValueStore* store_;
  absl::Duration timeout_;
};

std::chrono::milliseconds ToMillis(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::Status GlooOptions::Validate() const {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("GlooOptions: rank ", rank, " of world size ", world_size,
                     ": expected 0 <= rank < world_size"));
  }
  if (local_rank < 0 || local_rank > rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GlooOptions.local_rank: expected 0 to rank, got ", local_rank));
  }
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "GlooOptions.timeout must be positive and finite");
  }
  return absl::OkStatus();
}

GlooCommunicator::GlooCommunicator(const GlooOptions& options)
    : options_(options) {}

GlooCommunicator::~GlooCommunicator() = default;

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(
    const GlooOptions& options, KeyValueStore* store) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  std::unique_ptr<GlooCommunicator> comm(new GlooCommunicator(options));
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.hostname;
    std::shared_ptr<gloo::transport::Device> device =
        gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(
        options.rank, options.world_size);
    context->setTimeout(ToMillis(options.timeout));
    StoreAdapter adapter(store, options.timeout);
    context->connectFullMesh(adapter, device);
    comm->context_ = std::move(context);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "Gloo rendezvous of rank ", options.rank, " of ", options.world_size,
        " (listening on ",
        options.hostname.empty() ? "this host's name" : options.hostname,
        ") failed: ", e.what()));
  }
  return comm;
}

template <typename Fn>
absl::Status GlooCommunicator::Run(const char* what, Fn&& fn) {
  if (!broken_.ok()) return broken_;
  try {
    fn();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    // Gloo reports a silent peer as an IoException whose text says it
    // timed out; a closed connection (a dead peer) as any other.
    const bool timed_out = absl::StrContains(e.what(), "imed out");
    const std::string message = absl::StrCat(
        "Gloo ", what, " on rank ", options_.rank, " of ", options_.world_size,
        " failed: ",
        timed_out ? absl::StrCat("a rank did not answer within ",
                                 absl::FormatDuration(options_.timeout), " (")
                  : std::string("a peer closed its connection (it died or "
                                "aborted) ("),
        e.what(), ")");
    broken_ = timed_out ? absl::DeadlineExceededError(message)
                        : absl::UnavailableError(message);
    return broken_;
  }
}

template <typename T>
absl::Status GlooCommunicator::AllReduceSumOf(T* data, size_t count) {
  if (count == 0 || options_.world_size == 1) return absl::OkStatus();
  return Run("all-reduce", [&] {
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(data, count);
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(
            &gloo::sum<T>));
    opts.setTag(next_tag_++);
    opts.setTimeout(ToMillis(options_.timeout));
    gloo::allreduce(opts);
  });
}

absl::Status GlooCommunicator::AllReduceSum(float* data, size_t count) {
  return AllReduceSumOf(data, count);
}

absl::Status GlooCommunicator::AllReduceSum(double* data, size_t count) {
  return AllReduceSumOf(data, count);
}

absl::Status GlooCommunicator::Broadcast(void* data, size_t bytes, int root) {
  return BroadcastHost(data, bytes, root);
}

absl::Status GlooCommunicator::BroadcastHost(void* data, size_t bytes,
                                             int root) {
  if (root < 0 || root >= options_.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast: root ", root, " is not a rank"));
  }
  if (bytes == 0 || options_.world_size == 1) return absl::OkStatus();
  return Run("broadcast", [&] {
    gloo::BroadcastOptions opts(context_);
    opts.setOutput(static_cast<uint8_t*>(data), bytes);
    opts.setRoot(root);
    opts.setTag(next_tag_++);
    opts.setTimeout(ToMillis(options_.timeout));
    gloo::broadcast(opts);
  });
}

absl::Status GlooCommunicator::AllGatherHost(uint64_t value, uint64_t* out) {
  if (options_.world_size == 1) {
    out[0] = value;
    return absl::OkStatus();
  }
  return Run("all-gather", [&] {
    gloo::AllgatherOptions opts(context_);
    opts.setInput(&value, 1);
    opts.setOutput(out, static_cast<size_t>(options_.world_size));
    opts.setTag(next_tag_++);
    opts.setTimeout(ToMillis(options_.timeout));
    gloo::allgather(opts);
  });
}

absl::Status GlooCommunicator::Barrier() {
  if (options_.world_size == 1) return absl::OkStatus();
  return Run("barrier", [&] {
    gloo::BarrierOptions opts(context_);
    opts.setTag(next_tag_++);
    opts.setTimeout(ToMillis(options_.timeout));
    gloo::barrier(opts);
  });
}

void GlooCommunicator::Abort(const std::string& reason, int exit_code) {
  std::cerr << "pgan: aborting the job from rank " << options_.rank << ": "
            << reason << std::endl;
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

}  // namespace pgan::comm
