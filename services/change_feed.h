// The coordinator's change feed: every committed change of a job (its
// record, a new tick, a new snapshot), numbered in commit order and kept in
// a bounded ring. The state store publishes into it; the web console's event
// streams read from it, so a thousand open consoles cost one copy of each
// change and no query of the database. A reader that falls further behind
// than the ring holds is told so (`lost`) and starts again from the present.
// Thread-safe.
#ifndef PGAN_SERVICES_CHANGE_FEED_H_
#define PGAN_SERVICES_CHANGE_FEED_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pgan/v1/job.pb.h"

namespace google::protobuf {
class Message;
}

namespace pgan::services {

// A message as the HTTP API writes it: protobuf's JSON mapping with the
// proto field names, zero values included, enums by name.
std::string ToApiJson(const google::protobuf::Message& message);

struct Change {
  int64_t sequence = 0;  // From 1, in commit order.
  std::string owner;     // Of the job: who may see the change.
  std::string job_id;
  pgan::v1::JobEvent event;
  // ToApiJson(event), made once by the first reader that asks.
  const std::string& Json() const;

 private:
  mutable std::once_flag json_once_;
  mutable std::string json_;
};

class ChangeFeed {
 public:
  explicit ChangeFeed(size_t capacity = 4096);

  // Appends `event` of job `job_id`, owned by `owner`; wakes the readers.
  void Publish(const std::string& owner, const std::string& job_id,
               pgan::v1::JobEvent event);

  struct Batch {
    std::vector<std::shared_ptr<const Change>> changes;  // Oldest first.
    // Changes after the reader's sequence were dropped from the ring before
    // it read them: it must reload what it shows. `changes` then starts at
    // the oldest one kept.
    bool lost = false;
    bool closed = false;  // Close() was called: no more changes.
  };
  // The changes after `after` (0: all kept), waiting until `deadline` for
  // one when there is none yet.
  Batch Wait(int64_t after, absl::Time deadline) const;
  // The sequence of the newest change (0: none yet).
  int64_t last_sequence() const;
  // Wakes every reader and makes later waits return at once (at shutdown,
  // so that event streams end before their server stops).
  void Close();

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<std::shared_ptr<const Change>> ring_;
  int64_t last_ = 0;
  bool closed_ = false;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_CHANGE_FEED_H_
