#include "config/tick_report.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace pgan::config {
namespace {

using Json = nlohmann::json;
using Type = TickField::Type;

// The name is the member's, so JSON, proto and C++ cannot drift apart.
#define PGAN_INT64(name) \
  { #name, Type::kInt64, &TickReport::name, nullptr, nullptr }
#define PGAN_DOUBLE(name) \
  { #name, Type::kDouble, nullptr, &TickReport::name, nullptr }
#define PGAN_STRING(name) \
  { #name, Type::kString, nullptr, nullptr, &TickReport::name }

absl::Status Bad(const std::string& source, const std::string& field,
                 const char* expected, const Json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": field \"", field, "\" must be ", expected,
                   ", got ", got.dump().substr(0, 64)));
}

}  // namespace

const std::vector<TickField>& TickFields() {
  static const auto* fields = new std::vector<TickField>{
      PGAN_INT64(tick),
      PGAN_DOUBLE(kimg),
      PGAN_INT64(iterations),
      PGAN_DOUBLE(sec_per_tick),
      PGAN_DOUBLE(sec_per_kimg),
      PGAN_DOUBLE(maintenance_sec),
      PGAN_DOUBLE(total_sec),
      PGAN_DOUBLE(eta_sec),
      PGAN_DOUBLE(loss_g),
      PGAN_DOUBLE(loss_d),
      PGAN_DOUBLE(score_fake),
      PGAN_DOUBLE(score_real),
      PGAN_DOUBLE(sign_fake),
      PGAN_DOUBLE(sign_real),
      PGAN_INT64(nonfinite_grads),
      PGAN_INT64(nonfinite_grads_total),
      PGAN_DOUBLE(cpumem_gb),
      PGAN_DOUBLE(cpumem_peak_gb),
      PGAN_DOUBLE(gpumem_gb),
      PGAN_DOUBLE(gpumem_peak_gb),
      PGAN_DOUBLE(gpumem_reserved_gb),
      PGAN_DOUBLE(timestamp),
      PGAN_DOUBLE(metrics_kimg),
      PGAN_DOUBLE(metrics_sec),
      PGAN_STRING(convergence),
  };
  return *fields;
}

#undef PGAN_INT64
#undef PGAN_DOUBLE
#undef PGAN_STRING

Json TickReport::ToJson() const {
  Json json = Json::object();
  for (const TickField& f : TickFields()) {
    switch (f.type) {
      case Type::kInt64:
        json[f.name] = this->*f.int64_member;
        break;
      case Type::kDouble:
        json[f.name] = this->*f.double_member;  // NaN dumps as null.
        break;
      case Type::kString:
        json[f.name] = this->*f.string_member;
        break;
    }
  }
  Json& list = json["metrics"] = Json::array();
  for (const MetricValue& m : metrics) {
    list.push_back({{"metric", m.metric}, {"value", m.value}});
  }
  return json;
}

absl::StatusOr<TickReport> TickReport::FromJson(const Json& json,
                                                const std::string& source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": a tick record is a JSON object"));
  }
  TickReport r;
  for (const TickField& f : TickFields()) {
    const auto it = json.find(f.name);
    if (it == json.end()) continue;
    switch (f.type) {
      case Type::kInt64:
        if (!it->is_number_integer())
          return Bad(source, f.name, "an integer", *it);
        r.*f.int64_member = it->get<int64_t>();
        break;
      case Type::kDouble:
        if (it->is_null()) {
          r.*f.double_member = std::numeric_limits<double>::quiet_NaN();
        } else if (it->is_number()) {
          r.*f.double_member = it->get<double>();
        } else {
          return Bad(source, f.name, "a number", *it);
        }
        break;
      case Type::kString:
        if (!it->is_string()) return Bad(source, f.name, "a string", *it);
        r.*f.string_member = it->get<std::string>();
        break;
    }
  }
  if (const auto it = json.find("metrics"); it != json.end()) {
    if (!it->is_array()) return Bad(source, "metrics", "a list", *it);
    for (const Json& m : *it) {
      if (!m.is_object() || !m.contains("metric") || !m["metric"].is_string() ||
          !m.contains("value") ||
          !(m["value"].is_number() || m["value"].is_null())) {
        return Bad(source, "metrics", "a list of {\"metric\", \"value\"}", m);
      }
      r.metrics.push_back({m["metric"].get<std::string>(),
                           m["value"].is_null()
                               ? std::numeric_limits<double>::quiet_NaN()
                               : m["value"].get<double>()});
    }
  }
  return r;
}

}  // namespace pgan::config
