#include "proto/job_spec_text.h"

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pgan::rpc {
namespace {

// YAML as the JSON that JsonStringToMessage reads: plain scalars that look
// like numbers or booleans become them, quoted ones stay strings.
nlohmann::json YamlNodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& item : node) {
        object[item.first.as<std::string>()] = YamlNodeToJson(item.second);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(YamlNodeToJson(item));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() != "!") {  // Not quoted.
        if (text == "true" || text == "false") return text == "true";
        int64_t integer = 0;
        double number = 0;
        if (absl::SimpleAtoi(text, &integer)) return integer;
        if (absl::SimpleAtod(text, &number)) return number;
      }
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace

absl::StatusOr<pgan::v1::JobSpec> ParseJobSpec(const std::string& text,
                                               SpecFormat format,
                                               const std::string& source) {
  std::string json = text;
  if (format == SpecFormat::kYaml) {
    try {
      json = YamlNodeToJson(YAML::Load(text)).dump();
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": not YAML: line ", e.mark.line + 1, ": ", e.msg));
    }
  }
  pgan::v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(json, &spec, parse);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a JobSpec in ",
                     format == SpecFormat::kYaml ? "YAML" : "JSON", ": ",
                     std::string(parsed.message())));
  }
  return spec;
}

}  // namespace pgan::rpc
