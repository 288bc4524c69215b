#include "worker/job_proto.h"

#include <filesystem>

#include "common/status_macros.h"
#include "config/config_proto.h"
#include "config/fields.h"

namespace pgan::worker {

absl::StatusOr<JobSpec> JobSpecFromProto(const pgan::v1::JobSpec& spec) {
  JobSpec job;
  ASSIGN_OR_RETURN(job.training, config::FromProto(spec.training()));
  // An elastic job may restart on another world size: it trains the same
  // model on any (config/training_config.h).
  job.training.ResolveWorldInvariant(spec.elastic());
  job.surface = config::Surface::kJobSpec;
  return job;
}

pgan::v1::JobSpec JobSpecToProto(const JobSpec& job, const std::string& name,
                                 int world_size, bool gpus) {
  config::TrainingConfig training = job.training;
  // The coordinator resolves paths on its own machine.
  for (const config::Field& f : config::Fields()) {
    if (f.path_kind == config::PathKind::kNone) continue;
    const std::string path = f.value->Text(training);
    if (!path.empty()) {
      (void)f.value->Parse(std::filesystem::absolute(path).string(), &training);
    }
  }
  pgan::v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_resources()->set_workers(world_size);
  spec.mutable_resources()->set_gpus_per_worker(gpus ? 1 : 0);
  spec.set_output_dir(training.outdir);
  *spec.mutable_training() = config::ToProto(training);
  return spec;
}

}  // namespace pgan::worker
