// A coordinator's JobSpec (proto/pgan/v1/job.proto) as the worker's
// JobSpec: the training options, with every unset field at the default of
// `pgan train`. The coordinator validated the spec; the trainer validates
// the result again against the world size. Functions only.
#ifndef PGAN_WORKER_JOB_PROTO_H_
#define PGAN_WORKER_JOB_PROTO_H_

#include <string>

#include "pgan/v1/job.pb.h"
#include "worker/job_spec.h"

namespace pgan::worker {

JobSpec JobSpecFromProto(const pgan::v1::JobSpec& spec);

// The other way, for a gang of `world_size` processes started by mpirun
// that attaches itself to a coordinator: every training option explicit,
// the output directory absolute.
pgan::v1::JobSpec JobSpecToProto(const JobSpec& job, const std::string& name,
                                 int world_size, bool gpus);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_JOB_PROTO_H_
