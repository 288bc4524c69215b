#include "worker/mpi_communicator.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/check.h"
#include "worker/deadline_poller.h"
#include "worker/transfer_watchdog.h"

namespace pgan::comm {
namespace {

// MPI counts are ints: larger transfers go in pieces of this many elements.
constexpr size_t kMaxElementsPerCall = size_t{1} << 30;
// The tag of the arrival messages on the communicator's own MPI_Comm.
constexpr int kArrivalTag = 7301;
// Arrival message: seq, op, size, root + 1.
using ArrivalMessage = std::array<uint64_t, 4>;
// Polling. Ranks that arrive together (back-to-back collectives) meet
// within the arrival spin; a late rank is waited for with sleeps. A data
// transfer progresses only inside MPI calls (no progress thread), so it is
// polled without pause for up to a second, as a blocking MPI call would
// spin; only a transfer stalled that long is polled with short sleeps.
constexpr absl::Duration kArrivalSpin = absl::Milliseconds(1);
constexpr absl::Duration kArrivalMaxSleep = absl::Milliseconds(1);
constexpr absl::Duration kTransferSpin = absl::Seconds(1);
constexpr absl::Duration kTransferMaxSleep = absl::Microseconds(100);
// At most this many missing ranks are named in a message.
constexpr int kMaxRanksNamed = 16;

// The process's MPI: initialised by the first MPI-based communicator (when
// nobody else had), finalised when the last one goes.
struct MpiProcessState {
  std::mutex mu;
  int live_communicators = 0;
  bool initialized_here = false;
};
MpiProcessState& ProcessState() {
  static auto* state = new MpiProcessState;
  return *state;
}

absl::Status AcquireMpi() {
  MpiProcessState& state = ProcessState();
  std::lock_guard<std::mutex> lock(state.mu);
  int finalized = 0;
  PGAN_MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) {
    return absl::FailedPreconditionError(
        "MPI was finalised in this process (the last MPI-based communicator "
        "was destroyed) and cannot be initialised again: create the "
        "communicator once and keep it for the whole job");
  }
  int initialized = 0;
  PGAN_MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    PGAN_MPI_CHECK(
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    state.initialized_here = true;
    // Errors come back to the check macros instead of killing the process.
    PGAN_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  }
  ++state.live_communicators;
  return absl::OkStatus();
}

void ReleaseMpi() {
  MpiProcessState& state = ProcessState();
  std::lock_guard<std::mutex> lock(state.mu);
  if (--state.live_communicators == 0 && state.initialized_here) {
    MPI_Finalize();
  }
}

}  // namespace

absl::Duration MpiCommunicator::ReleaseTimeout(absl::Duration timeout) {
  return timeout + std::clamp(timeout / 4, absl::Seconds(1), absl::Seconds(10));
}

const char* MpiCommunicator::OpName(Op op) {
  switch (op) {
    case Op::kInit:
      return "Init";
    case Op::kAllReduceSum:
      return "AllReduceSum";
    case Op::kAllReduceSumF64:
      return "AllReduceSum (float64)";
    case Op::kBroadcast:
      return "Broadcast";
    case Op::kBroadcastHost:
      return "BroadcastHost";
    case Op::kAllGatherHost:
      return "AllGatherHost";
    case Op::kBarrier:
      return "Barrier";
    case Op::kShutdown:
      return "Shutdown";
  }
  return "an unknown collective";
}

std::string MpiCommunicator::Describe(Op op, uint64_t size, int root) {
  switch (op) {
    case Op::kAllReduceSum:
      return absl::StrCat("AllReduceSum of ", size, " floats");
    case Op::kAllReduceSumF64:
      return absl::StrCat("AllReduceSum of ", size, " doubles");
    case Op::kBroadcast:
    case Op::kBroadcastHost:
      return absl::StrCat(OpName(op), " of ", size, " bytes from rank ", root);
    case Op::kShutdown:
      return "Shutdown (it is destroying its communicator)";
    default:
      return OpName(op);
  }
}

MpiCommunicator::MpiCommunicator(const CommConfig& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(
    const CommConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  auto comm = absl::WrapUnique(new MpiCommunicator(config));
  RETURN_IF_ERROR(comm->Init());
  return comm;
}

absl::Status MpiCommunicator::Init() {
  RETURN_IF_ERROR(AcquireMpi());
  counted_ = true;
  int thread_level = 0;
  PGAN_MPI_CHECK(MPI_Query_thread(&thread_level));
  if (thread_level < MPI_THREAD_SERIALIZED) {
    return absl::FailedPreconditionError(
        absl::StrCat("MPI provides thread level ", thread_level,
                     ", the MPI backend needs at least MPI_THREAD_SERIALIZED (",
                     MPI_THREAD_SERIALIZED, ")"));
  }
  thread_multiple_ = thread_level >= MPI_THREAD_MULTIPLE;
  watchdog_ = std::make_unique<TransferWatchdog>(
      std::clamp(config_.timeout / 20, absl::Milliseconds(10),
                 absl::Seconds(1)),
      [this](const std::string& message) { AbortFromWatchdog(message); });
  PGAN_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  PGAN_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  PGAN_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  PGAN_MPI_CHECK(MPI_Comm_size(comm_, &world_size_));

  MPI_Comm node = MPI_COMM_NULL;
  PGAN_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_,
                                     MPI_INFO_NULL, &node));
  const int rank_rc = MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_free(&node);
  PGAN_MPI_CHECK(rank_rc);

  identities_.assign(world_size_, "");
  RETURN_IF_ERROR(GatherIdentities());
  ready_ = true;
  return absl::OkStatus();
}

// Collective #0: every rank's host and pid, for the watchdog's messages.
absl::Status MpiCommunicator::GatherIdentities() {
  struct Identity {
    int64_t pid;
    char host[56];
  };
  Identity mine{};
  mine.pid = static_cast<int64_t>(::getpid());
  if (::gethostname(mine.host, sizeof(mine.host) - 1) != 0) {
    std::snprintf(mine.host, sizeof(mine.host), "an unknown host");
  }
  mine.host[sizeof(mine.host) - 1] = '\0';
  std::vector<Identity> all(world_size_);

  const Collective c = Begin(Op::kInit, sizeof(Identity), -1);
  RETURN_IF_ERROR(WaitForArrivals(c));
  MPI_Request request;
  PGAN_MPI_CHECK(MPI_Iallgather(&mine, sizeof(Identity), MPI_BYTE, all.data(),
                                sizeof(Identity), MPI_BYTE, comm_, &request));
  RETURN_IF_ERROR(WaitForTransfer(c, &request));
  for (int r = 0; r < world_size_; ++r) {
    all[r].host[sizeof(all[r].host) - 1] = '\0';
    identities_[r] = absl::StrCat("pid ", all[r].pid, " on ", all[r].host);
  }
  return absl::OkStatus();
}

MpiCommunicator::~MpiCommunicator() {
  if (ready_) {
    const Collective c = Begin(Op::kShutdown, 0, -1);
    const absl::Status status = WaitForArrivals(c);
    if (!status.ok()) {
      std::fprintf(stderr, "[pgan rank %d] MPI communicator shutdown: %s\n",
                   rank_, std::string(status.message()).c_str());
    }
  }
  watchdog_.reset();
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  if (counted_) ReleaseMpi();
}

MpiCommunicator::Collective MpiCommunicator::Begin(Op op, uint64_t size,
                                                   int root) {
  return Collective{next_seq_++, op, size, root};
}

std::string MpiCommunicator::DescribeRank(int rank) const {
  if (rank >= 0 && rank < static_cast<int>(identities_.size()) &&
      !identities_[rank].empty()) {
    return absl::StrCat("rank ", rank, " (", identities_[rank], ")");
  }
  return absl::StrCat("rank ", rank);
}

void MpiCommunicator::AbortJob(const std::string& message) {
  Abort(absl::StrCat("watchdog: ", message), kWatchdogExitCode);
}

void MpiCommunicator::Abort(const std::string& reason, int exit_code) {
  std::fprintf(stderr, "[pgan rank %d] aborting: %s\n", rank_, reason.c_str());
  std::fflush(nullptr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; in case it does.
}

absl::Status MpiCommunicator::WaitForArrivals(const Collective& c) {
  if (world_size_ == 1) return absl::OkStatus();
  if (rank_ == 0) return WaitForArrivalsAtRoot(c);
  return WaitForRelease(c);
}

absl::Status MpiCommunicator::WaitForArrivalsAtRoot(const Collective& c) {
  const int peers = world_size_ - 1;
  std::vector<ArrivalMessage> arrivals(peers);
  std::vector<MPI_Request> requests(peers, MPI_REQUEST_NULL);
  for (int r = 1; r < world_size_; ++r) {
    PGAN_MPI_CHECK(MPI_Irecv(arrivals[r - 1].data(), 4, MPI_UINT64_T, r,
                             kArrivalTag, comm_, &requests[r - 1]));
  }
  DeadlinePoller poller(config_.timeout, kArrivalSpin, kArrivalMaxSleep);
  int pending = peers;
  while (true) {
    for (int i = 0; i < peers; ++i) {
      if (requests[i] == MPI_REQUEST_NULL) continue;
      int done = 0;
      PGAN_MPI_CHECK(MPI_Test(&requests[i], &done, MPI_STATUS_IGNORE));
      if (!done) continue;
      --pending;
      const ArrivalMessage& got = arrivals[i];
      const int root = static_cast<int>(got[3]) - 1;
      if (got[0] != c.seq || got[1] != static_cast<uint64_t>(c.op) ||
          got[2] != c.size || root != c.root) {
        AbortJob(absl::StrCat(
            "collective #", c.seq,
            " does not match across ranks: rank 0 "
            "called ",
            Describe(c.op, c.size, c.root), ", ", DescribeRank(i + 1),
            " called ", Describe(static_cast<Op>(got[1]), got[2], root),
            got[0] != c.seq ? absl::StrCat(" as its collective #", got[0]) : "",
            "; every rank must issue the same collectives in the same order "
            "with the same sizes; aborting the job"));
      }
    }
    if (pending == 0) break;
    if (!poller.Wait()) {
      std::vector<std::string> missing;
      for (int i = 0; i < peers; ++i) {
        if (requests[i] == MPI_REQUEST_NULL) continue;
        if (static_cast<int>(missing.size()) == kMaxRanksNamed) {
          missing.push_back("...");
          break;
        }
        missing.push_back(DescribeRank(i + 1));
      }
      const std::string where =
          absl::StrCat("collective #", c.seq, " (", OpName(c.op), ") within ",
                       FormatSeconds(config_.timeout));
      AbortJob(pending == 1
                   ? absl::StrCat(missing[0], " did not reach ", where,
                                  "; aborting the job")
                   : absl::StrCat(pending, " ranks did not reach ", where, ": ",
                                  absl::StrJoin(missing, ", "),
                                  "; aborting the job"));
    }
  }
  // Everyone is here: release them.
  uint64_t release = c.seq;
  MPI_Request request;
  PGAN_MPI_CHECK(MPI_Ibcast(&release, 1, MPI_UINT64_T, 0, comm_, &request));
  return WaitForTransfer(c, &request);
}

absl::Status MpiCommunicator::WaitForRelease(const Collective& c) {
  const ArrivalMessage arrival = {c.seq, static_cast<uint64_t>(c.op), c.size,
                                  static_cast<uint64_t>(c.root + 1)};
  uint64_t release = ~uint64_t{0};
  std::array<MPI_Request, 2> requests;
  PGAN_MPI_CHECK(MPI_Isend(arrival.data(), 4, MPI_UINT64_T, 0, kArrivalTag,
                           comm_, &requests[0]));
  PGAN_MPI_CHECK(MPI_Ibcast(&release, 1, MPI_UINT64_T, 0, comm_, &requests[1]));
  DeadlinePoller poller(ReleaseTimeout(config_.timeout), kArrivalSpin,
                        kArrivalMaxSleep);
  while (true) {
    bool all_done = true;
    for (MPI_Request& request : requests) {
      if (request == MPI_REQUEST_NULL) continue;
      int done = 0;
      PGAN_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
      all_done = all_done && done;
    }
    if (all_done) break;
    if (!poller.Wait()) {
      AbortJob(absl::StrCat(
          DescribeRank(0), " did not release collective #", c.seq, " (",
          OpName(c.op), ") within ",
          FormatSeconds(ReleaseTimeout(config_.timeout)),
          ": rank 0 did not reach it (stuck or dead), or is itself stuck; "
          "aborting the job"));
    }
  }
  if (release != c.seq) {
    return absl::InternalError(absl::StrCat(
        "collective #", c.seq, ": rank 0 released collective #", release));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::WaitForTransfer(const Collective& c,
                                              MPI_Request* request) {
  DeadlinePoller poller(config_.timeout, kTransferSpin, kTransferMaxSleep);
  while (true) {
    int done = 0;
    PGAN_MPI_CHECK(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    if (done) return absl::OkStatus();
    if (!poller.Wait()) {
      AbortJob(TransferStalled(c));
    }
  }
}

std::string MpiCommunicator::TransferStalled(const Collective& c) const {
  return absl::StrCat(
      "collective #", c.seq, " (", Describe(c.op, c.size, c.root),
      ") did not complete within ", FormatSeconds(config_.timeout),
      " after every rank had reached it: a rank died or the "
      "network failed; aborting the job");
}

void MpiCommunicator::AbortFromWatchdog(const std::string& message) {
  if (thread_multiple_) AbortJob(message);
  // MPI_Abort may not be called beside the blocked thread: exiting makes
  // the launcher end the job.
  std::fprintf(stderr, "[pgan rank %d] aborting: watchdog: %s\n", rank_,
               message.c_str());
  std::fflush(nullptr);
  std::_Exit(kWatchdogExitCode);
}

absl::Status MpiCommunicator::AllReduceSum(float* data, size_t count) {
  return AllReduce(Op::kAllReduceSum, data, count, MPI_FLOAT, sizeof(float));
}

absl::Status MpiCommunicator::AllReduceSum(double* data, size_t count) {
  return AllReduce(Op::kAllReduceSumF64, data, count, MPI_DOUBLE,
                   sizeof(double));
}

absl::Status MpiCommunicator::AllReduce(Op op, void* data, size_t count,
                                        MPI_Datatype type, size_t element) {
  if (data == nullptr && count > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(op, count, -1), ": null buffer"));
  }
  const Collective c = Begin(op, count, -1);
  RETURN_IF_ERROR(WaitForArrivals(c));
  char* bytes = static_cast<char*>(data);
  for (size_t offset = 0; offset < count; offset += kMaxElementsPerCall) {
    const int n =
        static_cast<int>(std::min(kMaxElementsPerCall, count - offset));
    watchdog_->Arm(config_.timeout, [this, c] { return TransferStalled(c); });
    const int rc = MPI_Allreduce(MPI_IN_PLACE, bytes + offset * element, n,
                                 type, MPI_SUM, comm_);
    watchdog_->Disarm();
    PGAN_MPI_CHECK(rc);
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::BroadcastBytes(Op op, void* data, size_t bytes,
                                             int root) {
  if (data == nullptr && bytes > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(OpName(op), ": null buffer for ", bytes, " bytes"));
  }
  if (root < 0 || root >= world_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat(OpName(op), ": root ", root, " is not a rank of a job of ",
                     world_size_));
  }
  const Collective c = Begin(op, bytes, root);
  RETURN_IF_ERROR(WaitForArrivals(c));
  char* bytes_data = static_cast<char*>(data);
  for (size_t offset = 0; offset < bytes; offset += kMaxElementsPerCall) {
    const int n =
        static_cast<int>(std::min(kMaxElementsPerCall, bytes - offset));
    watchdog_->Arm(config_.timeout, [this, c] { return TransferStalled(c); });
    const int rc = MPI_Bcast(bytes_data + offset, n, MPI_BYTE, root, comm_);
    watchdog_->Disarm();
    PGAN_MPI_CHECK(rc);
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Broadcast(void* data, size_t bytes, int root) {
  return BroadcastBytes(Op::kBroadcast, data, bytes, root);
}

absl::Status MpiCommunicator::BroadcastHost(void* data, size_t bytes,
                                            int root) {
  return BroadcastBytes(Op::kBroadcastHost, data, bytes, root);
}

absl::Status MpiCommunicator::AllGatherHost(uint64_t value, uint64_t* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("AllGatherHost: null output");
  }
  const Collective c = Begin(Op::kAllGatherHost, 1, -1);
  RETURN_IF_ERROR(WaitForArrivals(c));
  watchdog_->Arm(config_.timeout, [this, c] { return TransferStalled(c); });
  const int rc =
      MPI_Allgather(&value, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, comm_);
  watchdog_->Disarm();
  PGAN_MPI_CHECK(rc);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Barrier() {
  // The arrival check is a barrier: nobody is released before everyone is
  // there.
  return WaitForArrivals(Begin(Op::kBarrier, 0, -1));
}

}  // namespace pgan::comm
