// Status values returned by every core entry point. The core never throws
// across its public boundary, never aborts and never prints: callers (the R
// glue, another package, a C ABI) turn a Status into their own error.
#ifndef CONVTRANSPOSE_STATUS_HPP
#define CONVTRANSPOSE_STATUS_HPP

#include <string>
#include <utility>

namespace convtranspose {

enum class StatusCode : int {
  ok = 0,
  invalid_argument = 1,  // a hyperparameter out of its domain
  shape_mismatch = 2,    // sizes that do not fit together
  size_overflow = 3,     // a count that does not fit in 64 bits / R's limits
  out_of_memory = 4,     // an allocation inside the core failed
  interrupted = 5,       // the caller's interrupt check asked to stop
  internal = 6,          // a bug: should never be seen
  device_error = 7       // a GPU, driver or cuDNN failure (the CUDA backend)
};

struct Status {
  StatusCode code = StatusCode::ok;
  std::string message;

  bool ok() const { return code == StatusCode::ok; }
  static Status success() { return Status(); }
  static Status error(StatusCode code, std::string message) {
    Status s;
    s.code = code;
    s.message = std::move(message);
    return s;
  }
};

}  // namespace convtranspose

#endif
