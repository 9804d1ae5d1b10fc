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
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "batch_gemm.hpp"
#include "gather_gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "scatter_gemm.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

// A read-only view of a weight or bias in type T: the data itself when the
// type matches, else a converted copy.
template <class T, class Storage>
class ConvertedIn {
 public:
  ConvertedIn(const Storage* data, std::int64_t n) {
    if (std::is_same<T, Storage>::value || data == nullptr) {
      ptr_ = reinterpret_cast<const T*>(data);
    } else {
      buf_.resize(static_cast<std::size_t>(n));
      convert(data, buf_.data(), n);
      ptr_ = buf_.data();
    }
  }
  const T* get() const { return ptr_; }

 private:
  const T* ptr_ = nullptr;
  std::vector<T> buf_;
};

inline Status layout_out_of_memory() {
  return Status::error(StatusCode::out_of_memory,
                       "could not allocate working memory for the layout change");
}

// The geometry of samples [first, first + count) of a batch.
inline ConvGeometry batch_chunk(const ConvGeometry& g, std::int64_t count) {
  ConvGeometry chunk = g;
  chunk.batch = count;
  chunk.coarse_elements = count * g.coarse_channels * g.coarse_pixels;
  chunk.fine_elements = count * g.fine_channels * g.fine_pixels;
  return chunk;
}

// Samples per chunk so that the chunk's sample-major copies stay within
// options.layout_chunk_bytes (at least one sample).
inline std::int64_t samples_per_chunk(std::int64_t batch, std::int64_t bytes_per_sample,
                                      const ComputeOptions& options) {
  if (bytes_per_sample <= 0) return std::max<std::int64_t>(batch, 1);
  return std::max<std::int64_t>(1, std::min(batch, options.layout_chunk_bytes / bytes_per_sample));
}

// Runs a sample-major kernel over an R-layout batch, `arrays` inputs
// (per-sample sizes in_sizes) into one output (out_size per sample), chunk
// by chunk: the kernels want each sample's values together (R keeps the
// batch index fastest), so each chunk is copied sample-major, computed and,
// for the output, copied back. One sample in the compute type needs no copy.
// Working memory: one chunk's copies (options.layout_chunk_bytes), never the
// whole batch. `kernel(chunk_geometry, inputs[], output, first_chunk)`.
template <class T, class Storage, int Inputs, class Kernel>
Status run_in_chunks(const ConvGeometry& g, const Storage* const (&inputs)[Inputs],
                     const std::int64_t (&in_sizes)[Inputs], Storage* out, std::int64_t out_size,
                     const ComputeOptions& options, Kernel kernel) {
  const int nt = options.num_threads;
  try {
    if (std::is_same<T, Storage>::value && g.batch <= 1) {
      const T* direct[Inputs];
      for (int i = 0; i < Inputs; ++i) direct[i] = reinterpret_cast<const T*>(inputs[i]);
      return kernel(g, direct, reinterpret_cast<T*>(out), true);
    }
    std::int64_t per_sample = out_size;
    for (int i = 0; i < Inputs; ++i) per_sample += in_sizes[i];
    const std::int64_t step =
        samples_per_chunk(g.batch, per_sample * static_cast<std::int64_t>(sizeof(T)), options);
    WorkBuffer<T> in_buf[Inputs];
    for (int i = 0; i < Inputs; ++i) in_buf[i].reset(static_cast<std::size_t>(step * in_sizes[i]));
    WorkBuffer<T> out_buf(static_cast<std::size_t>(step * out_size));
    for (std::int64_t n0 = 0; n0 < std::max<std::int64_t>(g.batch, 1); n0 += step) {
      const std::int64_t count = std::min(step, g.batch - n0);
      const T* chunk_in[Inputs];
      for (int i = 0; i < Inputs; ++i) {
        // samples n0.. of the (batch x in_size) R array, to sample-major
        transpose_convert(inputs[i] + n0, in_buf[i].data(), count, in_sizes[i], nt, g.batch);
        chunk_in[i] = in_buf[i].data();
      }
      Status status = kernel(batch_chunk(g, count), chunk_in, out_buf.data(), n0 == 0);
      if (!status.ok()) return status;
      if (out != nullptr)
        transpose_convert(out_buf.data(), out + n0, out_size, count, nt, 0, g.batch);
      if (g.batch == 0) break;
    }
  } catch (const std::bad_alloc&) {
    return layout_out_of_memory();
  }
  return Status::success();
}

// A forward-style operation (coarse_to_fine or fine_to_coarse): `in` in R
// layout, the weight and bias converted to T, the output in R layout.
template <class T, class Storage, class Kernel>
Status run_in_r_layout(const ConvGeometry& g, const Storage* in, std::int64_t in_per_sample,
                       const Storage* weight, const Storage* bias, std::int64_t bias_length,
                       Storage* out, std::int64_t out_per_sample, const ComputeOptions& options,
                       Kernel kernel) {
  try {
    ConvertedIn<T, Storage> w(weight, g.weight_elements);
    ConvertedIn<T, Storage> b(bias, bias_length);
    const Storage* const inputs[1] = {in};
    const std::int64_t sizes[1] = {in_per_sample};
    return run_in_chunks<T, Storage, 1>(
        g, inputs, sizes, out, out_per_sample, options,
        [&](const ConvGeometry& chunk, const T* const* x, T* y, bool) {
          return kernel(chunk, x[0], w.get(), b.get(), y, options);
        });
  } catch (const std::bad_alloc&) {
    return layout_out_of_memory();
  }
}

// The AVX-512 build's products on R's layout itself (batch_gemm.hpp), for
// the batches batch_in_place() takes, where the same choices as the sample-major
// kernels (scatter_gemm, gather_gemm) would take the phase or implicit
// product. Returns false, with nothing written, where they do not apply.
template <class T, class Storage>
bool products_in_place(bool to_fine, const ConvGeometry& g, const Storage* in,
                       const Storage* weight, const Storage* bias, Storage* out,
                       const ComputeOptions& options, Status* status) {
#if defined(CONVTRANSPOSE_GEMM_AVX512)
  const std::int64_t ccg = g.coarse_channels_per_group, cfg = g.fine_channels_per_group;
  if (!batch_in_place(g) || (to_fine ? ccg < 2 : cfg < 4)) return false;
  try {
    ConvertedIn<T, Storage> w(weight, g.weight_elements);
    ConvertedIn<T, Storage> b(bias, to_fine ? g.fine_channels : g.coarse_channels);
    auto finite = [&]() { return all_finite(w.get(), g.weight_elements, options.num_threads); };
    if (to_fine) {
      if (!finite()) return false;
      const std::vector<Phase> phases = phases_of(g);
      if (!phase_gemm_pays<T>(g, phases)) return false;
      *status = batch_phase_gemm<T>(g, phases, in, w.get(), b.get(), out, options);
    } else {
      if (ccg == 1 && finite()) return false;  // the direct kernel's case
      *status = batch_gather_gemm<T>(g, in, w.get(), b.get(), out, options);
    }
  } catch (const std::bad_alloc&) {
    *status = layout_out_of_memory();
  }
  return true;
#else
  (void)to_fine, (void)g, (void)in, (void)weight, (void)bias, (void)out, (void)options;
  (void)status;
  return false;
#endif
}

}  // namespace detail

// coarse: geometry.coarse_elements values; weight (C_coarse, C_fine/g,
// kernel...); bias: C_fine values or null; fine: overwritten.
template <class T, class Storage>
Status coarse_to_fine(const ConvGeometry& geometry, const Storage* coarse, const Storage* weight,
                      const Storage* bias, Storage* fine, const ComputeOptions& options) {
  const ConvGeometry g = compute_geometry(geometry);
  Status status;
  if (detail::products_in_place<T>(true, g, coarse, weight, bias, fine, options, &status))
    return status;
  return detail::run_in_r_layout<T>(g, coarse, g.coarse_channels * g.coarse_pixels, weight, bias,
                                    g.fine_channels, fine, g.fine_channels * g.fine_pixels, options,
                                    scatter_gemm<T>);
}

// fine: geometry.fine_elements values; bias: C_coarse values or null;
// coarse: overwritten.
template <class T, class Storage>
Status fine_to_coarse(const ConvGeometry& geometry, const Storage* fine, const Storage* weight,
                      const Storage* bias, Storage* coarse, const ComputeOptions& options) {
  const ConvGeometry g = compute_geometry(geometry);
  Status status;
  if (detail::products_in_place<T>(false, g, fine, weight, bias, coarse, options, &status))
    return status;
  return detail::run_in_r_layout<T>(g, fine, g.fine_channels * g.fine_pixels, weight, bias,
                                    g.coarse_channels, coarse, g.coarse_channels * g.coarse_pixels,
                                    options, gather_gemm<T>);
}

// grad_weight (C_coarse, C_fine/g, kernel...): overwritten with the sum over
// samples and pixels of coarse values times the fine values their taps reach.
template <class T, class Storage>
Status weight_gradient(const ConvGeometry& geometry, const Storage* coarse, const Storage* fine,
                       Storage* grad_weight, const ComputeOptions& options) {
  const ConvGeometry g = compute_geometry(geometry);
#if defined(CONVTRANSPOSE_GEMM_AVX512)
  // On R's layout itself (batch_gemm.hpp); one coarse channel per group
  // has its direct kernel.
  if (detail::batch_in_place(g) && g.coarse_channels_per_group >= 2) {
    Status status;
    if (detail::batch_weight_gradient<T, Storage>(g, coarse, fine, grad_weight, options, &status))
      return status;
  }
#endif
  try {
    // The first chunk's sum goes straight into the total (the result itself
    // when the types match), later chunks' sums are added to it.
    const std::size_t n = static_cast<std::size_t>(g.weight_elements);
    std::vector<T> total_buf, part;
    T* total = reinterpret_cast<T*>(grad_weight);
    if (!std::is_same<T, Storage>::value) {
      total_buf.resize(n);
      total = total_buf.data();
    }
    const Storage* const inputs[2] = {coarse, fine};
    const std::int64_t sizes[2] = {g.coarse_channels * g.coarse_pixels,
                                   g.fine_channels * g.fine_pixels};
    Status status = detail::run_in_chunks<T, Storage, 2>(
        g, inputs, sizes, static_cast<Storage*>(nullptr), 0, options,
        [&](const ConvGeometry& chunk, const T* const* x, T*, bool first) {
          if (!first && part.empty()) part.resize(n);
          Status s =
              weight_gradient_gemm<T>(chunk, x[0], x[1], first ? total : part.data(), options);
          if (s.ok() && !first)
            for (std::size_t i = 0; i < n; ++i) total[i] += part[i];
          return s;
        });
    if (!status.ok()) return status;
    if (!total_buf.empty()) convert(total, grad_weight, g.weight_elements);
  } catch (const std::bad_alloc&) {
    return detail::layout_out_of_memory();
  }
  return Status::success();
}

}  // namespace convtranspose

#endif
