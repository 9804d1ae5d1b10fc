// The kernels are templates in inst/include; the baseline build instantiates
// them once per compute type in their own translation units (kernels_f64.cpp,
// kernels_f32.cpp, compiled in parallel) and only declares them elsewhere.
// (isa_entry.cpp instantiates its own copy for each ISA library.)
#ifndef CONVTRANSPOSE_SRC_INSTANTIATE_HPP
#define CONVTRANSPOSE_SRC_INSTANTIATE_HPP

#include <convtranspose/convtranspose.hpp>

#define CONVTRANSPOSE_INSTANTIATE(PREFIX, T)                                                    \
  PREFIX template Status coarse_to_fine<T, double>(const ConvGeometry&, const double*,          \
                                                   const double*, const double*, double*,       \
                                                   const ComputeOptions&);                      \
  PREFIX template Status fine_to_coarse<T, double>(const ConvGeometry&, const double*,          \
                                                   const double*, const double*, double*,       \
                                                   const ComputeOptions&);                      \
  PREFIX template Status weight_gradient<T, double>(const ConvGeometry&, const double*,         \
                                                    const double*, double*, const ComputeOptions&);

namespace convtranspose {
CONVTRANSPOSE_INSTANTIATE(extern, double)
CONVTRANSPOSE_INSTANTIATE(extern, float)
}  // namespace convtranspose

#endif
