// The frames a pool task hands its agent: every kind through a real pipe,
// reassembled from any chunking, and bytes that are not frames refused
// with what was expected.
#include "worker/task_pipe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <variant>
#include <vector>

namespace pgan::worker {
namespace {

std::string ReadAll(int fd) {
  std::string bytes;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) bytes.append(buffer, n);
  return bytes;
}

std::vector<TaskReport> Samples() {
  pgan::v1::ReportTickRequest tick;
  tick.set_job_id("job-1");
  tick.set_generation(3);
  tick.mutable_tick()->set_iterations(42);
  tick.mutable_tick()->set_kimg(0.168);
  pgan::v1::ReportSnapshotRequest snapshot;
  snapshot.set_job_id("job-1");
  snapshot.mutable_snapshot()->set_path("/runs/job-1/network-snapshot.pkl");
  pgan::v1::ReportExitRequest exit;  // All defaults: an empty payload.
  return {tick, snapshot, exit};
}

TEST(TaskPipeTest, FramesOfEveryKindArriveWholeAndInOrderInAnyChunking) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  for (const TaskReport& report : Samples()) {
    ASSERT_TRUE(WriteTaskReport(fds[1], report).ok());
  }
  close(fds[1]);
  const std::string bytes = ReadAll(fds[0]);
  close(fds[0]);
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}, bytes.size()}) {
    TaskReportReader reader;
    std::vector<TaskReport> got;
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      ASSERT_TRUE(
          reader
              .Feed(bytes.data() + at, std::min(chunk, bytes.size() - at), &got)
              .ok());
    }
    ASSERT_EQ(got.size(), 3u) << "chunk " << chunk;
    const auto& tick = std::get<pgan::v1::ReportTickRequest>(got[0]);
    EXPECT_EQ(tick.tick().iterations(), 42);
    EXPECT_EQ(tick.generation(), 3);
    EXPECT_EQ(
        std::get<pgan::v1::ReportSnapshotRequest>(got[1]).snapshot().path(),
        "/runs/job-1/network-snapshot.pkl");
    EXPECT_TRUE(std::holds_alternative<pgan::v1::ReportExitRequest>(got[2]));
  }
}

TEST(TaskPipeTest, BytesThatAreNotFramesAreRefusedAndStayRefused) {
  TaskReportReader reader;
  std::vector<TaskReport> got;
  const std::string junk("X\x01\0\0\0z", 6);
  const absl::Status status = reader.Feed(junk.data(), junk.size(), &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("expected T, S or E"), std::string::npos)
      << status;
  EXPECT_TRUE(got.empty());
  // Even a good frame after it: the stream has lost its framing.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_TRUE(WriteTaskReport(fds[1], Samples()[0]).ok());
  close(fds[1]);
  const std::string good = ReadAll(fds[0]);
  close(fds[0]);
  EXPECT_FALSE(reader.Feed(good.data(), good.size(), &got).ok());

  TaskReportReader truncated;  // A payload that does not parse.
  const std::string bad = std::string("T\x02\0\0\0", 5) + "\xff\xff";
  EXPECT_EQ(truncated.Feed(bad.data(), bad.size(), &got).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace pgan::worker
