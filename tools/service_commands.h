// The `pgan` commands that talk to a coordinator: submit, jobs, status,
// cancel, watch, snapshots, download, samples, workers. The address and
// token come from flags or from PGAN_COORDINATOR and PGAN_TOKEN. Errors are
// one line naming what failed.
// Functions only; LibTorch-free.
#ifndef PGAN_TOOLS_SERVICE_COMMANDS_H_
#define PGAN_TOOLS_SERVICE_COMMANDS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "tools/plot_command.h"

namespace pgan::tools {

// main fills what the flags leave empty from $PGAN_COORDINATOR,
// $PGAN_TOKEN, $PGAN_TLS_CA, $PGAN_TLS_CERT and $PGAN_TLS_KEY.
struct ServiceOptions {
  std::string address;  // host:port; empty: 127.0.0.1:7470.
  std::string token;    // Required.
  // TLS: the CA of the coordinator's certificate (empty: plain text), and a
  // client certificate and key if it wants one.
  std::string tls_ca, tls_cert, tls_key;
};

// `job_file`: a JobSpec in JSON, or in YAML when it ends in .yaml or .yml
// (proto3 JSON names: {"name": ..., "training": {"model": {"cfg": ...,
// "resolution": ...}, "data": ..., "batch": ...}, "resources": {"workers":
// 2}}); unknown fields are errors.
absl::Status RunSubmit(const ServiceOptions& service,
                       const std::string& job_file, std::ostream& out);
// `all`: also finished jobs.
absl::Status RunJobs(const ServiceOptions& service, bool all,
                     std::ostream& out);
absl::Status RunStatus(const ServiceOptions& service, const std::string& id,
                       std::ostream& out);
absl::Status RunCancel(const ServiceOptions& service, const std::string& id,
                       std::ostream& out);
// Follows a job until it ends: a line per state change and per tick. OK if
// it succeeded; otherwise an error with its end.
absl::Status RunWatch(const ServiceOptions& service, const std::string& id,
                      std::ostream& out);
// Writes snapshot `which` ("latest" or its kimg, e.g. 000200) of job `id` to
// `path`, atomically.
absl::Status RunDownload(const ServiceOptions& service, const std::string& id,
                         const std::string& which, const std::string& path,
                         std::ostream& out);
absl::Status RunSnapshots(const ServiceOptions& service, const std::string& id,
                          std::ostream& out);
// Writes the latest sample grid of job `id` (a PNG) to `path`, atomically.
absl::Status RunSamples(const ServiceOptions& service, const std::string& id,
                        const std::string& path, std::ostream& out);
// `pgan plot JOB_ID`: the job's tick history (losses, signs, metrics) as
// the PNG `pgan plot RUN_DIR` draws; default file JOB_ID.png.
absl::Status RunPlotJob(const ServiceOptions& service,
                        const PlotOptions& options, std::ostream& out);
// The coordinator's pool of workers as a table.
absl::Status RunWorkers(const ServiceOptions& service, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_SERVICE_COMMANDS_H_
