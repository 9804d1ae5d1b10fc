// Double-precision instantiation of the core kernels.
#include <convtranspose/convtranspose.hpp>

namespace convtranspose {
template Status conv_transpose_forward<double, double>(const ConvGeometry&, const double*,
                                                       const double*, const double*, double*,
                                                       const ComputeOptions&);
}  // namespace convtranspose
