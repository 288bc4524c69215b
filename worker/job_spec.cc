#include "worker/job_spec.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "config/fields.h"

namespace pgan::worker {
namespace {

using Json = nlohmann::json;

// Not an option of the configuration: which run to continue.
constexpr char kResumeKey[] = "resume";

std::string KnownKeys() {
  std::vector<std::string> keys;
  for (const config::Field& f : config::Fields()) {
    if (f.is_option()) keys.push_back(f.job_key());
  }
  keys.push_back(kResumeKey);
  return absl::StrJoin(keys, ", ");
}

}  // namespace

comm::CommConfig JobSpec::Comm() const {
  comm::CommConfig comm;
  comm.timeout = absl::Seconds(training.comm_timeout);
  return comm;
}

GradientSyncOptions JobSpec::Sync() const {
  GradientSyncOptions sync;
  sync.bucket_bytes = static_cast<int64_t>(training.bucket_mb * (1 << 20));
  return sync;
}

absl::StatusOr<JobSpec> ParseJobSpec(const Json& json,
                                     const std::string& source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": a job is a JSON object of pgan train options"));
  }
  JobSpec job;
  job.surface = config::Surface::kJobFile;
  for (const auto& [key, value] : json.items()) {
    if (key == kResumeKey) {
      if (!value.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": field \"resume\" must be a string, got ", value.dump()));
      }
      job.resume = value.get<std::string>();
      continue;
    }
    const config::Field* field = config::FindJobKey(key);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": unknown field \"", key.substr(0, 64),
                       "\"; the fields are ", KnownKeys()));
    }
    absl::Status status = field->value->FromJson(value, &job.training);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": field \"", key, "\" ", status.message()));
    }
  }
  return job;
}

absl::StatusOr<JobSpec> ReadJobFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not valid JSON: ", e.what()));
  }
  return ParseJobSpec(json, path);
}

Json JobSpec::ToJson() const {
  Json json = Json::object();
  for (const config::Field& f : config::Fields()) {
    if (f.is_option()) json[f.job_key()] = f.value->ToJson(training);
  }
  json[kResumeKey] = resume;
  return json;
}

}  // namespace pgan::worker
