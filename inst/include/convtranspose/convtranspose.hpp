// convtranspose: transposed convolution (PyTorch's ConvTranspose1d/2d/3d) in
// plain C++ with Eigen. Header-only, free of R headers, so another package can
// `LinkingTo: convtranspose, RcppEigen` and call it from its own C++.
//
//   convtranspose::ConvTransposeSpec spec;  ... fill hyperparameters ...
//   convtranspose::ConvGeometry geometry;
//   Status s = convtranspose::resolve_conv_transpose(spec, &geometry);
//   s = convtranspose::conv_transpose_forward<double>(geometry, x, w, b, y, {});
#ifndef CONVTRANSPOSE_CONVTRANSPOSE_HPP
#define CONVTRANSPOSE_CONVTRANSPOSE_HPP

#include "conv_transpose.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "scatter_gemm.hpp"
#include "status.hpp"

#endif
