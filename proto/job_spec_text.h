// A JobSpec from the text a user writes: JSON in protobuf's JSON mapping
// (proto field names or their lowerCamelCase forms), or the same in YAML.
// One parser for every front end (`pgan submit FILE`, the web console's
// submit page), so that both accept the same files with the same errors.
#ifndef PGAN_PROTO_JOB_SPEC_TEXT_H_
#define PGAN_PROTO_JOB_SPEC_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "pgan/v1/job.pb.h"

namespace pgan::rpc {

enum class SpecFormat { kJson, kYaml };

// Unknown fields are errors. INVALID_ARGUMENT "<source>: not a JobSpec in
// JSON: <why>" (or "not YAML: line N: ...") otherwise; `source` names the
// file or upload.
absl::StatusOr<pgan::v1::JobSpec> ParseJobSpec(const std::string& text,
                                               SpecFormat format,
                                               const std::string& source);

}  // namespace pgan::rpc

#endif  // PGAN_PROTO_JOB_SPEC_TEXT_H_
