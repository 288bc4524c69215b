// TrainingConfig <-> pgan.v1.TrainingOptions and TickReport <->
// pgan.v1.TickRecord (proto/pgan/v1/job.proto),
// field by field through the option table and protobuf reflection: a proto
// field has the table key as its name. An unset field (zero, for a field
// without presence) takes the default of `pgan train`. Fields the
// coordinator supplies (outdir, device, ...) are not in the proto; the test
// of this file fails when the proto and the table disagree. Functions only.
#ifndef PGAN_CONFIG_CONFIG_PROTO_H_
#define PGAN_CONFIG_CONFIG_PROTO_H_

#include "absl/status/statusor.h"
#include "config/tick_report.h"
#include "config/training_config.h"
#include "pgan/v1/job.pb.h"

namespace pgan::config {

// The training options of a job spec. INVALID_ARGUMENT (naming
// "training.<field>") for a derived field set to something else than its
// default (model.c_dim comes from the dataset). Does not validate.
absl::StatusOr<TrainingConfig> FromProto(
    const pgan::v1::TrainingOptions& proto);

// Every job-spec field of `config`, explicitly (fields with presence set
// even at their default). Derived and service-supplied fields are left out.
pgan::v1::TrainingOptions ToProto(const TrainingConfig& config);

// A tick's progress record, field by field (config/tick_report.h).
pgan::v1::TickRecord ToProto(const TickReport& report);
TickReport FromProto(const pgan::v1::TickRecord& proto);

}  // namespace pgan::config

#endif  // PGAN_CONFIG_CONFIG_PROTO_H_
