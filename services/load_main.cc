// pgan-load: simulates a pool of workers against a running coordinator to
// measure it: N workers register, then each heartbeats at the interval the
// coordinator tells it (once a second for small pools; a large pool is
// told to beat less often, see --max-heartbeat-rate of pgan-coordinator),
// the calls spread evenly, for --seconds; prints heartbeat latency
// percentiles, calls shed with RESOURCE_EXHAUSTED and errors. Optionally
// submits a job first and reports the time until its gang is assigned.
//
//   pgan-load --coordinator 127.0.0.1:7470 --worker-token W --workers 5000
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgan/v1/job.grpc.pb.h"
#include "pgan/v1/worker.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
  grpc::ClientContext context;
  pgan::v1::HeartbeatRequest request;
  pgan::v1::HeartbeatResponse response;
  Clock::time_point start;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k =
      std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k),
                   v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pgan-load: simulated workers against a pgan-coordinator"};
  std::string address = "127.0.0.1:7470", token, user_token, data;
  int gang = 4;
  int workers = 1000, seconds = 10, channels = 8;
  app.add_option("--coordinator", address, "host:port")->capture_default_str();
  app.add_option("--worker-token", token, "A worker token")->required();
  app.add_option("--workers", workers, "Simulated workers")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Seconds of heartbeats")
      ->capture_default_str();
  app.add_option("--channels", channels, "gRPC channels (connections)")
      ->capture_default_str();
  app.add_option(
      "--user-token", user_token,
      "With --data: halfway through, submit a job of --gang workers and "
      "time until all of them are assigned");
  app.add_option("--data", data,
                 "Dataset path for that job (under a data root)");
  app.add_option("--gang", gang, "Workers of that job")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (workers < 1 || seconds < 1 || channels < 1) {
    std::fprintf(
        stderr,
        "pgan-load: --workers, --seconds and --channels must be >= 1\n");
    return 2;
  }

  std::vector<std::unique_ptr<pgan::v1::WorkerService::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // Distinct channels, not one shared.
    stubs.push_back(pgan::v1::WorkerService::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args)));
  }
  const std::string bearer = "Bearer " + token;

  // Register (sequentially: a one-time cost, timed separately).
  std::vector<std::string> ids;
  std::atomic<int> interval_ms{1000};
  const Clock::time_point register_start = Clock::now();
  for (int i = 0; i < workers; ++i) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", bearer);
    pgan::v1::RegisterWorkerRequest request;
    request.mutable_info()->set_host("sim-" + std::to_string(i / 8));
    request.mutable_info()->set_cpu_slots(2);
    pgan::v1::RegisterWorkerResponse response;
    const grpc::Status status =
        stubs[i % channels]->RegisterWorker(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "pgan-load: RegisterWorker: %s\n",
                   status.error_message().c_str());
      return 1;
    }
    ids.push_back(response.worker_id());
    interval_ms = std::max(1, response.heartbeat_interval_ms());
  }
  const double register_seconds =
      std::chrono::duration<double>(Clock::now() - register_start).count();

  std::mutex mu;
  std::vector<double> latencies;
  std::map<int, int> error_codes;  // gRPC status code: calls.
  std::atomic<int> in_flight{0}, errors{0}, shed{0}, assigned{0};
  std::atomic<int64_t> submitted_ns{0}, all_assigned_ns{0};
  const bool submit = !user_token.empty() && !data.empty();
  const Clock::time_point start = Clock::now();
  int64_t sent = 0;
  // Each worker once per interval: one call every interval / workers.
  auto period = [&] {
    return std::chrono::nanoseconds(int64_t{interval_ms} * 1000000 / workers);
  };
  for (Clock::time_point next = start;
       next < start + std::chrono::seconds(seconds); next += period()) {
    std::this_thread::sleep_until(next);
    if (submit && submitted_ns == 0 &&
        next >= start + std::chrono::seconds(seconds) / 2) {
      auto jobs = pgan::v1::JobService::NewStub(
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + user_token);
      pgan::v1::SubmitJobRequest request;
      pgan::v1::JobSpec* spec = request.mutable_spec();
      spec->set_name("load");
      spec->mutable_resources()->set_workers(gang);
      spec->mutable_training()->mutable_model()->set_cfg("fastgan_lite");
      spec->mutable_training()->mutable_model()->set_resolution(32);
      spec->mutable_training()->set_data(data);
      spec->mutable_training()->set_batch(8 * gang);
      spec->mutable_training()->set_kimg(1);
      pgan::v1::Job job;
      submitted_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         Clock::now().time_since_epoch())
                         .count();
      const grpc::Status status = jobs->SubmitJob(&context, request, &job);
      if (!status.ok()) {
        std::fprintf(stderr, "pgan-load: SubmitJob: %s\n",
                     status.error_message().c_str());
        return 1;
      }
    }
    auto* call = new Call;
    call->context.AddMetadata("authorization", bearer);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(10));
    call->request.set_worker_id(ids[sent % workers]);
    call->start = Clock::now();
    ++in_flight;
    stubs[sent % channels]->async()->Heartbeat(
        &call->context, &call->request, &call->response,
        [&, call](grpc::Status status) {
          const double ms = std::chrono::duration<double, std::milli>(
                                Clock::now() - call->start)
                                .count();
          if (status.ok()) {
            if (call->response.heartbeat_interval_ms() > 0)
              interval_ms = call->response.heartbeat_interval_ms();
            if (call->response.action() ==
                    pgan::v1::HeartbeatResponse::ACTION_ASSIGN &&
                ++assigned == gang) {
              all_assigned_ns =
                  std::chrono::duration_cast<std::chrono::nanoseconds>(
                      Clock::now().time_since_epoch())
                      .count();
            }
            std::lock_guard<std::mutex> lock(mu);
            latencies.push_back(ms);
          } else if (status.error_code() ==
                     grpc::StatusCode::RESOURCE_EXHAUSTED) {
            ++shed;  // The coordinator is over capacity: not an error.
          } else {
            ++errors;
            std::lock_guard<std::mutex> lock(mu);
            ++error_codes[status.error_code()];
          }
          delete call;
          --in_flight;
        });
    ++sent;
  }
  while (in_flight > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();

  std::lock_guard<std::mutex> lock(mu);
  std::printf(
      "pgan-load: %d workers registered in %.2f s, told to heartbeat every "
      "%d ms; %lld heartbeats in %.1f s (%.0f/s): %zu answered, %d shed "
      "(RESOURCE_EXHAUSTED), %d errors\n",
      workers, register_seconds, interval_ms.load(),
      static_cast<long long>(sent), elapsed, sent / elapsed, latencies.size(),
      shed.load(), errors.load());
  for (const auto& [code, n] : error_codes)
    std::printf("  %d errors with gRPC status %d\n", n, code);
  std::printf("heartbeat latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
              Percentile(latencies, 0.50), Percentile(latencies, 0.90),
              Percentile(latencies, 0.99), Percentile(latencies, 1.0));
  if (submit) {
    if (all_assigned_ns > 0) {
      std::printf(
          "submit to all %d workers assigned: %.3f s (heartbeats come once a "
          "second)\n",
          gang, (all_assigned_ns - submitted_ns) / 1e9);
    } else {
      std::printf("the submitted job was not assigned within the run\n");
    }
  }
  return errors > 0 ? 1 : 0;
}
