// The option table's flags on a CLI11 command, as pgan train registers
// them: every option parses into the configuration, --help shows them with
// their defaults, a value of the wrong type is refused naming the flag.
#include "tools/config_flags.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "tests/config/samples.h"

namespace pgan::tools {
namespace {

using config::Field;
using config::Fields;
using config::TrainingConfig;

// argv of "prog --flag=value ...": every option at its sample value.
std::vector<std::string> SampleArguments() {
  TrainingConfig sample;
  for (const auto& [path, value] : testing::SampleValues().items()) {
    EXPECT_TRUE(config::FindField(path)->value->FromJson(value, &sample).ok());
  }
  std::vector<std::string> args = {"prog"};
  for (const Field& f : Fields()) {
    if (f.is_option()) args.push_back(f.flag + "=" + f.value->Text(sample));
  }
  return args;
}

TEST(ConfigFlagsTest, EveryOptionParsesIntoTheConfiguration) {
  CLI::App app;
  TrainingConfig parsed;
  AddConfigFlags(&app, &parsed);
  std::vector<std::string> args = SampleArguments();
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  ASSERT_NO_THROW(app.parse(static_cast<int>(argv.size()), argv.data()));
  TrainingConfig sample;
  for (const auto& [path, value] : testing::SampleValues().items()) {
    ASSERT_TRUE(config::FindField(path)->value->FromJson(value, &sample).ok());
  }
  for (const Field& f : Fields()) {
    if (f.is_option()) {
      EXPECT_TRUE(f.value->Equal(parsed, sample)) << f.flag;
    } else {
      EXPECT_TRUE(f.value->Equal(parsed, TrainingConfig{})) << f.path();
    }
  }
}

TEST(ConfigFlagsTest, HelpShowsEveryOptionWithItsDefaultByGroup) {
  CLI::App app;
  TrainingConfig c;
  c.batch = 8;  // The default shown is the value at registration.
  AddConfigFlags(&app, &c);
  const std::string help = app.help();
  for (const Field& f : Fields()) {
    if (!f.is_option()) continue;
    EXPECT_NE(help.find(f.flag), std::string::npos) << f.flag;
    EXPECT_NE(help.find(config::GroupTitle(f.group)), std::string::npos);
  }
  // CLI11 2.3 (Debian 12) writes a default as "INT=8", 2.4 (Debian 13) as
  // "INT [8]".
  const auto shows = [&](const std::string& option, const std::string& value) {
    return help.find(option + "=" + value + " ") != std::string::npos ||
           help.find(option + " [" + value + "]") != std::string::npos;
  };
  EXPECT_TRUE(shows("--batch INT", "8")) << help;
  EXPECT_TRUE(shows("--cfg TEXT", "fastgan")) << help;
  EXPECT_FALSE(shows("--batch INT", "64")) << help;
}

TEST(ConfigFlagsTest, AWrongTypeIsRefusedNamingTheFlag) {
  CLI::App app;
  TrainingConfig c;
  AddConfigFlags(&app, &c);
  AddGridFlag(&app, &c);
  const char* bad[] = {"prog", "--batch", "eight"};
  try {
    app.parse(3, const_cast<char**>(bad));
    FAIL() << "parsed";
  } catch (const CLI::ParseError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--batch: expected an integer, got \"eight\"");
  }
  const char* grid[] = {"prog", "--grid", "4x3"};
  app.parse(3, const_cast<char**>(grid));
  EXPECT_EQ(c.grid_width, 4);
  EXPECT_EQ(c.grid_height, 3);
}

}  // namespace
}  // namespace pgan::tools
