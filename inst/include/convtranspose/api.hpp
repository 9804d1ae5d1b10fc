// Public entry points on arrays in R's layout (column-major dim
// c(N, C, d1, ..., dr), batch fastest), with the arithmetic in the scalar type
// `T` (double or float) whatever the storage type `Storage`.
//
// Three operations cover both layers, forward and backward:
//
//   operation        transposed convolution          convolution
//   coarse_to_fine   forward (input -> output)       gradient wrt input
//   fine_to_coarse   gradient wrt input              forward (input -> output)
//   weight_gradient  gradient wrt weight             gradient wrt weight
//
// with the geometry from resolve_conv_transpose() or resolve_conv().
#ifndef CONVTRANSPOSE_API_HPP
#define CONVTRANSPOSE_API_HPP

#include <cstdint>
#include <new>
#include <type_traits>
#include <vector>

#include "gather_gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "scatter_gemm.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

// A read-only sample-major view of an R-layout array in type T: the data
// itself when nothing needs changing (one sample, same type), else a copy.
template <class T, class Storage>
class SampleMajorIn {
 public:
  SampleMajorIn(const Storage* data, std::int64_t batch, std::int64_t per_sample, int threads) {
    if (std::is_same<T, Storage>::value && batch <= 1) {
      ptr_ = reinterpret_cast<const T*>(data);
    } else {
      buf_.resize(static_cast<std::size_t>(batch * per_sample));
      transpose_convert(data, buf_.data(), batch, per_sample, threads);
      ptr_ = buf_.data();
    }
  }
  const T* get() const { return ptr_; }

 private:
  const T* ptr_ = nullptr;
  std::vector<T> buf_;
};

// A writable sample-major view of an R-layout output; commit() writes a copy
// back (transposed and converted) when one was needed.
template <class T, class Storage>
class SampleMajorOut {
 public:
  SampleMajorOut(Storage* data, std::int64_t batch, std::int64_t per_sample)
      : data_(data), batch_(batch), per_sample_(per_sample) {
    if (std::is_same<T, Storage>::value && batch <= 1) {
      ptr_ = reinterpret_cast<T*>(data);
    } else {
      buf_.resize(static_cast<std::size_t>(batch * per_sample));
      ptr_ = buf_.data();
    }
  }
  T* get() { return ptr_; }
  void commit(int threads) {
    if (!buf_.empty()) transpose_convert(buf_.data(), data_, per_sample_, batch_, threads);
  }

 private:
  Storage* data_;
  std::int64_t batch_, per_sample_;
  T* ptr_ = nullptr;
  std::vector<T> buf_;
};

inline Status layout_out_of_memory() {
  return Status::error(StatusCode::out_of_memory,
                       "could not allocate working memory for the layout change");
}

}  // namespace detail

namespace detail {

// Runs a sample-major kernel(geometry, in, weight, bias, out, options) on
// R-layout arrays: `in` has in_per_sample values per sample, `out`
// out_per_sample, the bias bias_length.
template <class T, class Storage, class Kernel>
Status run_in_r_layout(const ConvGeometry& g, const Storage* in, std::int64_t in_per_sample,
                       const Storage* weight, const Storage* bias, std::int64_t bias_length,
                       Storage* out, std::int64_t out_per_sample, const ComputeOptions& options,
                       Kernel kernel) {
  const int nt = options.num_threads;
  try {
    SampleMajorIn<T, Storage> x(in, g.batch, in_per_sample, nt);
    SampleMajorIn<T, Storage> w(weight, 1, g.weight_elements, nt);
    SampleMajorIn<T, Storage> b(bias, bias ? 1 : 0, bias_length, nt);
    SampleMajorOut<T, Storage> y(out, g.batch, out_per_sample);
    Status status = kernel(g, x.get(), w.get(), bias ? b.get() : nullptr, y.get(), options);
    if (!status.ok()) return status;
    y.commit(nt);
  } catch (const std::bad_alloc&) {
    return layout_out_of_memory();
  }
  return Status::success();
}

}  // namespace detail

// coarse: geometry.coarse_elements values; weight (C_coarse, C_fine/g,
// kernel...); bias: C_fine values or null; fine: overwritten.
template <class T, class Storage>
Status coarse_to_fine(const ConvGeometry& g, const Storage* coarse, const Storage* weight,
                      const Storage* bias, Storage* fine, const ComputeOptions& options) {
  return detail::run_in_r_layout<T>(g, coarse, g.coarse_channels * g.coarse_pixels, weight, bias,
                                    g.fine_channels, fine, g.fine_channels * g.fine_pixels, options,
                                    scatter_gemm<T>);
}

// fine: geometry.fine_elements values; bias: C_coarse values or null;
// coarse: overwritten.
template <class T, class Storage>
Status fine_to_coarse(const ConvGeometry& g, const Storage* fine, const Storage* weight,
                      const Storage* bias, Storage* coarse, const ComputeOptions& options) {
  return detail::run_in_r_layout<T>(g, fine, g.fine_channels * g.fine_pixels, weight, bias,
                                    g.coarse_channels, coarse, g.coarse_channels * g.coarse_pixels,
                                    options, gather_gemm<T>);
}

// grad_weight (C_coarse, C_fine/g, kernel...): overwritten with the sum over
// samples and pixels of coarse values times the fine values their taps reach.
template <class T, class Storage>
Status weight_gradient(const ConvGeometry& g, const Storage* coarse, const Storage* fine,
                       Storage* grad_weight, const ComputeOptions& options) {
  const int nt = options.num_threads;
  try {
    detail::SampleMajorIn<T, Storage> c(coarse, g.batch, g.coarse_channels * g.coarse_pixels, nt);
    detail::SampleMajorIn<T, Storage> f(fine, g.batch, g.fine_channels * g.fine_pixels, nt);
    detail::SampleMajorOut<T, Storage> dw(grad_weight, 1, g.weight_elements);
    Status status = weight_gradient_gemm<T>(g, c.get(), f.get(), dw.get(), options);
    if (!status.ok()) return status;
    dw.commit(nt);
  } catch (const std::bad_alloc&) {
    return detail::layout_out_of_memory();
  }
  return Status::success();
}

}  // namespace convtranspose

#endif
