// convtranspose: transposed convolution (PyTorch's ConvTranspose1d/2d/3d),
// convolution and their gradients in plain C++ with Eigen. Header-only, free
// of R headers, so another package can `LinkingTo: convtranspose, RcppEigen`
// and call it from its own C++:
//
//   convtranspose::ConvTransposeSpec spec;  ... fill hyperparameters ...
//   convtranspose::ConvGeometry geometry;
//   Status s = convtranspose::resolve_conv_transpose(spec, &geometry);
//   if (s.ok()) s = convtranspose::coarse_to_fine<double>(geometry, x, w, b, y, {});
//
// api.hpp says which operation is which pass of which layer; plan.hpp how
// each call's kernel path is chosen (paths.hpp lists them).
#ifndef CONVTRANSPOSE_CONVTRANSPOSE_HPP
#define CONVTRANSPOSE_CONVTRANSPOSE_HPP

#include "api.hpp"
#include "gather_gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "paths.hpp"
#include "plan.hpp"
#include "scatter_gemm.hpp"
#include "status.hpp"
#include "taps.hpp"

#endif
