// What a pool task (`pgan-worker --task`) hands its agent over a pipe: its
// ticks, snapshots and, last, its exit, each as a frame (one kind byte, a
// 4-byte little-endian length, the serialized request). The agent owns
// every report from then on: it keeps each until the coordinator has
// acknowledged it and resends it after reconnecting, so a task that ends
// while the coordinator is away loses nothing and need not wait for it.
#ifndef PGAN_WORKER_TASK_PIPE_H_
#define PGAN_WORKER_TASK_PIPE_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "pgan/v1/worker.pb.h"

namespace pgan::worker {

using TaskReport =
    std::variant<pgan::v1::ReportTickRequest, pgan::v1::ReportSnapshotRequest,
                 pgan::v1::ReportExitRequest>;

// Writes one frame to `fd` (blocking, retrying short writes and EINTR).
absl::Status WriteTaskReport(int fd, const TaskReport& report);

// Reassembles frames from the bytes read off the pipe, in any chunking.
class TaskReportReader {
 public:
  // Appends `bytes`; returns the frames now complete, in order. A frame of
  // an unknown kind or that does not parse is an error (the task is not a
  // pgan-worker of this version) and the reader stays failed.
  absl::Status Feed(const char* bytes, size_t size,
                    std::vector<TaskReport>* out);

 private:
  std::string buffer_;
  absl::Status failed_;
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_TASK_PIPE_H_
