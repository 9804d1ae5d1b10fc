// The kernels are templates in inst/include; they are instantiated once per
// compute type in their own translation units (compiled in parallel, and the
// place where per-ISA variants will live) and only declared elsewhere.
#ifndef CONVTRANSPOSE_SRC_INSTANTIATE_HPP
#define CONVTRANSPOSE_SRC_INSTANTIATE_HPP

#include <convtranspose/convtranspose.hpp>

namespace convtranspose {
extern template Status conv_transpose_forward<double, double>(const ConvGeometry&, const double*,
                                                              const double*, const double*, double*,
                                                              const ComputeOptions&);
extern template Status conv_transpose_forward<float, double>(const ConvGeometry&, const double*,
                                                             const double*, const double*, double*,
                                                             const ComputeOptions&);
}  // namespace convtranspose

#endif
