#include "worker/task_pipe.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pgan::worker {
namespace {

constexpr char kKinds[] = {'T', 'S', 'E'};  // In TaskReport's order.
constexpr size_t kHeader = 5;
// Far above any report (a tick with every metric is a few KiB): a larger
// length means the bytes are not frames.
constexpr uint32_t kMaxFrame = 16 << 20;

}  // namespace

absl::Status WriteTaskReport(int fd, const TaskReport& report) {
  std::string payload;
  std::visit([&](const auto& r) { r.SerializeToString(&payload); }, report);
  const auto size = static_cast<uint32_t>(payload.size());
  std::string frame(kHeader, '\0');
  frame[0] = kKinds[report.index()];
  for (int i = 0; i < 4; ++i) {
    frame[1 + i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  frame += payload;
  size_t written = 0;
  while (written < frame.size()) {
    const ssize_t n = write(fd, frame.data() + written, frame.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat(
          "writing a report to the agent: ", std::strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status TaskReportReader::Feed(const char* bytes, size_t size,
                                    std::vector<TaskReport>* out) {
  if (!failed_.ok()) return failed_;
  buffer_.append(bytes, size);
  size_t at = 0;
  while (buffer_.size() - at >= kHeader) {
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) {
      length |=
          static_cast<uint32_t>(static_cast<unsigned char>(buffer_[at + 1 + i]))
          << (8 * i);
    }
    const char kind = buffer_[at];
    const char* known = std::find(std::begin(kKinds), std::end(kKinds), kind);
    if (known == std::end(kKinds) || length > kMaxFrame) {
      failed_ = absl::DataLossError(absl::StrCat(
          "the task's report pipe has a frame of kind ", static_cast<int>(kind),
          " and length ", length, ": expected T, S or E up to ", kMaxFrame));
      return failed_;
    }
    if (buffer_.size() - at - kHeader < length) break;
    const char* payload = buffer_.data() + at + kHeader;
    TaskReport report;
    switch (known - std::begin(kKinds)) {
      case 0:
        report.emplace<0>();
        break;
      case 1:
        report.emplace<1>();
        break;
      default:
        report.emplace<2>();
        break;
    }
    const bool parsed = std::visit(
        [&](auto& r) {
          return r.ParseFromArray(payload, static_cast<int>(length));
        },
        report);
    if (!parsed) {
      failed_ = absl::DataLossError(
          absl::StrCat("the task's report of kind ", std::string(1, kind), " (",
                       length, " bytes) does not parse"));
      return failed_;
    }
    out->push_back(std::move(report));
    at += kHeader + length;
  }
  buffer_.erase(0, at);
  return absl::OkStatus();
}

}  // namespace pgan::worker
