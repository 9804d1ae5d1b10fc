// The fine -> coarse direction and the weight gradient.
//
// gather_gemm: a convolution's forward pass, which is also the gradient of a
// transposed convolution with respect to its input. For each group,
//   coarse_g += W_g (C_coarse/g x C_fine/g * taps) * columns,
// where `columns` gathers, for every coarse pixel and tap, the fine channels
// at fine = coarse * stride - padding + tap * dilation (zero outside the fine
// grid): im2col, the exact inverse of scatter_gemm's col2im, in the same
// column layout.
//
// weight_gradient_gemm: the gradient of either layer with respect to its
// weight, dW_g = X_g (coarse channels x pixels) * columns^T, with the columns
// gathered from the fine side the same way.
//
// Both work in tiles of bounded size with the interrupt callback polled on the
// calling thread between blocks; threads own disjoint outputs (coarse pixels,
// or weight columns), so nothing is written by two threads.
#ifndef CONVTRANSPOSE_GATHER_GEMM_HPP
#define CONVTRANSPOSE_GATHER_GEMM_HPP

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE  // parallelism is ours, outside the GEMM
#endif

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <exception>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "geometry.hpp"
#include "options.hpp"
#include "status.hpp"
#include "taps.hpp"

namespace convtranspose {
namespace detail {

// Fills columns for coarse pixels [q0, q1) and taps [k0, k1) of `group`:
// column (q - q0) holds, tap after tap, the group's C_fine/g channels of the
// fine pixel that tap reads, or zeros where it falls outside the fine grid.
template <class T>
void gather_columns(const ConvGeometry& g, const TapTable& taps, const T* fine, std::int64_t q0,
                    std::int64_t q1, std::int64_t k0, std::int64_t k1, std::int64_t group,
                    T* cols) {
  const std::int64_t cfg = g.fine_channels_per_group, cf = g.fine_channels;
  const std::int64_t P = g.coarse_pixels;
  const std::int64_t* F = g.fine_size;
  const std::int64_t* K = g.kernel_size;
  const std::int64_t C0 = g.coarse_size[0], C1 = g.coarse_size[1], C2 = g.coarse_size[2];
  const std::int64_t tap_step[kMaxRank] = {g.dilation[0] * cf, g.dilation[1] * F[0] * cf,
                                           g.dilation[2] * F[0] * F[1] * cf};
  const std::int64_t ld = cfg * (k1 - k0);
  const bool all_taps = k0 == 0 && k1 == g.kernel_taps;
  std::int64_t n = q0 / P, pix = q0 - n * P;
  std::int64_t i0 = pix % C0, i1 = (pix / C0) % C1, i2 = pix / (C0 * C1);
  for (std::int64_t q = q0; q < q1; ++q) {
    T* col = cols + (q - q0) * ld;
    std::fill(col, col + ld, T(0));
    const std::int64_t lo0 = taps.lo[0][i0], hi0 = taps.hi[0][i0];
    const std::int64_t lo1 = taps.lo[1][i1], hi1 = taps.hi[1][i1];
    const std::int64_t lo2 = taps.lo[2][i2], hi2 = taps.hi[2][i2];
    if (lo0 < hi0 && lo1 < hi1 && lo2 < hi2) {
      const T* base = fine + n * g.fine_pixels * cf + group * cfg +
                      (taps.first[0][i0] + F[0] * (taps.first[1][i1] + F[1] * taps.first[2][i2])) *
                          cf;
      for (std::int64_t t2 = lo2; t2 < hi2; ++t2)
        for (std::int64_t t1 = lo1; t1 < hi1; ++t1) {
          const T* src = base + (t2 - lo2) * tap_step[2] + (t1 - lo1) * tap_step[1];
          const std::int64_t krow = K[0] * (t1 + K[1] * t2);
          for (std::int64_t t0 = lo0; t0 < hi0; ++t0, src += tap_step[0]) {
            const std::int64_t k = t0 + krow;
            if (!all_taps && (k < k0 || k >= k1)) continue;
            std::copy(src, src + cfg, col + (k - k0) * cfg);
          }
        }
    }
    if (++i0 == C0) {
      i0 = 0;
      if (++i1 == C1) {
        i1 = 0;
        if (++i2 == C2) {
          i2 = 0;
          ++n;
        }
      }
    }
  }
}

// Threads only pay off above some work (see scatter_gemm).
inline int team_for(double flops, int threads) { return flops < 4e6 ? 1 : threads; }

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace detail

// fine: sample-major (c + C_fine * (pixel + P_fine * n)); weight (C_coarse,
// C_fine/g, taps) column-major; bias: C_coarse values or null; coarse:
// sample-major output, fully overwritten.
template <class T>
Status gather_gemm(const ConvGeometry& g, const T* fine, const T* weight, const T* bias,
                   T* coarse, const ComputeOptions& options) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using ConstStrided = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  using Strided = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const std::int64_t Q = g.batch * g.coarse_pixels;
  for (std::int64_t q = 0; q < Q; ++q)
    for (std::int64_t c = 0; c < cc; ++c) coarse[q * cc + c] = bias ? bias[c] : T(0);
  if (Q == 0) return Status::success();
  const int nt = detail::team_for(2.0 * cc * cfg * K * Q, std::max(1, options.num_threads));
  // Per-thread tile: columns of `q_tile` pixels, `k_tile` taps at a time.
  const std::int64_t budget = std::max<std::int64_t>(
      1, options.tile_bytes / static_cast<std::int64_t>(sizeof(T)) / nt);
  const std::int64_t q_tile = std::max<std::int64_t>(
      1, std::min<std::int64_t>((Q + nt - 1) / nt, std::max<std::int64_t>(64, budget / (cfg * K))));
  const std::int64_t k_tile = std::max<std::int64_t>(1, std::min(K, budget / (cfg * q_tile)));
  try {
    detail::TapTable taps(g);
    std::vector<std::vector<T>> buffers(static_cast<std::size_t>(nt));
    for (auto& b : buffers) b.resize(static_cast<std::size_t>(cfg * k_tile * q_tile));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      ConstStrided w(weight + grp * ccg, ccg, cfg * K, Eigen::OuterStride<>(cc));
      for (std::int64_t block = 0; block < Q; block += q_tile * nt) {
        if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
        bool failed = false;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
          const std::int64_t q0 = std::min(Q, block + detail::thread_id() * q_tile);
          const std::int64_t q1 = std::min(Q, q0 + q_tile);
          T* buf = buffers[static_cast<std::size_t>(detail::thread_id())].data();
          try {
            Strided out(coarse + q0 * cc + grp * ccg, ccg, q1 - q0, Eigen::OuterStride<>(cc));
            for (std::int64_t k0 = 0; k0 < K && q1 > q0; k0 += k_tile) {
              const std::int64_t k1 = std::min(K, k0 + k_tile);
              detail::gather_columns(g, taps, fine, q0, q1, k0, k1, grp, buf);
              Eigen::Map<const Matrix> cols(buf, cfg * (k1 - k0), q1 - q0);
              out.noalias() += w.middleCols(cfg * k0, cfg * (k1 - k0)) * cols;
            }
          } catch (...) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = true;
          }
        }
        if (failed) return Status::error(StatusCode::out_of_memory, "out of memory in GEMM");
      }
    }
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  } catch (const std::exception& e) {
    return Status::error(StatusCode::internal, e.what());
  }
  return Status::success();
}

// coarse, fine: sample-major; grad_weight: (C_coarse, C_fine/g, taps)
// column-major, fully overwritten with sum_{n, pixels} coarse x fine-columns.
template <class T>
Status weight_gradient_gemm(const ConvGeometry& g, const T* coarse, const T* fine, T* grad_weight,
                            const ComputeOptions& options) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using ConstStrided = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  using Strided = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const std::int64_t Q = g.batch * g.coarse_pixels;
  std::fill(grad_weight, grad_weight + g.weight_elements, T(0));
  if (Q == 0) return Status::success();
  const int nt = detail::team_for(2.0 * cc * cfg * K * Q, std::max(1, options.num_threads));
  // Threads split the taps (disjoint weight columns) when there are enough of
  // them; otherwise each sums a share of the pixels into a private copy.
  const bool by_taps = K >= nt;
  const std::int64_t taps_per_thread = by_taps ? (K + nt - 1) / nt : K;
  const std::int64_t budget = std::max<std::int64_t>(
      1, options.tile_bytes / static_cast<std::int64_t>(sizeof(T)) / nt);
  const std::int64_t q_tile = std::max<std::int64_t>(
      1, std::min<std::int64_t>(Q, std::max<std::int64_t>(256, budget / (cfg * taps_per_thread))));
  const std::int64_t k_tile =
      std::max<std::int64_t>(1, std::min(taps_per_thread, budget / (cfg * q_tile)));
  try {
    detail::TapTable taps(g);
    std::vector<std::vector<T>> buffers(static_cast<std::size_t>(nt));
    for (auto& b : buffers) b.resize(static_cast<std::size_t>(cfg * k_tile * q_tile));
    std::vector<std::vector<T>> partial(by_taps ? 0 : static_cast<std::size_t>(nt));
    for (auto& p : partial) p.resize(static_cast<std::size_t>(ccg * cfg * K));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      ConstStrided x(coarse + grp * ccg, ccg, Q, Eigen::OuterStride<>(cc));
      for (auto& p : partial) std::fill(p.begin(), p.end(), T(0));
      // Blocks of pixels: by taps, every thread covers the whole block for its
      // taps; otherwise the block is shared out among the threads.
      const std::int64_t block_size = by_taps ? q_tile : q_tile * nt;
      for (std::int64_t block = 0; block < Q; block += block_size) {
        if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
        bool failed = false;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
          const int tid = detail::thread_id();
          T* buf = buffers[static_cast<std::size_t>(tid)].data();
          std::int64_t q0 = block, q1 = std::min(Q, block + q_tile), kb = 0, ke = K;
          if (by_taps) {
            kb = std::min(K, tid * taps_per_thread);
            ke = std::min(K, kb + taps_per_thread);
          } else {
            q0 = std::min(Q, block + tid * q_tile);
            q1 = std::min(Q, q0 + q_tile);
          }
          try {
            Strided dw = by_taps ? Strided(grad_weight + grp * ccg, ccg, cfg * K,
                                           Eigen::OuterStride<>(cc))
                                 : Strided(partial[static_cast<std::size_t>(tid)].data(), ccg,
                                           cfg * K, Eigen::OuterStride<>(ccg));
            for (std::int64_t k0 = kb; k0 < ke && q1 > q0; k0 += k_tile) {
              const std::int64_t k1 = std::min(ke, k0 + k_tile);
              detail::gather_columns(g, taps, fine, q0, q1, k0, k1, grp, buf);
              Eigen::Map<const Matrix> cols(buf, cfg * (k1 - k0), q1 - q0);
              dw.middleCols(cfg * k0, cfg * (k1 - k0)).noalias() +=
                  x.middleCols(q0, q1 - q0) * cols.transpose();
            }
          } catch (...) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = true;
          }
        }
        if (failed) return Status::error(StatusCode::out_of_memory, "out of memory in GEMM");
      }
      for (const auto& p : partial) {
        Strided dw(grad_weight + grp * ccg, ccg, cfg * K, Eigen::OuterStride<>(cc));
        dw += Eigen::Map<const Matrix>(p.data(), ccg, cfg * K);
      }
    }
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  } catch (const std::exception& e) {
    return Status::error(StatusCode::internal, e.what());
  }
  return Status::success();
}

}  // namespace convtranspose

#endif
