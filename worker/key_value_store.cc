#include "worker/key_value_store.h"

#include "absl/strings/str_cat.h"

namespace pgan::comm {

absl::Status InMemoryKeyValueStore::Set(const std::string& key,
                                        const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[key] = value;
  changed_.notify_all();
  return absl::OkStatus();
}

absl::StatusOr<std::string> InMemoryKeyValueStore::Get(const std::string& key,
                                                       absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool found = changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                                       [&] { return values_.count(key) > 0; });
  if (!found) {
    return absl::DeadlineExceededError(absl::StrCat(
        "key '", key, "' not set within ", absl::FormatDuration(timeout)));
  }
  return values_.at(key);
}

}  // namespace pgan::comm
