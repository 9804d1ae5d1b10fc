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

#include "batch_products.hpp"
#include "batch_weight_gradient.hpp"
#include "gather_gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "phase_gemm.hpp"
#include "stacked_phases.hpp"
#include "plan.hpp"
#include "scatter_gemm.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

// A read-only view of a weight or bias in type T: the data itself when the
// type matches, else a converted copy.
template <class T, class Storage>
class ConvertedIn {
 public:
  ConvertedIn(const Storage* data, std::int64_t n, int num_threads) {
    if (std::is_same<T, Storage>::value || data == nullptr) {
      ptr_ = reinterpret_cast<const T*>(data);
    } else {
      buf_.reset(static_cast<std::size_t>(n));
      convert(data, buf_.data(), n, num_threads);
      ptr_ = buf_.data();
    }
  }
  const T* get() const { return ptr_; }

 private:
  const T* ptr_ = nullptr;
  WorkBuffer<T> buf_;  // (uninitialised: convert() writes all of it)
};

// run(input) on the input of an in-place product in the type it is read in:
// float32 reads a float copy of R's doubles, converted once on the team,
// where it fits within layout_chunk_bytes (rather than converting each
// value again at every tap that reads it); otherwise the array itself.
template <class T, class Storage, class Run>
Status with_input_as_compute(const Storage* in, std::int64_t n, const ComputeOptions& options,
                             Run run) {
  if (!std::is_same<T, Storage>::value &&
      n * static_cast<std::int64_t>(sizeof(T)) <= options.layout_chunk_bytes) {
    WorkBuffer<T> copy(static_cast<std::size_t>(n));
    convert(in, copy.data(), n, options.num_threads);
    return run(static_cast<const T*>(copy.data()));
  }
  return run(in);
}

// Runs a sample-major kernel over an R-layout batch, `arrays` inputs
// (per-sample sizes in_sizes) into one output (out_size per sample), chunk
// by chunk of plan.chunk_samples: the kernels want each sample's values
// together (R keeps the batch index fastest), so each chunk is copied
// sample-major, computed and, for the output, copied back. A chunk size of 0
// (one sample in the compute type) needs no copy. Working memory: one
// chunk's copies, never the whole batch.
// `kernel(chunk_geometry, inputs[], output, first_chunk)`.
template <class T, class Storage, int Inputs, class Kernel>
Status run_in_chunks(const Plan& plan, const ConvGeometry& g,
                     const Storage* const (&inputs)[Inputs], const std::int64_t (&in_sizes)[Inputs],
                     Storage* out, std::int64_t out_size, const ComputeOptions& options,
                     Kernel kernel) {
  const int nt = options.num_threads;
  if (plan.chunk_samples == 0) {
    const T* direct[Inputs];
    for (int i = 0; i < Inputs; ++i) direct[i] = reinterpret_cast<const T*>(inputs[i]);
    return kernel(g, direct, reinterpret_cast<T*>(out), true);
  }
  const std::int64_t step = plan.chunk_samples;
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
  return Status::success();
}

// A forward-style operation (coarse_to_fine or fine_to_coarse) on a
// sample-major path: `in` in R layout, the output in R layout.
template <class T, class Storage, class Kernel>
Status run_sample_major(const Plan& plan, const ConvGeometry& g, const Storage* in,
                        std::int64_t in_per_sample, Storage* out, std::int64_t out_per_sample,
                        const ComputeOptions& options, Kernel kernel) {
  const Storage* const inputs[1] = {in};
  const std::int64_t sizes[1] = {in_per_sample};
  return run_in_chunks<T, Storage, 1>(
      plan, g, inputs, sizes, out, out_per_sample, options,
      [&](const ConvGeometry& chunk, const T* const* x, T* y, bool) { return kernel(chunk, x[0], y); });
}

// The plan's path and reason, for the caller (options.report).
inline void report(const Plan& plan, const ComputeOptions& options) {
  if (options.report == nullptr) return;
  options.report->path = static_cast<int>(plan.path);
  const std::size_t n = sizeof(options.report->reason) - 1;
  plan.reason.copy(options.report->reason, n);
  options.report->reason[std::min(n, plan.reason.size())] = '\0';
}

inline Status not_in_this_build(const Plan& plan) {
  return Status::error(StatusCode::internal,
                       std::string("path ") + path_info(plan.path).name + " is not in this build");
}

// The in-place weight gradients read R's doubles (the only storage the
// package uses); another storage type takes the sample-major paths.
template <class T>
Status weight_gradient_in_place(const Plan& plan, const ConvGeometry& g, const double* coarse,
                                const double* fine, double* grad, const ComputeOptions& options) {
#if defined(CONVTRANSPOSE_SIMD_GEMM)
  if (plan.path == Path::weight_in_place_packed)
    return batch_weight_gradient_gathered<T>(g, coarse, fine, grad, options);
  if (plan.path == Path::weight_in_place_registers)
    return batch_weight_gradient_registers(g, coarse, fine, grad, options);
#else
  (void)g, (void)coarse, (void)fine, (void)grad, (void)options;
#endif
  return not_in_this_build(plan);
}

template <class T, class Storage>
Status weight_gradient_in_place(const Plan& plan, const ConvGeometry&, const Storage*,
                                const Storage*, Storage*, const ComputeOptions&) {
  return not_in_this_build(plan);
}

inline bool on_r_layout(Path path) {
  return path == Path::phase_in_place || path == Path::implicit_in_place ||
         path == Path::weight_in_place_packed || path == Path::weight_in_place_registers;
}

}  // namespace detail

// coarse: geometry.coarse_elements values; weight (C_coarse, C_fine/g,
// kernel...); bias: C_fine values or null; fine: overwritten.
template <class T, class Storage>
Status coarse_to_fine(const ConvGeometry& geometry, const Storage* coarse, const Storage* weight,
                      const Storage* bias, Storage* fine, const ComputeOptions& options) {
  const ConvGeometry g = compute_geometry(geometry);
  return detail::guarded([&]() -> Status {
    const int nt = options.num_threads;
    const detail::ConvertedIn<T, Storage> b(bias, g.fine_channels, nt);
    // (finite as T: a double beyond float's range is Inf in float32)
    auto plan_for = [&](bool in_place_checks_weight) {
      return plan_coarse_to_fine<T>(
          g, std::is_same<T, Storage>::value, options,
          [&]() { return detail::all_finite_as<T>(weight, g.weight_elements, options.num_threads); },
          in_place_checks_weight);
    };
    Plan plan = plan_for(true);
#if defined(CONVTRANSPOSE_SIMD_GEMM)
    // (the in-place products pack the weight from R's doubles themselves)
    if (plan.status.ok() && plan.path == Path::phase_in_place) {
      bool weight_finite = true;
      const Status done = detail::with_input_as_compute<T>(
          coarse, g.coarse_elements, options, [&](const auto* x) {
            return detail::batch_phase_gemm<T>(g, plan, x, weight, b.get(), fine, options,
                                               &weight_finite);
          });
      if (!done.ok() || weight_finite) {
        detail::report(plan, options);
        return done;
      }
      plan = plan_for(false);  // (its packing met a NaN or Inf)
    }
#endif
    detail::report(plan, options);
    if (!plan.status.ok()) return plan.status;
    // (the phase paths pack the weight from the storage themselves)
    const bool packs_weight =
        plan.path == Path::phase_sample_major || plan.path == Path::phase_stacked;
    const detail::ConvertedIn<T, Storage> w(packs_weight ? nullptr : weight, g.weight_elements, nt);
    return detail::run_sample_major<T>(
        plan, g, coarse, g.coarse_channels * g.coarse_pixels, fine,
        g.fine_channels * g.fine_pixels, options,
        [&](const ConvGeometry& chunk, const T* x, T* y) -> Status {
          switch (plan.path) {
            case Path::direct_scatter:
              return direct_scatter(chunk, plan, x, w.get(), b.get(), y, options);
#if defined(CONVTRANSPOSE_SIMD_GEMM)
            case Path::phase_sample_major:
              return detail::phase_sample_major(chunk, plan, x, weight, b.get(), y, options);
            case Path::phase_stacked:
              return detail::phase_stacked(chunk, plan, x, weight, b.get(), y, options);
#endif
            case Path::gemm_col2im:
              return gemm_col2im(chunk, plan, x, w.get(), b.get(), y, options);
            default:
              return detail::not_in_this_build(plan);
          }
        });
  });
}

// fine: geometry.fine_elements values; bias: C_coarse values or null;
// coarse: overwritten.
template <class T, class Storage>
Status fine_to_coarse(const ConvGeometry& geometry, const Storage* fine, const Storage* weight,
                      const Storage* bias, Storage* coarse, const ComputeOptions& options) {
  const ConvGeometry g = compute_geometry(geometry);
  return detail::guarded([&]() -> Status {
    const int nt = options.num_threads;
    const detail::ConvertedIn<T, Storage> b(bias, g.coarse_channels, nt);
    const Plan plan = plan_fine_to_coarse<T>(g, std::is_same<T, Storage>::value, options, [&]() {
      return detail::all_finite_as<T>(weight, g.weight_elements, options.num_threads);
    });
    detail::report(plan, options);
    if (!plan.status.ok()) return plan.status;
#if defined(CONVTRANSPOSE_SIMD_GEMM)
    if (plan.path == Path::implicit_in_place)
      return detail::with_input_as_compute<T>(
          fine, g.fine_elements, options, [&](const auto* y) {
            return detail::batch_gather_gemm<T>(g, plan, y, weight, b.get(), coarse, options);
          });
#endif
    // (implicit_sample_major packs the weight itself, in rounds)
    const bool packs_weight = plan.path == Path::implicit_sample_major;
    const detail::ConvertedIn<T, Storage> w(packs_weight ? nullptr : weight, g.weight_elements, nt);
    return detail::run_sample_major<T>(
        plan, g, fine, g.fine_channels * g.fine_pixels, coarse,
        g.coarse_channels * g.coarse_pixels, options,
        [&](const ConvGeometry& chunk, const T* x, T* y) -> Status {
          switch (plan.path) {
            case Path::direct_gather:
              return direct_gather(chunk, plan, x, w.get(), b.get(), y, options);
#if defined(CONVTRANSPOSE_SIMD_GEMM)
            case Path::implicit_sample_major:
              return detail::implicit_gather_gemm(chunk, plan.run_taps, weight, x, b.get(), y,
                                                  options);
#endif
            case Path::im2col_gemm:
              return im2col_gemm(chunk, plan, x, w.get(), b.get(), y, options);
            default:
              return detail::not_in_this_build(plan);
          }
        });
  });
}

// grad_weight (C_coarse, C_fine/g, kernel...): overwritten with the sum over
// samples and pixels of coarse values times the fine values their taps reach.
template <class T, class Storage>
Status weight_gradient(const ConvGeometry& geometry, const Storage* coarse, const Storage* fine,
                       Storage* grad_weight, const ComputeOptions& options) {
  const ConvGeometry g = compute_geometry(geometry);
  return detail::guarded([&]() -> Status {
    const Plan plan = plan_weight_gradient<T>(g, std::is_same<T, Storage>::value, options, [&]() {
      return detail::all_finite_as<T>(coarse, g.coarse_elements, options.num_threads);
    });
    detail::report(plan, options);
    if (!plan.status.ok()) return plan.status;
    if (detail::on_r_layout(plan.path))
      return detail::weight_gradient_in_place<T>(plan, g, coarse, fine, grad_weight, options);
    // The first chunk's sum goes straight into the total (the result itself
    // when the types match), later chunks' sums are added to it.
    const std::size_t n = static_cast<std::size_t>(g.weight_elements);
    // (uninitialised: the weight kernels start their sums from zero)
    WorkBuffer<T> total_buf;
    std::vector<T> part;
    T* total = reinterpret_cast<T*>(grad_weight);
    const bool converted = !std::is_same<T, Storage>::value;
    if (converted) {
      total_buf.reset(n);
      total = total_buf.data();
    }
    const Storage* const inputs[2] = {coarse, fine};
    const std::int64_t sizes[2] = {g.coarse_channels * g.coarse_pixels,
                                   g.fine_channels * g.fine_pixels};
    Status status = detail::run_in_chunks<T, Storage, 2>(
        plan, g, inputs, sizes, static_cast<Storage*>(nullptr), 0, options,
        [&](const ConvGeometry& chunk, const T* const* x, T*, bool first) -> Status {
          if (!first && part.empty()) part.resize(n);
          T* sum = first ? total : part.data();
          Status s = plan.path == Path::direct_weight
                         ? direct_weight<T>(chunk, plan, x[0], x[1], sum, options)
                         : weight_columns<T>(chunk, plan, x[0], x[1], sum, options);
          if (s.ok() && !first)
            for (std::size_t i = 0; i < n; ++i) total[i] += part[i];
          return s;
        });
    if (!status.ok()) return status;
    if (converted) convert(total, grad_weight, g.weight_elements, options.num_threads);
    return Status::success();
  });
}

}  // namespace convtranspose

#endif
