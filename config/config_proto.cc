#include "config/config_proto.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "config/fields.h"

namespace pgan::config {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Json = nlohmann::json;

// The proto field of `field` in `message` (TrainingOptions or its model);
// null when the coordinator supplies it.
const FieldDescriptor* Descriptor(const Message& message, const Field& field) {
  return message.GetDescriptor()->FindFieldByName(field.key);
}

Json ReadValue(const Message& m, const FieldDescriptor* d) {
  const Reflection* r = m.GetReflection();
  if (d->is_repeated()) {
    Json list = Json::array();
    for (int i = 0; i < r->FieldSize(m, d); ++i) {
      list.push_back(r->GetRepeatedString(m, d, i));
    }
    return list;
  }
  switch (d->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, d);
    case FieldDescriptor::CPPTYPE_INT32:
      return r->GetInt32(m, d);
    case FieldDescriptor::CPPTYPE_UINT64:
      return r->GetUInt64(m, d);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return r->GetDouble(m, d);
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(m, d);
    default:
      return nullptr;  // No such field in the table (the test says so).
  }
}

void WriteValue(const Json& v, const FieldDescriptor* d, Message* m) {
  const Reflection* r = m->GetReflection();
  if (d->is_repeated()) {
    r->ClearField(m, d);
    for (const Json& item : v) r->AddString(m, d, item.get<std::string>());
    return;
  }
  switch (d->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      r->SetBool(m, d, v.get<bool>());
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      r->SetInt32(m, d, v.get<int32_t>());
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      r->SetUInt64(m, d, v.get<uint64_t>());
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      r->SetDouble(m, d, v.get<double>());
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(m, d, v.get<std::string>());
      break;
    default:
      break;
  }
}

// Whether the proto says nothing about the field: not set where it has
// presence, zero (or empty) where it does not.
bool Unset(const Message& m, const FieldDescriptor* d) {
  const Reflection* r = m.GetReflection();
  if (d->is_repeated()) return r->FieldSize(m, d) == 0;
  if (d->has_presence()) return !r->HasField(m, d);
  const Json v = ReadValue(m, d);
  return v == Json(false) || v == Json(0) || v == Json(0.0) || v == Json("");
}

}  // namespace

absl::StatusOr<TrainingConfig> FromProto(
    const pgan::v1::TrainingOptions& proto) {
  TrainingConfig config;
  const TrainingConfig defaults;
  for (const Field& field : Fields()) {
    const Message& message =
        field.in_model ? static_cast<const Message&>(proto.model()) : proto;
    const FieldDescriptor* d = Descriptor(message, field);
    if (d == nullptr || Unset(message, d)) continue;
    const std::string name = field.NameOn(Surface::kJobSpec);
    absl::Status status = field.value->FromJson(ReadValue(message, d), &config);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", status.message()));
    }
    if (field.on_resume == OnResume::kDerived &&
        !field.value->Equal(config, defaults)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": not an option (", field.help, "); leave it unset"));
    }
  }
  return config;
}

pgan::v1::TrainingOptions ToProto(const TrainingConfig& config) {
  pgan::v1::TrainingOptions proto;
  for (const Field& field : Fields()) {
    if (!field.in_job_spec()) continue;
    Message* message = field.in_model
                           ? static_cast<Message*>(proto.mutable_model())
                           : static_cast<Message*>(&proto);
    const FieldDescriptor* d = Descriptor(*message, field);
    if (d != nullptr) WriteValue(field.value->ToJson(config), d, message);
  }
  return proto;
}

pgan::v1::TickRecord ToProto(const TickReport& report) {
  pgan::v1::TickRecord proto;
  const Reflection* r = proto.GetReflection();
  for (const TickField& f : TickFields()) {
    const FieldDescriptor* d = proto.GetDescriptor()->FindFieldByName(f.name);
    if (d == nullptr) continue;  // The test says so.
    switch (f.type) {
      case TickField::Type::kInt64:
        r->SetInt64(&proto, d, report.*f.int64_member);
        break;
      case TickField::Type::kDouble:
        r->SetDouble(&proto, d, report.*f.double_member);
        break;
      case TickField::Type::kString:
        r->SetString(&proto, d, report.*f.string_member);
        break;
    }
  }
  for (const MetricValue& m : report.metrics) {
    pgan::v1::MetricValue& value = *proto.add_metrics();
    value.set_metric(m.metric);
    value.set_value(m.value);
  }
  return proto;
}

TickReport FromProto(const pgan::v1::TickRecord& proto) {
  TickReport report;
  const Reflection* r = proto.GetReflection();
  for (const TickField& f : TickFields()) {
    const FieldDescriptor* d = proto.GetDescriptor()->FindFieldByName(f.name);
    if (d == nullptr) continue;
    switch (f.type) {
      case TickField::Type::kInt64:
        report.*f.int64_member = r->GetInt64(proto, d);
        break;
      case TickField::Type::kDouble:
        report.*f.double_member = r->GetDouble(proto, d);
        break;
      case TickField::Type::kString:
        report.*f.string_member = r->GetString(proto, d);
        break;
    }
  }
  for (const pgan::v1::MetricValue& m : proto.metrics()) {
    report.metrics.push_back({m.metric(), m.value()});
  }
  return report;
}

}  // namespace pgan::config
