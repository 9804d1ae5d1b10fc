// Single-precision instantiation: R's doubles in and out, float arithmetic.
#include "instantiate.hpp"

namespace convtranspose {
CONVTRANSPOSE_INSTANTIATE(, float)
}  // namespace convtranspose
