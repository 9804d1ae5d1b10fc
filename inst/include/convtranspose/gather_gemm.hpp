// The fine -> coarse direction and the weight gradient on sample-major
// arrays: the paths direct_gather and im2col_gemm (a convolution's forward
// pass, a transposed convolution's input gradient: coarse_g += W_g *
// columns, the columns gathered from the fine pixels each tap reads, zero
// off the grid: im2col, the inverse of col2im), and direct_weight,
// weight_row_pointers and weight_im2col (dW_g = X_g * columns^T). Threads own
// disjoint outputs (coarse pixels, or weight columns, or private sums).
#ifndef CONVTRANSPOSE_GATHER_GEMM_HPP
#define CONVTRANSPOSE_GATHER_GEMM_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "finite.hpp"
#include "gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "plan.hpp"
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
  const std::int64_t cfg = g.fine_channels_per_group;
  const std::int64_t ld = cfg * (k1 - k0);
  const T* fine_group = fine + group * cfg;
  T* col = nullptr;
  for_each_tap(
      g, taps, q0, q1, k0, k1, 1, 0,
      [&](std::int64_t q) {
        col = cols + (q - q0) * ld;
        std::fill(col, col + ld, T(0));
      },
      [&](std::int64_t, std::int64_t offset, std::int64_t k) {
        const T* src = fine_group + offset;
        std::copy(src, src + cfg, col + (k - k0) * cfg);
      });
}

// The same columns read in place: rows[(k - k0) * (q1 - q0) + (q - q0)] is
// where the group's C_fine/g channels of the fine pixel that tap k of coarse
// pixel q reads begin, or `zeros` (C_fine/g of them) outside the fine grid.
template <class T>
void fine_rows(const ConvGeometry& g, const TapTable& taps, const T* fine, std::int64_t q0,
               std::int64_t q1, std::int64_t k0, std::int64_t k1, std::int64_t group,
               const T* zeros, const T** rows) {
  const std::int64_t width = q1 - q0;
  const T* fine_group = fine + group * g.fine_channels_per_group;
  for_each_tap(
      g, taps, q0, q1, k0, k1, 1, 0,
      [&](std::int64_t q) {
        for (std::int64_t k = k0; k < k1; ++k) rows[(k - k0) * width + q - q0] = zeros;
      },
      [&](std::int64_t q, std::int64_t offset, std::int64_t k) {
        rows[(k - k0) * width + q - q0] = fine_group + offset;
      });
}

// Direct fine -> coarse for a single coarse channel per group (see
// scatter_direct): coarse[q, grp] += sum over taps and the group's fine
// channels of fine * weight, all groups of a pixel at once.
template <class T>
void gather_direct(const ConvGeometry& g, const TapTable& taps, const T* fine, const T* weight_t,
                   std::int64_t q0, std::int64_t q1, T* coarse) {
  const std::int64_t cfg = g.fine_channels_per_group, cf = g.fine_channels;
  const std::int64_t cc = g.coarse_channels;
  T* out = nullptr;
  for_each_tap(
      g, taps, q0, q1, 0, g.kernel_taps, 1, 0, [&](std::int64_t q) { out = coarse + q * cc; },
      [&](std::int64_t, std::int64_t offset, std::int64_t k) {
        const T* src = fine + offset;
        const T* w = weight_t + k * cf;
        if (cfg == 1) {
          CONVTRANSPOSE_SIMD
          for (std::int64_t c = 0; c < cc; ++c) out[c] += src[c] * w[c];
        } else {
          for (std::int64_t grp = 0; grp < cc; ++grp) {
            T sum = 0;
            for (std::int64_t c = grp * cfg; c < (grp + 1) * cfg; ++c) sum += src[c] * w[c];
            out[grp] += sum;
          }
        }
      });
}

// Direct weight gradient for a single coarse channel per group:
// grad_t[k, f] += coarse[q, group of f] * fine[tap k of q, f], with grad_t
// laid out as (fine channel, tap), fine channel fastest.
template <class T>
void weight_direct(const ConvGeometry& g, const TapTable& taps, const T* coarse, const T* fine,
                   std::int64_t q0, std::int64_t q1, T* grad_t) {
  const std::int64_t cfg = g.fine_channels_per_group, cf = g.fine_channels;
  const std::int64_t cc = g.coarse_channels;
  const T* x = nullptr;
  for_each_tap(
      g, taps, q0, q1, 0, g.kernel_taps, 1, 0, [&](std::int64_t q) { x = coarse + q * cc; },
      [&](std::int64_t, std::int64_t offset, std::int64_t k) {
        const T* src = fine + offset;
        T* dw = grad_t + k * cf;
        if (cfg == 1) {
          CONVTRANSPOSE_SIMD
          for (std::int64_t c = 0; c < cc; ++c) dw[c] += x[c] * src[c];
        } else {
          for (std::int64_t grp = 0; grp < cc; ++grp) {
            const T value = x[grp];
            CONVTRANSPOSE_SIMD
            for (std::int64_t c = grp * cfg; c < (grp + 1) * cfg; ++c) dw[c] += value * src[c];
          }
        }
      });
}

// Weights (C_coarse, C_fine/g, taps) with one coarse channel per group as
// (fine channel, tap), fine channel fastest: and back.
template <class T>
std::vector<T> weight_by_tap(const ConvGeometry& g, const T* weight) {
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t cc = g.coarse_channels, K = g.kernel_taps;
  std::vector<T> out(static_cast<std::size_t>(cf * K));
  for (std::int64_t grp = 0; grp < g.groups; ++grp)
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t c = 0; c < cfg; ++c)
        out[static_cast<std::size_t>(k * cf + grp * cfg + c)] = weight[grp + cc * (c + cfg * k)];
  return out;
}

// Pixels per block for the direct kernels: about kDirectBlockFlops between
// interrupt checks.
inline std::int64_t direct_block(const ConvGeometry& g, int nt) {
  return std::max<std::int64_t>(nt, static_cast<std::int64_t>(tuning::kDirectBlockFlops /
                                                              (2.0 * g.fine_channels * g.kernel_taps)));
}

}  // namespace detail

// The sample-major fine -> coarse kernels. fine: sample-major (c + C_fine *
// (pixel + P_fine * n)); weight (C_coarse, C_fine/g, taps) column-major;
// bias: C_coarse values or null; coarse: sample-major output, fully
// overwritten. `g` is the chunk's geometry.

// Path::direct_gather: pixels shared out among the threads in blocks
// between interrupt checks.
template <class T>
Status direct_gather(const ConvGeometry& g, const Plan& plan, const T* fine, const T* weight,
                     const T* bias, T* coarse, const ComputeOptions& options) {
  const std::int64_t Q = g.batch * g.coarse_pixels;
  fill_with_bias(coarse, Q, g.coarse_channels, bias, std::max(1, options.num_threads));
  if (Q == 0) return Status::success();
  return detail::guarded([&]() {
    const detail::TapTable taps(g);
    const std::vector<T> weight_t = detail::weight_by_tap(g, weight);
    return detail::parallel_pixel_blocks(
        Q, detail::direct_block(g, plan.team), plan.team, options,
        [&](std::int64_t b0, std::int64_t b1, int tid, int team) {
          std::int64_t q0, q1;
          detail::share(b0, b1, tid, team, &q0, &q1);
          detail::gather_direct(g, taps, fine, weight_t.data(), q0, q1, coarse);
        });
  });
}

// Path::im2col_gemm: each thread gathers the columns of its tile of coarse
// pixels (the plan's tile_taps taps at a time) and multiplies them into its
// own coarse pixels.
template <class T>
Status im2col_gemm(const ConvGeometry& g, const Plan& plan, const T* fine, const T* weight,
                   const T* bias, T* coarse, const ComputeOptions& options) {
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const std::int64_t Q = g.batch * g.coarse_pixels;
  fill_with_bias(coarse, Q, cc, bias, std::max(1, options.num_threads));
  if (Q == 0) return Status::success();
  const int nt = plan.team;
  const std::int64_t q_tile = plan.tile_pixels, k_tile = plan.tile_taps;
  return detail::guarded([&]() -> Status {
    const detail::TapTable taps(g);
    std::vector<std::vector<T>> buffers(static_cast<std::size_t>(nt));
    for (auto& b : buffers) b.resize(static_cast<std::size_t>(cfg * k_tile * q_tile));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      const MatrixView<const T> w = column_major(weight + grp * ccg, ccg, cfg * K, cc);
      for (std::int64_t block = 0; block < Q; block += q_tile * nt) {
        if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
        Status done = detail::run_team(nt, [&](int tid, int) {
          const std::int64_t q0 = std::min(Q, block + tid * q_tile);
          const std::int64_t q1 = std::min(Q, q0 + q_tile);
          T* buf = buffers[static_cast<std::size_t>(tid)].data();
          const MatrixView<T> out = column_major(coarse + q0 * cc + grp * ccg, ccg, q1 - q0, cc);
          for (std::int64_t k0 = 0; k0 < K && q1 > q0; k0 += k_tile) {
            const std::int64_t k1 = std::min(K, k0 + k_tile);
            detail::gather_columns(g, taps, fine, q0, q1, k0, k1, grp, buf);
            const std::int64_t rows = cfg * (k1 - k0);
            matmul<T>(w.block(0, cfg * k0, ccg, rows),
                      column_major(static_cast<const T*>(buf), rows, q1 - q0, rows), out, true);
          }
        });
        if (!done.ok()) return done;
      }
    }
    return Status::success();
  });
}

// The sample-major weight-gradient kernels. coarse, fine: sample-major;
// grad_weight: (C_coarse, C_fine/g, taps) column-major, fully overwritten
// with sum_{n, pixels} coarse x fine-columns.

// Path::direct_weight: each thread sums a share of the pixels into its own
// (fine channel, tap) copy, added up at the end.
template <class T>
Status direct_weight(const ConvGeometry& g, const Plan& plan, const T* coarse, const T* fine,
                     T* grad_weight, const ComputeOptions& options) {
  const std::int64_t cc = g.coarse_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps, Q = g.batch * g.coarse_pixels;
  std::fill(grad_weight, grad_weight + g.weight_elements, T(0));
  if (Q == 0) return Status::success();
  const int nt = plan.team;
  return detail::guarded([&]() -> Status {
    const detail::TapTable taps(g);
    const std::int64_t size = g.fine_channels * K;
    std::vector<std::vector<T>> grad_t(static_cast<std::size_t>(nt));
    for (auto& p : grad_t) p.assign(static_cast<std::size_t>(size), T(0));
    Status status = detail::parallel_pixel_blocks(
        Q, detail::direct_block(g, nt), nt, options,
        [&](std::int64_t b0, std::int64_t b1, int tid, int team) {
          std::int64_t q0, q1;
          detail::share(b0, b1, tid, team, &q0, &q1);
          detail::weight_direct(g, taps, coarse, fine, q0, q1,
                                grad_t[static_cast<std::size_t>(tid)].data());
        });
    if (!status.ok()) return status;
    for (const auto& p : grad_t)
      for (std::int64_t grp = 0; grp < g.groups; ++grp)
        for (std::int64_t k = 0; k < K; ++k)
          for (std::int64_t c = 0; c < cfg; ++c)
            grad_weight[grp + cc * (c + cfg * k)] +=
                p[static_cast<std::size_t>(k * g.fine_channels + grp * cfg + c)];
    return Status::success();
  });
}

// Path::weight_im2col and Path::weight_row_pointers: per group, dW_g = X_g *
// columns^T over tiles of the plan's size; threads own taps (disjoint
// columns of dW) or a share of the pixels summed into private copies. The
// row-pointer path (AVX2 and AVX-512 builds) reads the fine rows in place through a
// table of pointers instead of gathering the columns.
template <class T>
Status weight_columns(const ConvGeometry& g, const Plan& plan, const T* coarse, const T* fine,
                      T* grad_weight, const ComputeOptions& options) {
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const std::int64_t Q = g.batch * g.coarse_pixels;
  std::fill(grad_weight, grad_weight + g.weight_elements, T(0));
  if (Q == 0) return Status::success();
  const int nt = plan.team;
  const bool by_taps = plan.split_taps;
  const std::int64_t taps_per_thread = by_taps ? (K + nt - 1) / nt : K;
  const std::int64_t q_tile = plan.tile_pixels, k_tile = plan.tile_taps;
  const bool in_place = plan.path == Path::weight_row_pointers;
  return detail::guarded([&]() -> Status {
    const detail::TapTable taps(g);
    const std::vector<T> zeros(static_cast<std::size_t>(in_place ? cfg : 0), T(0));
    std::vector<std::vector<T>> buffers(static_cast<std::size_t>(nt));
    std::vector<std::vector<const T*>> row_tables(static_cast<std::size_t>(nt));
    const std::int64_t tile = k_tile * q_tile;
    for (auto& b : buffers) b.resize(static_cast<std::size_t>(in_place ? 0 : cfg * tile));
    for (auto& r : row_tables) r.resize(static_cast<std::size_t>(in_place ? tile : 0));
    std::vector<std::vector<T>> partial(by_taps ? 0 : static_cast<std::size_t>(nt));
    for (auto& p : partial) p.resize(static_cast<std::size_t>(ccg * cfg * K));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      const MatrixView<const T> x = column_major(coarse + grp * ccg, ccg, Q, cc);
      for (auto& p : partial) std::fill(p.begin(), p.end(), T(0));
      // Blocks of pixels: by taps, every thread covers the whole block for its
      // taps; otherwise the block is shared out among the threads.
      const std::int64_t block_size = by_taps ? q_tile : q_tile * nt;
      for (std::int64_t block = 0; block < Q; block += block_size) {
        if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
        Status done = detail::run_team(nt, [&](int tid, int) {
          T* buf = buffers[static_cast<std::size_t>(tid)].data();
          std::int64_t q0 = block, q1 = std::min(Q, block + q_tile), kb = 0, ke = K;
          if (by_taps) {
            kb = std::min(K, tid * taps_per_thread);
            ke = std::min(K, kb + taps_per_thread);
          } else {
            q0 = std::min(Q, block + tid * q_tile);
            q1 = std::min(Q, q0 + q_tile);
          }
          const MatrixView<T> dw =
              by_taps ? column_major(grad_weight + grp * ccg, ccg, cfg * K, cc)
                      : column_major(partial[static_cast<std::size_t>(tid)].data(), ccg, cfg * K,
                                     ccg);
          for (std::int64_t k0 = kb; k0 < ke && q1 > q0; k0 += k_tile) {
            const std::int64_t k1 = std::min(ke, k0 + k_tile);
            const MatrixView<T> dw_taps = dw.block(0, cfg * k0, ccg, cfg * (k1 - k0));
#if defined(CONVTRANSPOSE_SIMD_GEMM)
            if (in_place) {
              const T** rows = row_tables[static_cast<std::size_t>(tid)].data();
              detail::fine_rows(g, taps, fine, q0, q1, k0, k1, grp, zeros.data(), rows);
              gemm_detail::row_pointer_gemm<T>(ccg, q1 - q0, k1 - k0, cfg, &x(0, q0), cc, rows,
                                               dw_taps.data, dw_taps.col_stride);
              continue;
            }
#endif
            detail::gather_columns(g, taps, fine, q0, q1, k0, k1, grp, buf);
            const std::int64_t rows = cfg * (k1 - k0);
            matmul<T>(x.block(0, q0, ccg, q1 - q0),
                      column_major(static_cast<const T*>(buf), rows, q1 - q0, rows).transposed(),
                      dw_taps, true);
          }
        });
        if (!done.ok()) return done;
      }
      for (const auto& p : partial)  // (C_coarse/g x C_fine/g taps), into the group's rows
        for (std::int64_t col = 0; col < cfg * K; ++col)
          for (std::int64_t i = 0; i < ccg; ++i)
            grad_weight[grp * ccg + i + cc * col] += p[static_cast<std::size_t>(i + ccg * col)];
    }
    return Status::success();
  });
}

}  // namespace convtranspose

#endif
