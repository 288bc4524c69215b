// The training commands of the `pgan` CLI: train, export, bench. Option
// structs are filled by pgan_main.cc; reports go to `out`.
#ifndef PGAN_TOOLS_TRAIN_COMMANDS_H_
#define PGAN_TOOLS_TRAIN_COMMANDS_H_

#include <atomic>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "trainer/training_config.h"

namespace pgan::tools {

struct TrainOptions {
  trainer::TrainingConfig config;
  // "latest", a run directory or a snapshot; empty for a new run.
  std::string resume;
};
// `stop` is polled between iterations (set by SIGINT/SIGTERM).
absl::Status RunTrain(const TrainOptions& options,
                      const std::atomic<bool>* stop, std::ostream& out);

struct ExportOptions {
  std::string snapshot;  // A training snapshot.
  std::string out;       // The reference-compatible network file to write.
};
absl::Status RunExport(const ExportOptions& options, std::ostream& out);

struct BenchOptions {
  // Model and batch layout; the data are random images, so no dataset is
  // needed. feature_weights, if set, is loaded like in training.
  trainer::TrainingConfig config;
  int iterations = 3;  // Timed iterations.
  int warmup = 1;      // Untimed iterations first.
};
absl::Status RunBench(const BenchOptions& options, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_TRAIN_COMMANDS_H_
