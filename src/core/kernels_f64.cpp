// Double-precision instantiation of the core operations.
#include "instantiate.hpp"

namespace convtranspose {
CONVTRANSPOSE_INSTANTIATE(, double)
}  // namespace convtranspose
