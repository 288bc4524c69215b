#include "tools/config_flags.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"

namespace pgan::tools {
namespace {

const char* TypeHint(config::FieldType type) {
  switch (type) {
    case config::FieldType::kBool:
      return "BOOL";
    case config::FieldType::kInt:
      return "INT";
    case config::FieldType::kUint64:
      return "UINT";
    case config::FieldType::kDouble:
      return "FLOAT";
    case config::FieldType::kString:
      return "TEXT";
    case config::FieldType::kStringList:
      return "LIST";
  }
  return "";
}

}  // namespace

void AddConfigFlags(CLI::App* cmd, config::TrainingConfig* config,
                    const FieldFilter& include) {
  for (const config::Field& field : config::Fields()) {
    if (!field.is_option() || (include && !include(field))) continue;
    const config::Field* f = &field;
    std::string help = field.help;
    if (!field.rule.empty()) absl::StrAppend(&help, " (", field.rule, ")");
    cmd->add_option_function<std::string>(
           field.flag,
           [f, config](const std::string& text) {
             absl::Status parsed = f->value->Parse(text, config);
             if (!parsed.ok()) {
               throw CLI::ValidationError(f->flag,
                                          std::string(parsed.message()));
             }
           },
           help)
        ->type_name(TypeHint(field.value->type()))
        ->default_str(field.value->Text(*config))
        ->group(config::GroupTitle(field.group));
  }
}

void AddGridFlag(CLI::App* cmd, config::TrainingConfig* config) {
  cmd->add_option_function<std::string>(
         "--grid",
         [config](const std::string& text) {
           int width = 0, height = 0;
           char end = 0;
           if (std::sscanf(text.c_str(), "%dx%d%c", &width, &height, &end) !=
               2) {
             throw CLI::ValidationError(
                 "--grid", absl::StrCat("expected WxH, got \"", text, "\""));
           }
           config->grid_width = width;
           config->grid_height = height;
         },
         "Sample grid, WxH images: --grid-width and --grid-height at once")
      ->type_name("WxH")
      ->group(config::GroupTitle(config::Group::kTraining));
}

}  // namespace pgan::tools
