// The option table (config/fields.h) as CLI11 flags: each option of the
// chosen fields becomes a flag with the table's help, type and rule, its
// default shown as the value *config holds when the flag is added, parsed
// by the table's parser straight into *config. --help lists them by group.
// Not thread-safe (CLI11 is not).
#ifndef PGAN_TOOLS_CONFIG_FLAGS_H_
#define PGAN_TOOLS_CONFIG_FLAGS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "config/fields.h"
#include "config/training_config.h"

namespace pgan::tools {

using FieldFilter = std::function<bool(const config::Field&)>;

// Adds the flags of the option fields `include` accepts (all when null).
// `*config` must outlive parsing.
void AddConfigFlags(CLI::App* cmd, config::TrainingConfig* config,
                    const FieldFilter& include = nullptr);

// `--grid WxH`, setting grid_width and grid_height together.
void AddGridFlag(CLI::App* cmd, config::TrainingConfig* config);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_CONFIG_FLAGS_H_
