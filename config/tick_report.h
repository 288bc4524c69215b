// The progress record of one tick, from the trainer to everything that
// shows it: a line of stats.jsonl (ToJson), the tick line, rank 0's report
// to the coordinator (config/config_proto.h: pgan.v1.TickRecord, field by
// field), and from there Prometheus, `pgan watch` and `pgan plot`. One name
// per quantity: the member's is the JSON key and the proto field's name,
// and a test fails when the proto and this record disagree. A plain value
// type; not synchronised.
#ifndef PGAN_CONFIG_TICK_REPORT_H_
#define PGAN_CONFIG_TICK_REPORT_H_

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan::config {

// A quality metric's value ("fid50k_full": 12.3).
struct MetricValue {
  std::string metric;
  double value = 0;
};

struct TickReport {
  int64_t tick = 0;        // 0 right after the first iteration.
  double kimg = 0;         // Real images shown to D so far, / 1000.
  int64_t iterations = 0;  // Completed so far.
  double sec_per_tick = 0;
  double sec_per_kimg = 0;
  // Snapshot, grids and metrics at the end of the tick before.
  double maintenance_sec = 0;
  double total_sec = 0;  // Training wall time over all sessions.
  double eta_sec = 0;    // To the run's kimg at this tick's speed.
  // Means over the tick, summed over the processes: losses per round, D's
  // mean logit (score) and mean sign on fakes and reals.
  double loss_g = 0;
  double loss_d = 0;
  double score_fake = 0;
  double score_real = 0;
  double sign_fake = 0;
  double sign_real = 0;
  // Gradient entries scrubbed (NaN/Inf), in this tick and so far.
  int64_t nonfinite_grads = 0;
  int64_t nonfinite_grads_total = 0;
  // Rank 0's resident memory, now and at its peak, GB.
  double cpumem_gb = 0;
  double cpumem_peak_gb = 0;
  // Rank 0's GPU memory held by tensors at the end of the tick, and the
  // peaks over the tick of that and of what LibTorch's caching allocator
  // reserved, GB (2^30 bytes, as the reference's gpumem and reserved);
  // zero on a CPU.
  double gpumem_gb = 0;
  double gpumem_peak_gb = 0;
  double gpumem_reserved_gb = 0;
  double timestamp = 0;  // Unix seconds at the end of the tick.
  // Metrics that finished in this tick, in the job's order (the first is
  // the watched one), measured on the snapshot at `metrics_kimg` (earlier
  // than `kimg` with --metrics-async), taking `metrics_sec`.
  std::vector<MetricValue> metrics;
  double metrics_kimg = 0;
  double metrics_sec = 0;
  // "", "plateau" or "collapse": the convergence watch on the first metric.
  std::string convergence;

  // Every field; NaN as null (JSON has no NaN).
  nlohmann::json ToJson() const;
  // A missing field stays zero (lines written before it existed); null
  // reads as NaN. Errors name `source` and the field.
  static absl::StatusOr<TickReport> FromJson(const nlohmann::json& json,
                                             const std::string& source);
};

// The record's scalar fields by name, for the proto conversion and its test.
struct TickField {
  enum class Type { kInt64, kDouble, kString };
  const char* name;
  Type type;
  int64_t TickReport::*int64_member = nullptr;
  double TickReport::*double_member = nullptr;
  std::string TickReport::*string_member = nullptr;
};
const std::vector<TickField>& TickFields();

}  // namespace pgan::config

#endif  // PGAN_CONFIG_TICK_REPORT_H_
