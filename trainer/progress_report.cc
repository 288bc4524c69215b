#include "trainer/progress_report.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/sample_random.h"

namespace pgan::trainer {
namespace {

double Ratio(double sum, int64_t count) { return count > 0 ? sum / count : 0.0; }

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 86400) return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

}  // namespace

void AccumulateStats(const StepStats& s, StepStats* t) {
  t->g_loss_sum += s.g_loss_sum;
  t->d_loss_sum += s.d_loss_sum;
  t->score_fake_sum += s.score_fake_sum;
  t->sign_fake_sum += s.sign_fake_sum;
  t->score_real_sum += s.score_real_sum;
  t->sign_real_sum += s.sign_real_sum;
  t->fake_logits += s.fake_logits;
  t->real_logits += s.real_logits;
  t->rounds += s.rounds;
  t->nonfinite_grads += s.nonfinite_grads;
}

std::vector<double> ToValues(const StepStats& t) {
  return {t.g_loss_sum,    t.d_loss_sum,    t.score_fake_sum,
          t.sign_fake_sum, t.score_real_sum, t.sign_real_sum,
          static_cast<double>(t.fake_logits), static_cast<double>(t.real_logits),
          static_cast<double>(t.rounds),      static_cast<double>(t.nonfinite_grads)};
}

StepStats FromValues(const std::vector<double>& v) {
  StepStats t;
  t.g_loss_sum = v[0];
  t.d_loss_sum = v[1];
  t.score_fake_sum = v[2];
  t.sign_fake_sum = v[3];
  t.score_real_sum = v[4];
  t.sign_real_sum = v[5];
  t.fake_logits = static_cast<int64_t>(v[6]);
  t.real_logits = static_cast<int64_t>(v[7]);
  t.rounds = static_cast<int64_t>(v[8]);
  t.nonfinite_grads = static_cast<int64_t>(v[9]);
  return t;
}

uint64_t ParameterFingerprint(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  constexpr int64_t kSlice = int64_t{1} << 20;  // Bounds the int64 copies.
  uint64_t fingerprint = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const torch::Tensor bits =
        tensors[i].detach().contiguous().view({-1}).view(torch::kInt32);
    int64_t sum = 0;
    for (int64_t begin = 0; begin < bits.numel(); begin += kSlice) {
      const int64_t len = std::min(kSlice, bits.numel() - begin);
      sum += bits.narrow(0, begin, len).to(torch::kInt64).sum().item<int64_t>();
    }
    fingerprint ^= MixSeed({i, static_cast<uint64_t>(sum)});
  }
  return fingerprint;
}

void FillStepStats(const StepStats& t, config::TickReport* r) {
  r->loss_g = Ratio(t.g_loss_sum, t.rounds);
  r->loss_d = Ratio(t.d_loss_sum, t.rounds);
  r->score_fake = Ratio(t.score_fake_sum, t.fake_logits);
  r->sign_fake = Ratio(t.sign_fake_sum, t.fake_logits);
  r->score_real = Ratio(t.score_real_sum, t.real_logits);
  r->sign_real = Ratio(t.sign_real_sum, t.real_logits);
  r->nonfinite_grads = t.nonfinite_grads;
}

std::string FormatTickLine(const config::TickReport& r, double total_kimg) {
  std::string metrics;
  for (const config::MetricValue& m : r.metrics) {
    absl::StrAppendFormat(&metrics, "  %s %.4g", m.metric, m.value);
  }
  if (!r.metrics.empty()) {
    // Results of the snapshot at metrics_kimg (earlier with --metrics-async).
    if (r.metrics_kimg != r.kimg) {
      absl::StrAppendFormat(&metrics, " (kimg %.2f)", r.metrics_kimg);
    }
    if (!r.convergence.empty()) absl::StrAppend(&metrics, " ", r.convergence);
  }
  // Only a GPU run reserves GPU memory.
  const std::string gpumem =
      r.gpumem_reserved_gb > 0
          ? absl::StrFormat("  gpumem %.2f peak %.2f reserved %.2f GB",
                            r.gpumem_gb, r.gpumem_peak_gb, r.gpumem_reserved_gb)
          : "";
  return absl::StrFormat(
      "tick %-4d kimg %8.2f / %g  sec/kimg %7.2f  eta %-8s loss G %7.4f D %7.4f  "
      "sign fake %+.3f real %+.3f  mem %.2f GB%s%s",
      r.tick, r.kimg, total_kimg, r.sec_per_kimg, Duration(r.eta_sec),
      r.loss_g, r.loss_d, r.sign_fake, r.sign_real, r.cpumem_gb, gpumem,
      metrics);
}

ProcessMemory ReadProcessMemory() {
  ProcessMemory m;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream in(line);
    std::string key;
    double kb = 0;
    in >> key >> kb;
    if (key == "VmRSS:") m.resident_gb = kb / (1024.0 * 1024.0);
    if (key == "VmHWM:") m.peak_resident_gb = kb / (1024.0 * 1024.0);
  }
  return m;
}

}  // namespace pgan::trainer
