// A small MPI job for the watchdog tests and the communicator benchmark, run
// as `mpirun -np 2 mpi_comm_job MODE [TIMEOUT_S]`. Every rank does a few
// collectives, then, by MODE:
//   ok         carries on (the job succeeds);
//   stop       rank 1 stops participating: it sleeps 60 s before the next
//              collective (rank 0 must abort the job naming rank 1);
//   kill       rank 1 kills itself with SIGKILL before the next collective;
//   stop-root  rank 0 sleeps 60 s (rank 1 must abort naming rank 0);
//   mismatch   rank 1 calls Broadcast where rank 0 calls AllReduceSum;
//   bench      times AllReduceSum against plain MPI_Allreduce (prints).
#include <mpi.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/communicator.h"

namespace pgan::comm {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, std::string(status.message()).c_str());
  return 1;
}

// Mean seconds per call of `op` over `iterations` (after one warm-up).
template <typename Op>
double TimePerCall(int iterations, Op op) {
  op();
  MPI_Barrier(MPI_COMM_WORLD);
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < iterations; ++i) op();
  double seconds = SecondsSince(start) / iterations;
  MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return seconds;
}

int Bench(Communicator& comm) {
  for (size_t count : {size_t{1}, size_t{1} << 10, size_t{1} << 16,
                       size_t{1} << 20, size_t{1} << 24}) {
    std::vector<float> data(count, 1.0f);
    const int iterations = count >= (size_t{1} << 24)   ? 5
                           : count >= (size_t{1} << 20) ? 20
                                                        : 500;
    bool ok = true;
    const double ours = TimePerCall(iterations, [&] {
      ok = ok && comm.AllReduceSum(data.data(), count).ok();
    });
    const double plain = TimePerCall(iterations, [&] {
      MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(count),
                    MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    // The non-blocking transfer alone, polled without the arrival check.
    const double nonblocking = TimePerCall(iterations, [&] {
      MPI_Request request;
      MPI_Iallreduce(MPI_IN_PLACE, data.data(), static_cast<int>(count),
                     MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
      int done = 0;
      while (!done) MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    });
    if (!ok) return 1;
    if (comm.rank() == 0) {
      const int n = comm.world_size();
      const double bytes = 4.0 * static_cast<double>(count);
      std::printf(
          "AllReduceSum %9zu floats: %9.1f us, busbw %6.2f GB/s | "
          "MPI_Allreduce %9.1f us (x%.2f) | MPI_Iallreduce+MPI_Test %9.1f us "
          "(x%.2f)\n",
          count, ours * 1e6, bytes / ours * 2.0 * (n - 1) / n / 1e9,
          plain * 1e6, ours / plain, nonblocking * 1e6, ours / nonblocking);
    }
  }
  return 0;
}

int Run(const std::string& mode, double timeout_s) {
  CommConfig config;
  config.backend = Backend::kMpi;
  config.timeout = absl::Seconds(timeout_s);
  auto created = CreateCommunicator(config);
  if (!created.ok()) return Fail("CreateCommunicator", created.status());
  std::unique_ptr<Communicator> comm = std::move(created).value();
  const int rank = comm->rank();
  if (mode == "bench") return Bench(*comm);

  std::vector<float> data(1000, 1.0f);
  for (int i = 0; i < 3; ++i) {
    if (absl::Status s = comm->AllReduceSum(data.data(), data.size());
        !s.ok()) {
      return Fail("AllReduceSum", s);
    }
  }
  std::fprintf(stderr, "[job rank %d] warm-up done, mode %s\n", rank,
               mode.c_str());
  std::fflush(stderr);

  if (mode == "stop" && rank == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(60));
  } else if (mode == "stop-root" && rank == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(60));
  } else if (mode == "kill" && rank == 1) {
    std::raise(SIGKILL);
  }
  absl::Status status;
  if (mode == "mismatch" && rank == 1) {
    status = comm->Broadcast(data.data(), 64, /*root=*/0);
  } else {
    status = comm->AllReduceSum(data.data(), data.size());
  }
  if (!status.ok()) return Fail("collective", status);
  if (absl::Status s = comm->Barrier(); !s.ok()) return Fail("Barrier", s);
  std::fprintf(stderr, "[job rank %d] finished\n", rank);
  return 0;
}

}  // namespace
}  // namespace pgan::comm

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s ok|stop|kill|stop-root|mismatch|bench "
                 "[timeout_s]\n",
                 argv[0]);
    return 2;
  }
  const double timeout_s = argc > 2 ? std::atof(argv[2]) : 3.0;
  return pgan::comm::Run(argv[1], timeout_s);
}
