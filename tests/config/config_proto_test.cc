// TrainingOptions (proto/pgan/v1/job.proto) against the option table: the
// descriptor and the table must have the same fields with the same types,
// every field must survive ToProto/FromProto, and "unset" must mean "the
// default" without hiding a value a user could mean.
#include "config/config_proto.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "config/fields.h"
#include "tests/config/samples.h"

namespace pgan::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::json;

FieldDescriptor::CppType ProtoTypeOf(FieldType type) {
  switch (type) {
    case FieldType::kBool:
      return FieldDescriptor::CPPTYPE_BOOL;
    case FieldType::kInt:
      return FieldDescriptor::CPPTYPE_INT32;
    case FieldType::kUint64:
      return FieldDescriptor::CPPTYPE_UINT64;
    case FieldType::kDouble:
      return FieldDescriptor::CPPTYPE_DOUBLE;
    case FieldType::kString:
    case FieldType::kStringList:
      return FieldDescriptor::CPPTYPE_STRING;
  }
  return FieldDescriptor::CPPTYPE_MESSAGE;
}

const FieldDescriptor* ProtoField(const Field& f) {
  const Descriptor* d = pgan::v1::TrainingOptions::descriptor();
  if (f.in_model) d = pgan::v1::ModelConfig::descriptor();
  return d->FindFieldByName(f.key);
}

TEST(ConfigProtoTest, TheProtoAndTheTableHaveTheSameFields) {
  std::set<std::string> table;
  for (const Field& f : Fields()) {
    const FieldDescriptor* d = ProtoField(f);
    if (!f.in_job_spec() && f.on_resume != OnResume::kDerived) {
      EXPECT_EQ(d, nullptr) << f.path() << " is supplied by the coordinator ("
                            << f.supplied_by_service << ") but in the proto";
      continue;
    }
    ASSERT_NE(d, nullptr) << "TrainingOptions has no field for " << f.path();
    table.insert(f.path());
    EXPECT_EQ(d->cpp_type(), ProtoTypeOf(f.value->type())) << f.path();
    EXPECT_EQ(d->is_repeated(), f.value->type() == FieldType::kStringList)
        << f.path();
    // An unset field is the default: a field whose default is not zero
    // needs presence, unless zero breaks its rule anyway.
    TrainingConfig zero;
    const TrainingConfig defaults;
    if (f.value->type() != FieldType::kStringList) {
      ASSERT_TRUE(
          f.value
              ->FromJson(f.value->type() == FieldType::kString ? Json("")
                         : f.value->type() == FieldType::kBool ? Json(false)
                                                               : Json(0),
                         &zero)
              .ok());
    }
    if (!f.value->IsZero(defaults) && !d->has_presence() &&
        f.on_resume != OnResume::kDerived) {
      EXPECT_TRUE(f.value->Violation(zero).has_value())
          << f.path() << ": a job spec cannot say " << f.value->Text(zero)
          << " (it means the default " << f.value->Text(defaults)
          << "); make the proto field optional";
    }
  }
  // And the other way: nothing in the proto the table lacks.
  for (const Descriptor* d : {pgan::v1::TrainingOptions::descriptor(),
                              pgan::v1::ModelConfig::descriptor()}) {
    const bool model = d == pgan::v1::ModelConfig::descriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* field = d->field(i);
      if (!model && field->name() == "model") continue;
      const std::string path = (model ? "model." : "") + field->name();
      EXPECT_TRUE(table.count(path) == 1)
          << d->full_name() << "." << field->name()
          << " is not a field of the option table (config/option_table.cc)";
    }
  }
}

TEST(ConfigProtoTest, EveryJobSpecFieldRoundTrips) {
  TrainingConfig sample;
  for (const auto& [path, value] : testing::SampleValues().items()) {
    ASSERT_TRUE(FindField(path)->value->FromJson(value, &sample).ok()) << path;
  }
  const pgan::v1::TrainingOptions proto = ToProto(sample);
  absl::StatusOr<TrainingConfig> back = FromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  const TrainingConfig defaults;
  for (const Field& f : Fields()) {
    if (f.in_job_spec()) {
      EXPECT_TRUE(f.value->Equal(*back, sample)) << f.path();
    } else {
      EXPECT_TRUE(f.value->Equal(*back, defaults)) << f.path();
    }
  }
  // Zeros that are not the default (patience 0 turns the watch off) stay.
  EXPECT_EQ(back->patience, 0);
  EXPECT_EQ(back->ema_rampup, 0);
  EXPECT_EQ(proto.model().resolution(), 64);
}

TEST(ConfigProtoTest, UnsetFieldsTakeTheDefaults) {
  absl::StatusOr<TrainingConfig> c = FromProto(pgan::v1::TrainingOptions());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ToJson(), TrainingConfig().ToJson());
}

TEST(ConfigProtoTest, DerivedFieldsAreRefusedUnlessUnset) {
  pgan::v1::TrainingOptions proto;
  proto.mutable_model()->set_img_channels(3);
  EXPECT_TRUE(FromProto(proto).ok());
  proto.mutable_model()->set_c_dim(10);
  const absl::Status status = FromProto(proto).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message().rfind("training.model.c_dim: not an option", 0),
            0u)
      << status;
}

// A report with a distinct value in every field.
TickReport DistinctReport() {
  TickReport r;
  int i = 1;
  for (const TickField& f : TickFields()) {
    switch (f.type) {
      case TickField::Type::kInt64:
        r.*f.int64_member = i;
        break;
      case TickField::Type::kDouble:
        r.*f.double_member = i + 0.25;
        break;
      case TickField::Type::kString:
        r.*f.string_member = "value-" + std::to_string(i);
        break;
    }
    ++i;
  }
  r.metrics = {{"fid50k_full", 12.5}, {"fd2k_full_efficientnet_lite0", 3.25}};
  return r;
}

void ExpectSameReport(const TickReport& a, const TickReport& b) {
  for (const TickField& f : TickFields()) {
    switch (f.type) {
      case TickField::Type::kInt64:
        EXPECT_EQ(a.*f.int64_member, b.*f.int64_member) << f.name;
        break;
      case TickField::Type::kDouble:
        EXPECT_EQ(a.*f.double_member, b.*f.double_member) << f.name;
        break;
      case TickField::Type::kString:
        EXPECT_EQ(a.*f.string_member, b.*f.string_member) << f.name;
        break;
    }
  }
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  for (size_t i = 0; i < a.metrics.size(); ++i) {
    EXPECT_EQ(a.metrics[i].metric, b.metrics[i].metric);
    EXPECT_EQ(a.metrics[i].value, b.metrics[i].value);
  }
}

TEST(TickProtoTest, TheProtoAndTheReportHaveTheSameFields) {
  const Descriptor* d = pgan::v1::TickRecord::descriptor();
  std::set<std::string> names = {"metrics"};
  for (const TickField& f : TickFields()) {
    names.insert(f.name);
    const FieldDescriptor* field = d->FindFieldByName(f.name);
    ASSERT_NE(field, nullptr) << "TickRecord has no field " << f.name;
    const FieldDescriptor::CppType expected =
        f.type == TickField::Type::kInt64    ? FieldDescriptor::CPPTYPE_INT64
        : f.type == TickField::Type::kDouble ? FieldDescriptor::CPPTYPE_DOUBLE
                                             : FieldDescriptor::CPPTYPE_STRING;
    EXPECT_EQ(field->cpp_type(), expected) << f.name;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    EXPECT_EQ(names.count(d->field(i)->name()), 1u)
        << "TickRecord." << d->field(i)->name()
        << " is not a field of config::TickReport";
  }
}

TEST(TickProtoTest, EveryFieldRoundTripsThroughTheProtoAndJson) {
  const TickReport report = DistinctReport();
  ExpectSameReport(FromProto(ToProto(report)), report);
  absl::StatusOr<TickReport> json =
      TickReport::FromJson(report.ToJson(), "stats.jsonl:1");
  ASSERT_TRUE(json.ok()) << json.status();
  ExpectSameReport(*json, report);
  // The names of stats.jsonl are the proto's.
  EXPECT_TRUE(report.ToJson().contains("sign_fake"));
  EXPECT_EQ(ToProto(report).sign_fake(), report.sign_fake);
}

}  // namespace
}  // namespace pgan::config
