// Public entry point for a transposed convolution on arrays in R's layout
// (column-major dim c(N, C, d1, ..., dr)), with the arithmetic done in the
// scalar type `T` (double or float) whatever the storage type `Storage`.
#ifndef CONVTRANSPOSE_CONV_TRANSPOSE_HPP
#define CONVTRANSPOSE_CONV_TRANSPOSE_HPP

#include <cstdint>
#include <new>
#include <type_traits>
#include <vector>

#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "scatter_gemm.hpp"
#include "status.hpp"

namespace convtranspose {

// input: batch-fastest layout, geometry.coarse_elements values; weight:
// (C_in, C_out/g, kernel...) column-major; bias: C_out values or null;
// output: batch-fastest layout, geometry.fine_elements values, overwritten.
template <class T, class Storage>
Status conv_transpose_forward(const ConvGeometry& g, const Storage* input, const Storage* weight,
                              const Storage* bias, Storage* output, const ComputeOptions& options) {
  constexpr bool same_type = std::is_same<T, Storage>::value;
  const std::int64_t n = g.batch;
  const std::int64_t in_per_sample = g.coarse_channels * g.coarse_pixels;
  const std::int64_t out_per_sample = g.fine_channels * g.fine_pixels;
  try {
    // Sample-major copies are needed only when there is more than one sample
    // or the compute type differs from the storage type.
    std::vector<T> input_buf, weight_buf, bias_buf, output_buf;
    const T* x;
    const T* w;
    const T* b = nullptr;
    T* y;
    if (same_type && n <= 1) {
      x = reinterpret_cast<const T*>(input);
    } else {
      input_buf.resize(static_cast<std::size_t>(g.coarse_elements));
      transpose_convert(input, input_buf.data(), n, in_per_sample, options.num_threads);
      x = input_buf.data();
    }
    if (same_type) {
      w = reinterpret_cast<const T*>(weight);
      if (bias) b = reinterpret_cast<const T*>(bias);
    } else {
      weight_buf.resize(static_cast<std::size_t>(g.weight_elements));
      convert(weight, weight_buf.data(), g.weight_elements);
      w = weight_buf.data();
      if (bias) {
        bias_buf.resize(static_cast<std::size_t>(g.fine_channels));
        convert(bias, bias_buf.data(), g.fine_channels);
        b = bias_buf.data();
      }
    }
    if (same_type && n <= 1) {
      y = reinterpret_cast<T*>(output);
    } else {
      output_buf.resize(static_cast<std::size_t>(g.fine_elements));
      y = output_buf.data();
    }
    Status status = scatter_gemm<T>(g, x, w, b, y, options);
    if (!status.ok()) return status;
    if (!output_buf.empty())
      transpose_convert(output_buf.data(), output, out_per_sample, n, options.num_threads);
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory,
                         "could not allocate working memory for the layout change");
  }
  return Status::success();
}

}  // namespace convtranspose

#endif
