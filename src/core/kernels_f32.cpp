// Single-precision instantiation: R's doubles in and out, float arithmetic.
#include <convtranspose/convtranspose.hpp>

namespace convtranspose {
template Status conv_transpose_forward<float, double>(const ConvGeometry&, const double*,
                                                      const double*, const double*, double*,
                                                      const ComputeOptions&);
}  // namespace convtranspose
