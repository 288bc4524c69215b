#include "worker/job_spec.h"

#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace pgan::worker {
namespace {

using Json = nlohmann::json;
using Setter = std::function<bool(const Json&, JobSpec&)>;

template <typename T>
bool Get(const Json& v, T* out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) return false;
    if constexpr (std::is_unsigned_v<T>) {
      if (v.get<int64_t>() < 0) return false;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return false;
  } else {
    if (!v.is_string()) return false;
  }
  *out = v.get<T>();
  return true;
}

#define PGAN_FIELD(name, type, expr)                                  \
  {                                                                   \
    name, {                                                           \
      type, [](const Json& v, JobSpec& j) { return Get(v, &(expr)); } \
    }                                                                 \
  }

struct Field {
  const char* type;  // For messages.
  Setter set;
};

const std::map<std::string, Field>& Fields() {
  static const auto* fields = new std::map<std::string, Field>{
      PGAN_FIELD("cfg", "a string", j.training.model.cfg),
      PGAN_FIELD("res", "an integer", j.training.model.resolution),
      PGAN_FIELD("ngf", "an integer", j.training.model.ngf),
      PGAN_FIELD("z_dim", "an integer", j.training.model.z_dim),
      PGAN_FIELD("feature_network", "a string",
                 j.training.model.feature_network),
      PGAN_FIELD("cout", "an integer", j.training.model.cout),
      PGAN_FIELD("proj_type", "an integer", j.training.model.proj_type),
      PGAN_FIELD("num_discs", "an integer", j.training.model.num_discs),
      PGAN_FIELD("data", "a string", j.training.data),
      PGAN_FIELD("outdir", "a string", j.training.outdir),
      PGAN_FIELD("cond", "a boolean", j.training.cond),
      PGAN_FIELD("mirror", "a boolean", j.training.mirror),
      PGAN_FIELD("feature_weights", "a string", j.training.feature_weights),
      PGAN_FIELD("batch", "an integer", j.training.batch),
      PGAN_FIELD("batch_gpu", "an integer", j.training.batch_gpu),
      PGAN_FIELD("kimg", "a number", j.training.kimg),
      PGAN_FIELD("tick", "a number", j.training.tick),
      PGAN_FIELD("snap", "an integer", j.training.snap),
      PGAN_FIELD("keep_every_kimg", "a number", j.training.keep_every_kimg),
      PGAN_FIELD("seed", "a non-negative integer", j.training.seed),
      PGAN_FIELD("glr", "a number", j.training.glr),
      PGAN_FIELD("dlr", "a number", j.training.dlr),
      PGAN_FIELD("d_lazy_quirk", "a boolean", j.training.d_lazy_quirk),
      PGAN_FIELD("ema_kimg", "a number", j.training.ema_kimg),
      PGAN_FIELD("ema_rampup", "a number", j.training.ema_rampup),
      PGAN_FIELD("grid_width", "an integer", j.training.grid_width),
      PGAN_FIELD("grid_height", "an integer", j.training.grid_height),
      PGAN_FIELD("workers", "an integer", j.training.workers),
      PGAN_FIELD("threads", "an integer", j.training.threads),
      PGAN_FIELD("device", "a string", j.training.device),
      PGAN_FIELD("resume", "a string", j.resume),
      PGAN_FIELD("backend", "a string", j.backend),
      {"comm_timeout_s",
       {"a positive number",
        [](const Json& v, JobSpec& j) {
          double s = 0;
          if (!Get(v, &s) || !(s > 0)) return false;
          j.comm.timeout = absl::Seconds(s);
          return true;
        }}},
      {"bucket_mb",
       {"a positive number",
        [](const Json& v, JobSpec& j) {
          double mb = 0;
          if (!Get(v, &mb) || !(mb > 0)) return false;
          j.sync.bucket_bytes = static_cast<int64_t>(mb * (1 << 20));
          return true;
        }}},
  };
  return *fields;
}

#undef PGAN_FIELD

}  // namespace

absl::StatusOr<JobSpec> ParseJobSpec(const Json& json,
                                     const std::string& source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": a job is a JSON object of pgan train options"));
  }
  JobSpec job;
  for (auto it = json.begin(); it != json.end(); ++it) {
    auto field = Fields().find(it.key());
    if (field == Fields().end()) {
      std::vector<std::string> names;
      for (const auto& [name, unused] : Fields()) names.push_back(name);
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": unknown field \"", it.key(),
                       "\"; the fields are ", absl::StrJoin(names, ", ")));
    }
    if (!field->second.set(it.value(), job)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": field \"", it.key(), "\" must be ",
                       field->second.type, ", got ", it.value().dump()));
    }
  }
  if (job.backend != "auto" && job.backend != "mpi" && job.backend != "nccl") {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": field \"backend\" must be auto, mpi or nccl, got \"",
        job.backend, "\""));
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

nlohmann::json JobSpec::ToJson() const {
  const trainer::TrainingConfig& t = training;
  return {{"cfg", t.model.cfg},
          {"res", t.model.resolution},
          {"ngf", t.model.ngf},
          {"z_dim", t.model.z_dim},
          {"feature_network", t.model.feature_network},
          {"cout", t.model.cout},
          {"proj_type", t.model.proj_type},
          {"num_discs", t.model.num_discs},
          {"data", t.data},
          {"outdir", t.outdir},
          {"cond", t.cond},
          {"mirror", t.mirror},
          {"feature_weights", t.feature_weights},
          {"batch", t.batch},
          {"batch_gpu", t.batch_gpu},
          {"kimg", t.kimg},
          {"tick", t.tick},
          {"snap", t.snap},
          {"keep_every_kimg", t.keep_every_kimg},
          {"seed", t.seed},
          {"glr", t.glr},
          {"dlr", t.dlr},
          {"d_lazy_quirk", t.d_lazy_quirk},
          {"ema_kimg", t.ema_kimg},
          {"ema_rampup", t.ema_rampup},
          {"grid_width", t.grid_width},
          {"grid_height", t.grid_height},
          {"workers", t.workers},
          {"threads", t.threads},
          {"device", t.device},
          {"resume", resume},
          {"backend", backend},
          {"comm_timeout_s", absl::ToDoubleSeconds(comm.timeout)},
          {"bucket_mb", static_cast<double>(sync.bucket_bytes) / (1 << 20)}};
}

}  // namespace pgan::worker
