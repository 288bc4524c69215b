#include "services/metrics.h"

#include <google/protobuf/util/time_util.h>

#include <map>

#include "absl/strings/ascii.h"

namespace pgan::services {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr char kRpcName[] = "pgan_rpc_duration_seconds";
constexpr char kRpcHelp[] = "Time to serve a gRPC call, by method";

MetricFamily Family(const std::string& name, const std::string& help,
                    MetricType type) {
  MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

void Add(MetricFamily& family, std::vector<ClientMetric::Label> labels,
         double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

std::string StateLabel(pgan::v1::JobState state) {
  std::string name = pgan::v1::JobState_Name(state);
  return absl::AsciiStrToLower(name.substr(std::string("JOB_STATE_").size()));
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(StateStore* store, Scheduler* scheduler)
    : store_(store),
      scheduler_(scheduler),
      registry_(std::make_shared<prometheus::Registry>()),
      rpc_(&prometheus::BuildHistogram().Name(kRpcName).Help(kRpcHelp).Register(
          *registry_)) {}

void CoordinatorMetrics::ObserveRpc(const std::string& method, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5, 30};
  rpc_->Add({{"method", method}}, kBuckets).Observe(seconds);
}

std::vector<MetricFamily> CoordinatorMetrics::Collect() const {
  MetricFamily jobs = Family("pgan_jobs", "Jobs by state", MetricType::Gauge);
  MetricFamily kimg =
      Family("pgan_job_kimg", "Training progress of a running job, kimg",
             MetricType::Gauge);
  MetricFamily speed = Family("pgan_job_seconds_per_kimg",
                              "Seconds per kimg of a running job's last tick",
                              MetricType::Gauge);
  MetricFamily loss = Family(
      "pgan_job_loss", "Loss of a running job's last tick", MetricType::Gauge);
  MetricFamily sign = Family(
      "pgan_job_d_sign", "Mean sign of D's logits in a running job's last tick",
      MetricType::Gauge);
  MetricFamily restarts =
      Family("pgan_job_restarts_total", "Restarts of a job after failures",
             MetricType::Counter);
  MetricFamily eta =
      Family("pgan_job_eta_seconds",
             "Estimated seconds until a running job ends", MetricType::Gauge);
  MetricFamily metric = Family(
      "pgan_job_metric",
      "Latest quality metric of a job (FID, KID or a named FD), lower is "
      "better",
      MetricType::Gauge);
  MetricFamily metric_kimg =
      Family("pgan_job_metric_kimg",
             "kimg of the snapshot the latest quality metric measured",
             MetricType::Gauge);
  MetricFamily metric_best =
      Family("pgan_job_metric_best",
             "Best (lowest) quality metric of a job so far", MetricType::Gauge);
  // Quality metrics stay visible for a while after the job ends: the final
  // value is what a dashboard is opened for.
  const int64_t recent =
      google::protobuf::util::TimeUtil::GetCurrentTime().seconds() - 3600;
  std::map<pgan::v1::JobState, int> by_state;
  for (int s = pgan::v1::JOB_STATE_QUEUED; s <= pgan::v1::JOB_STATE_CANCELLED;
       ++s) {
    by_state[static_cast<pgan::v1::JobState>(s)] = 0;
  }
  JobQuery query;
  query.limit = 1000000;
  absl::StatusOr<std::vector<StoredJob>> all = store_->ListJobs(query);
  if (all.ok()) {
    for (const StoredJob& stored : *all) {
      const pgan::v1::Job& job = stored.job;
      ++by_state[job.state()];
      const bool active = job.state() == pgan::v1::JOB_STATE_RUNNING ||
                          job.state() == pgan::v1::JOB_STATE_RESTARTING;
      if (active || job.finished().seconds() >= recent) {
        for (const pgan::v1::MetricValue& m : job.metrics()) {
          Add(metric, {{"job", job.id()}, {"metric", m.metric()}}, m.value());
          Add(metric_kimg, {{"job", job.id()}, {"metric", m.metric()}},
              job.metrics_kimg());
        }
        for (const pgan::v1::MetricValue& m : job.best_metrics()) {
          Add(metric_best, {{"job", job.id()}, {"metric", m.metric()}},
              m.value());
        }
      }
      if (!active) continue;
      const pgan::v1::TickRecord& t = job.last_tick();
      Add(kimg, {{"job", job.id()}}, t.kimg());
      Add(speed, {{"job", job.id()}}, t.sec_per_kimg());
      Add(loss, {{"job", job.id()}, {"network", "G"}}, t.loss_g());
      Add(loss, {{"job", job.id()}, {"network", "D"}}, t.loss_d());
      Add(sign, {{"job", job.id()}, {"input", "fake"}}, t.sign_fake());
      Add(sign, {{"job", job.id()}, {"input", "real"}}, t.sign_real());
      Add(restarts, {{"job", job.id()}}, job.restarts());
      Add(eta, {{"job", job.id()}}, job.eta_seconds());
    }
  }
  for (const auto& [state, count] : by_state)
    Add(jobs, {{"state", StateLabel(state)}}, count);
  MetricFamily workers =
      Family("pgan_workers", "Registered workers by state", MetricType::Gauge);
  const Scheduler::WorkerCounts counts = scheduler_->worker_counts();
  Add(workers, {{"state", "idle"}}, counts.idle);
  Add(workers, {{"state", "busy"}}, counts.busy);
  Add(workers, {{"state", "dead"}}, counts.dead);

  std::vector<MetricFamily> families = {jobs,   workers,     kimg,       speed,
                                        loss,   sign,        restarts,   eta,
                                        metric, metric_kimg, metric_best};
  std::vector<MetricFamily> rpc = registry_->Collect();
  // prometheus-cpp leaves out a family until it has a sample; announce the
  // histogram from the start, so that dashboards and checks find it.
  if (rpc.empty()) {
    rpc.push_back(Family(kRpcName, kRpcHelp, MetricType::Histogram));
  }
  for (MetricFamily& f : rpc) families.push_back(std::move(f));
  return families;
}

RpcTimer::RpcTimer(CoordinatorMetrics* metrics, const char* method)
    : metrics_(metrics),
      method_(method),
      start_(std::chrono::steady_clock::now()) {}

RpcTimer::~RpcTimer() {
  if (metrics_ == nullptr) return;
  metrics_->ObserveRpc(method_, std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start_)
                                    .count());
}

}  // namespace pgan::services
