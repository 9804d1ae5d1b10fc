// Per-call settings handed to the compute kernels by the caller.
#ifndef CONVTRANSPOSE_OPTIONS_HPP
#define CONVTRANSPOSE_OPTIONS_HPP

#include <cstdint>

#include "paths.hpp"

namespace convtranspose {

struct ComputeOptions {
  // Threads for this call only (an OpenMP num_threads clause); the global
  // OpenMP state is never changed.
  int num_threads = 1;
  // Polled on the calling thread between chunks of work; returning true makes
  // the kernel stop and report StatusCode::interrupted. Never called from a
  // worker thread, so it may call into the host (R_CheckUserInterrupt).
  bool (*interrupt_check)(void* context) = nullptr;
  void* interrupt_context = nullptr;
  // Upper bound for one tile of the GEMM's column buffer.
  std::int64_t tile_bytes = std::int64_t(8) << 20;
  // Upper bound for the sample-major copies of a chunk of the batch (its
  // input and output together), unless one sample alone is larger.
  std::int64_t layout_chunk_bytes = std::int64_t(32) << 20;
  // The per-core L2 cache of this machine (the caller reads it; 1 MB if
  // unknown): blocking that must stay in L2 is sized from it.
  std::int64_t l2_bytes = std::int64_t(1) << 20;
  // A path (paths.hpp) the caller forces for the operation it belongs to,
  // or -1; and where to report the path that ran, or null.
  int forced_path = -1;
  PathReport* report = nullptr;

  bool interrupted() const {
    return interrupt_check != nullptr && interrupt_check(interrupt_context);
  }
};

}  // namespace convtranspose

#endif
