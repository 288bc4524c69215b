// Every option of the option table on every surface, through the real
// programs: `pgan train --dry-run` (flags), `pgan-worker --job --dry-run`
// (a job file) and `pgan submit` (a job spec in JSON and in YAML) against a
// real coordinator. Each takes every field with the same name, the same
// default and the same rule; a bad value is refused by each with the same
// message, the field named as that surface spells it.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "config/config_proto.h"
#include "config/fields.h"
#include "pgan/v1/job.grpc.pb.h"
#include "proto/rpc.h"
#include "services/auth.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/config/samples.h"

namespace pgan::config {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::pgan::testing::RunCommand;

// Single quotes for /bin/sh.
std::string Quote(const std::string& s) {
  return "'" + absl::StrReplaceAll(s, {{"'", "'\\''"}}) + "'";
}

// YAML of a JSON value in block style; strings plain where YAML reads them
// back as strings, so pgan submit's typing of plain scalars is exercised.
std::string Yaml(const Json& v, int indent = 0) {
  const std::string pad(indent, ' ');
  std::string out;
  if (v.is_object()) {
    for (const auto& [key, item] : v.items()) {
      if (item.is_object()) {
        absl::StrAppend(&out, pad, key, ":\n", Yaml(item, indent + 2));
      } else {
        absl::StrAppend(&out, pad, key, ": ", Yaml(item), "\n");
      }
    }
    return out;
  }
  if (v.is_array()) {
    std::vector<std::string> items;
    for (const Json& item : v) items.push_back(Yaml(item));
    return "[" + absl::StrJoin(items, ", ") + "]";
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

class SurfacesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("data"));
    fs::create_directories(dir_.file("out"));
    ASSERT_TRUE(
        WriteFileAtomically(dir_.file("tokens.txt"),
                            "alice user " + Sha256Hex("alice-token") + "\n")
            .ok());
    const std::string port_file = dir_.file("port");
    coordinator_ = testing::Spawn(
        {PGAN_COORDINATOR, "--listen", "127.0.0.1:0", "--port-file", port_file,
         "--state", dir_.file("state.db"), "--tokens", dir_.file("tokens.txt"),
         "--data-root", dir_.file("data"), "--output-root", dir_.file("out"),
         "--storage", dir_.file("out/storage"), "--metrics-listen",
         "127.0.0.1:0"},
        dir_.file("coordinator.log"));
    ASSERT_TRUE(testing::WaitFor(std::chrono::seconds(20), [&] {
      auto text = ReadFile(port_file);
      return text.ok() &&
             absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port_);
    })) << ReadFile(dir_.file("coordinator.log")).value_or("");
    stub_ = pgan::v1::JobService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    testing::StopProcess(coordinator_, std::chrono::seconds(5));
  }

  // The samples, their paths moved under this test's data root.
  TrainingConfig Sample() const {
    TrainingConfig c;
    for (const auto& [path, value] : testing::SampleValues().items()) {
      const Field& f = *FindField(path);
      Json v = value;
      if (f.path_kind == PathKind::kOutput) v = dir_.file("out");
      if (f.path_kind == PathKind::kInput || f.path_kind == PathKind::kCache) {
        v = dir_.file("data") + v.get<std::string>().substr(5);
      }
      EXPECT_TRUE(f.value->FromJson(v, &c).ok()) << path;
    }
    c.model.c_dim = 0;  // Derived: not an option anywhere.
    return c;
  }
  TrainingConfig Minimal() const {
    TrainingConfig c;
    c.data = dir_.file("data") + "/d.zip";
    c.outdir = dir_.file("out");
    return c;
  }

  // `pgan train --dry-run` with every option of `c` that differs from the
  // default (the result, or the error message after "pgan train: ").
  absl::StatusOr<TrainingConfig> DryRunFlags(const TrainingConfig& c) {
    std::string args;
    const TrainingConfig defaults;
    for (const Field& f : Fields()) {
      if (f.is_option() && !f.value->Equal(c, defaults)) {
        absl::StrAppend(&args, " ", Quote(f.flag + "=" + f.value->Text(c)));
      }
    }
    return Parse(
        RunCommand(absl::StrCat(PGAN_BINARY, " train --dry-run", args)),
        "pgan train: ");
  }
  // `pgan-worker --job FILE --dry-run` with every option of `c` that
  // differs from the default.
  absl::StatusOr<TrainingConfig> DryRunJobFile(const TrainingConfig& c) {
    Json job = Json::object();
    const TrainingConfig defaults;
    for (const Field& f : Fields()) {
      if (f.is_option() && !f.value->Equal(c, defaults)) {
        job[f.job_key()] = f.value->ToJson(c);
      }
    }
    const std::string file = dir_.file("job.json");
    EXPECT_TRUE(WriteFileAtomically(file, job.dump()).ok());
    return Parse(
        RunCommand(absl::StrCat(PGAN_WORKER, " --job ", file, " --dry-run")),
        absl::StrCat("pgan-worker: ", file, ": "));
  }
  // `pgan submit` of a spec with the job-spec fields of `c` that differ
  // from the default, as JSON or YAML; the training options the
  // coordinator stored, or its error.
  absl::StatusOr<TrainingConfig> Submit(const TrainingConfig& c, bool yaml) {
    Json training = Json::object();
    const TrainingConfig defaults;
    for (const Field& f : Fields()) {
      if (!f.in_job_spec() || f.value->Equal(c, defaults)) continue;
      (f.in_model ? training["model"] : training)[f.key] = f.value->ToJson(c);
    }
    const Json spec = {{"name", "all-options"},
                       {"resources", {{"workers", 1}}},
                       {"output_dir", c.outdir},
                       {"training", training}};
    const std::string file = dir_.file(yaml ? "spec.yaml" : "spec.json");
    EXPECT_TRUE(
        WriteFileAtomically(file, yaml ? Yaml(spec) : spec.dump()).ok());
    const testing::CommandResult result = RunCommand(absl::StrCat(
        "PGAN_TOKEN=alice-token PGAN_COORDINATOR=127.0.0.1:", port_, " ",
        PGAN_BINARY, " submit ", file));
    if (result.exit_code != 0) {
      return Error(result.output, "pgan submit: ");
    }
    grpc::ClientContext context;
    rpc::Authorize(&context, "alice-token");
    pgan::v1::GetJobRequest request;
    request.set_id(result.output.substr(10, 20));  // "submitted job-..."
    pgan::v1::Job job;
    const grpc::Status got = stub_->GetJob(&context, request, &job);
    if (!got.ok()) return absl::InternalError(got.error_message());
    EXPECT_EQ(job.spec().output_dir(), c.outdir);
    return FromProto(job.spec().training());
  }

  static absl::StatusOr<TrainingConfig> Parse(const testing::CommandResult& r,
                                              const std::string& prefix) {
    if (r.exit_code != 0) return Error(r.output, prefix);
    const size_t json = r.output.find("\n{");
    if (json == std::string::npos) return absl::InternalError(r.output);
    return TrainingConfig::FromJson(Json::parse(r.output.substr(json + 1)));
  }
  // The message of a failed command: its last line after `prefix`.
  static absl::Status Error(const std::string& output,
                            const std::string& prefix) {
    std::string line(absl::StripTrailingAsciiWhitespace(output));
    line = line.substr(line.rfind('\n') + 1);
    if (!absl::StartsWith(line, prefix)) {
      return absl::InternalError(absl::StrCat("unexpected output: ", output));
    }
    return absl::InvalidArgumentError(line.substr(prefix.size()));
  }

  testing::TestDir dir_;
  pid_t coordinator_ = -1;
  int port_ = 0;
  std::unique_ptr<pgan::v1::JobService::Stub> stub_;
};

// `message` with every field named as `surface` spells it instead of by
// its flag (longest flags first: --batch-gpu before --batch).
std::string Rename(std::string message, Surface surface) {
  std::vector<const Field*> fields;
  for (const Field& f : Fields()) {
    if (f.is_option()) fields.push_back(&f);
  }
  std::sort(fields.begin(), fields.end(), [](const Field* a, const Field* b) {
    return a->flag.size() > b->flag.size();
  });
  for (const Field* f : fields) {
    message = absl::StrReplaceAll(message, {{f->flag, f->NameOn(surface)}});
  }
  return message;
}

void ExpectSame(const TrainingConfig& got, const TrainingConfig& expected,
                const std::string& surface, bool job_spec_only = false) {
  for (const Field& f : Fields()) {
    if (!f.is_option() || (job_spec_only && !f.in_job_spec())) continue;
    EXPECT_TRUE(f.value->Equal(got, expected))
        << surface << " " << f.path() << ": got " << f.value->Text(got)
        << ", expected " << f.value->Text(expected);
  }
}

TEST_F(SurfacesTest, EveryOptionIsTakenByEverySurfaceWithTheSameName) {
  const TrainingConfig sample = Sample();
  absl::StatusOr<TrainingConfig> flags = DryRunFlags(sample);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ExpectSame(*flags, sample, "pgan train");
  absl::StatusOr<TrainingConfig> file = DryRunJobFile(sample);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectSame(*file, sample, "job file");
  for (bool yaml : {false, true}) {
    absl::StatusOr<TrainingConfig> spec = Submit(sample, yaml);
    ASSERT_TRUE(spec.ok()) << spec.status();
    ExpectSame(*spec, sample, yaml ? "YAML spec" : "JSON spec",
               /*job_spec_only=*/true);
  }
  // What a job spec does not carry, the coordinator supplies; each says
  // from what.
  for (const Field& f : Fields()) {
    if (f.is_option() && !f.in_job_spec()) {
      EXPECT_FALSE(f.supplied_by_service.empty()) << f.path();
    }
  }
}

TEST_F(SurfacesTest, EverySurfaceHasTheSameDefaults) {
  const TrainingConfig minimal = Minimal();
  // A dry run prints the cfg's latent size and learning rates where the
  // defaults (0) leave them to the cfg; a job spec keeps the 0s.
  // Likewise --world-invariant's auto is on or off by the time it runs (off
  // outside an elastic pool job).
  TrainingConfig resolved = minimal;
  resolved.ResolveCfgDefaults();
  resolved.ResolveWorldInvariant(/*elastic=*/false);
  absl::StatusOr<TrainingConfig> flags = DryRunFlags(minimal);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ExpectSame(*flags, resolved, "pgan train");
  absl::StatusOr<TrainingConfig> file = DryRunJobFile(minimal);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectSame(*file, resolved, "job file");
  absl::StatusOr<TrainingConfig> spec = Submit(minimal, /*yaml=*/true);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ExpectSame(*spec, minimal, "job spec", /*job_spec_only=*/true);
}

TEST_F(SurfacesTest, ABadValueIsRefusedEverywhereWithTheTrainersMessage) {
  std::vector<Json> cases;
  for (const auto& [path, value] : testing::BadValues().items()) {
    cases.push_back(Json{{path, value}});
  }
  for (const Json& combination : testing::BadCombinations()) {
    cases.push_back(combination);
  }
  int compared_with_spec = 0;
  for (const Json& bad : cases) {
    TrainingConfig c = Minimal();
    bool in_spec = true;
    for (const auto& [path, value] : bad.items()) {
      const Field& f = *FindField(path);
      ASSERT_TRUE(f.value->FromJson(value, &c).ok()) << path;
      in_spec = in_spec && f.in_job_spec();
    }
    const absl::Status trainer = DryRunFlags(c).status();
    ASSERT_EQ(trainer.code(), absl::StatusCode::kInvalidArgument)
        << bad.dump() << ": " << trainer;
    EXPECT_EQ(DryRunJobFile(c).status().message(),
              Rename(std::string(trainer.message()), Surface::kJobFile))
        << bad.dump();
    if (!in_spec) continue;  // The coordinator supplies it.
    ++compared_with_spec;
    EXPECT_EQ(Submit(c, /*yaml=*/false).status().message(),
              Rename(std::string(trainer.message()), Surface::kJobSpec))
        << bad.dump();
  }
  EXPECT_GT(compared_with_spec, 20);
  // The examples: metric names the trainer refuses.
  TrainingConfig c = Minimal();
  c.metrics = {"fd1_full"};
  EXPECT_EQ(Submit(c, false).status().message(),
            "training.metrics: \"fd1_full\": the number of images must be 2 to "
            "1000000");
}

}  // namespace
}  // namespace pgan::config
