#include "trainer/torch_status.h"

#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {

absl::Status CatchTorch(const std::string& what,
                        const std::function<absl::Status()>& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace pgan::trainer
