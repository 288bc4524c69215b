// The coordinator's Prometheus metrics, served at /metrics. Job and worker
// figures are read from the state store and the scheduler at each scrape
// (so they are never stale and cost nothing between scrapes); RPC latencies
// are a histogram observed by the services.
//
//   pgan_jobs{state}                       jobs by state (queue length: queued)
//   pgan_workers{state}                    idle, busy, dead
//   pgan_job_kimg{job}                     progress of running jobs
//   pgan_job_seconds_per_kimg{job}
//   pgan_job_loss{job,network}             G and D loss of the last tick
//   pgan_job_d_sign{job,input}             D's mean sign on fake and real
//   pgan_job_restarts_total{job}
//   pgan_job_eta_seconds{job}              estimated time to the end
//   pgan_job_metric{job,metric}            latest quality metric (FID, KID
//                                          or a named FD; running jobs and
//                                          jobs ended in the last hour)
//   pgan_job_metric_kimg{job,metric}       kimg of its snapshot
//   pgan_job_metric_best{job,metric}       best (lowest) so far
//   pgan_rpc_duration_seconds{method}      histogram of unary calls (streams
//                                          and the rendezvous wait by design)
//
// Thread-safe.
#ifndef PGAN_SERVICES_METRICS_H_
#define PGAN_SERVICES_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "services/scheduler.h"
#include "services/state_store.h"

namespace pgan::services {

class CoordinatorMetrics : public prometheus::Collectable {
 public:
  // Not owned; must outlive this object.
  CoordinatorMetrics(StateStore* store, Scheduler* scheduler);

  // Collectable: the job and worker families, then the RPC histogram.
  std::vector<prometheus::MetricFamily> Collect() const override;

  void ObserveRpc(const std::string& method, double seconds);

 private:
  StateStore* store_;
  Scheduler* scheduler_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* rpc_;
};

// Times one RPC from construction to destruction.
class RpcTimer {
 public:
  RpcTimer(CoordinatorMetrics* metrics, const char* method);
  ~RpcTimer();

 private:
  CoordinatorMetrics* metrics_;
  const char* method_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_METRICS_H_
