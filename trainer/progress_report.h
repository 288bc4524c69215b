// Per-tick progress: accumulating step statistics, their share of the tick's
// report (config::TickReport, written to stats.jsonl), the console line, and
// the process's memory use.
// Functions only.
#ifndef PGAN_TRAINER_PROGRESS_REPORT_H_
#define PGAN_TRAINER_PROGRESS_REPORT_H_

#include <string>
#include <vector>

#include <torch/types.h>

#include "config/tick_report.h"
#include "trainer/training_step.h"

namespace pgan::trainer {

void AccumulateStats(const StepStats& step, StepStats* total);
// StepStats as a flat list of numbers (to sum over processes) and back.
std::vector<double> ToValues(const StepStats& stats);
StepStats FromValues(const std::vector<double>& values);

// A 64-bit fingerprint of the exact bits of `tensors` (integer sums of their
// float bit patterns, per tensor, mixed with its position): equal on every
// rank exactly when the parameters are, whatever the reduction order.
uint64_t ParameterFingerprint(const std::vector<torch::Tensor>& tensors);

// The tick's means into `report`: loss_g, loss_d (per round), score_fake
// and score_real (mean logit), sign_fake and sign_real (mean sign of the
// logits, D's confidence), nonfinite_grads.
void FillStepStats(const StepStats& tick, config::TickReport* report);

// "tick 3  kimg 12.0 / 100  sec/kimg 41.2  eta 1h02m  loss G 0.812 D 1.702
//  sign fake -0.41 real 0.37  mem 2.1 GB", then the report's metrics
// ("  fid50k_full 12.3").
std::string FormatTickLine(const config::TickReport& report, double total_kimg);

struct ProcessMemory {
  double resident_gb = 0;       // VmRSS.
  double peak_resident_gb = 0;  // VmHWM.
};
ProcessMemory ReadProcessMemory();

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_PROGRESS_REPORT_H_
