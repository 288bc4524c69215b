// A small key-value store through which the ranks of a gang find each other
// before their communicator exists: the collective engine's rendezvous (Gloo
// exchanges its pair addresses through it). Pool workers use the
// coordinator's store, scoped to one generation of one job; tests and
// one-process jobs use InMemoryKeyValueStore. Keys are written once.
#ifndef PGAN_WORKER_KEY_VALUE_STORE_H_
#define PGAN_WORKER_KEY_VALUE_STORE_H_

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pgan::comm {

class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual absl::Status Set(const std::string& key,
                           const std::string& value) = 0;
  // The value of `key`, waiting up to `timeout` for some rank to set it
  // (DEADLINE_EXCEEDED naming the key after that).
  virtual absl::StatusOr<std::string> Get(const std::string& key,
                                          absl::Duration timeout) = 0;
};

// Thread-safe; shared by the threads of one process.
class InMemoryKeyValueStore final : public KeyValueStore {
 public:
  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key,
                                  absl::Duration timeout) override;

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::string> values_;
};

}  // namespace pgan::comm

#endif  // PGAN_WORKER_KEY_VALUE_STORE_H_
