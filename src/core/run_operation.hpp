// One operation of isa_entry.h on the core (the copy compiled into the
// including library): shared by the baseline build (isa_loader.cpp) and
// isa_entry.cpp (the AVX2 and AVX-512 builds). `first`, `second`: coarse and
// weight, fine and weight, or coarse and fine, in the order of the
// operation's name.
#ifndef CONVTRANSPOSE_SRC_RUN_OPERATION_HPP
#define CONVTRANSPOSE_SRC_RUN_OPERATION_HPP

#include <convtranspose/convtranspose.hpp>

#include "isa_entry.h"

namespace convtranspose {

inline Status run_operation(int operation, bool single, const ConvGeometry& g, const double* first,
                            const double* second, const double* bias, double* out,
                            const ComputeOptions& options) {
  switch (operation) {
    case CONVTRANSPOSE_COARSE_TO_FINE:
      return single ? coarse_to_fine<float>(g, first, second, bias, out, options)
                    : coarse_to_fine<double>(g, first, second, bias, out, options);
    case CONVTRANSPOSE_FINE_TO_COARSE:
      return single ? fine_to_coarse<float>(g, first, second, bias, out, options)
                    : fine_to_coarse<double>(g, first, second, bias, out, options);
    case CONVTRANSPOSE_WEIGHT_GRADIENT:
      return single ? weight_gradient<float>(g, first, second, out, options)
                    : weight_gradient<double>(g, first, second, out, options);
    default:
      return Status::error(StatusCode::internal, "unknown operation");
  }
}

}  // namespace convtranspose

#endif
