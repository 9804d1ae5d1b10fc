// The coarse -> fine direction on sample-major arrays (a transposed
// convolution's forward pass, a convolution's input gradient): the paths
// direct_scatter and gemm_col2im. For each group,
//   columns = W_g^T (C_fine/g * taps x C_coarse/g) * X_g,
// then every column entry is added to the fine pixel
// fine = coarse * stride - padding + tap * dilation ("col2im"), in tiles of
// the plan's size. Threads never write the same fine element.
#ifndef CONVTRANSPOSE_SCATTER_GEMM_HPP
#define CONVTRANSPOSE_SCATTER_GEMM_HPP

#include <algorithm>
#include <cstdint>
#include <exception>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gather_gemm.hpp"
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

// Adds one tile of columns into the fine array. `cols` holds, for coarse
// pixels q in [q0, q1) (flattened over samples) and taps k in [k0, k1), the
// vector of fine channels [0, Cf/g) at cols + (q - q0) * ld + (k - k0) * Cfg.
// Only taps with phase % phase_mod == phase_rem and channels [c0, c1) are
// written, which is how threads partition the tile.
template <class T>
void scatter_columns(const ConvGeometry& g, const TapTable& taps, const T* cols, std::int64_t ld,
                     std::int64_t q0, std::int64_t q1, std::int64_t k0, std::int64_t k1,
                     std::int64_t group, int phase_mod, int phase_rem, std::int64_t c0,
                     std::int64_t c1, T* fine) {
  const std::int64_t cfg = g.fine_channels_per_group;
  T* fine_group = fine + group * cfg;
  const T* col = nullptr;
  for_each_tap(
      g, taps, q0, q1, k0, k1, phase_mod, phase_rem,
      [&](std::int64_t q) { col = cols + (q - q0) * ld - k0 * cfg; },
      [&](std::int64_t, std::int64_t offset, std::int64_t k) {
        T* dst = fine_group + offset;
        const T* src = col + k * cfg;
        for (std::int64_t c = c0; c < c1; ++c) dst[c] += src[c];
      });
}

// Direct kernel for groups with a single coarse channel (depthwise layers,
// single-channel images): a GEMM with an inner dimension of 1 is all
// overhead, so each coarse pixel's values are multiplied into the fine pixels
// its taps reach. All groups [g0, g1) of a pixel are done together, so each
// tap updates one contiguous run of fine channels. `weight_t` holds the
// weights as (fine channel, tap) with the fine channel fastest.
template <class T>
void scatter_direct(const ConvGeometry& g, const TapTable& taps, const T* coarse, const T* weight_t,
                    std::int64_t q0, std::int64_t q1, std::int64_t g0, std::int64_t g1,
                    int phase_mod, int phase_rem, T* fine) {
  const std::int64_t cfg = g.fine_channels_per_group, cf = g.fine_channels;
  const std::int64_t cc = g.coarse_channels;
  const T* x = nullptr;
  for_each_tap(
      g, taps, q0, q1, 0, g.kernel_taps, phase_mod, phase_rem,
      [&](std::int64_t q) { x = coarse + q * cc; },
      [&](std::int64_t, std::int64_t offset, std::int64_t k) {
        T* dst = fine + offset;
        const T* w = weight_t + k * cf;
        if (cfg == 1) {
          CONVTRANSPOSE_SIMD
          for (std::int64_t c = g0; c < g1; ++c) dst[c] += x[c] * w[c];
        } else {
          for (std::int64_t grp = g0; grp < g1; ++grp) {
            const T value = x[grp];
            CONVTRANSPOSE_SIMD
            for (std::int64_t c = grp * cfg; c < (grp + 1) * cfg; ++c) dst[c] += value * w[c];
          }
        }
      });
}

}  // namespace detail

// The sample-major coarse -> fine kernels. coarse: sample-major (c +
// C_coarse * (pixel + P_coarse * n)); weight in R / PyTorch order (C_coarse,
// C_fine/g, taps) column-major; bias: C_fine values or null; fine:
// sample-major output, fully overwritten (each starts from the bias).
// `g` is the chunk's geometry; `plan` says the team and the tiles.

// Path::direct_scatter: threads split the taps by stride phase, or else the
// groups.
template <class T>
Status direct_scatter(const ConvGeometry& g, const Plan& plan, const T* coarse, const T* weight,
                      const T* bias, T* fine, const ComputeOptions& options) {
  fill_with_bias(fine, g.batch * g.fine_pixels, g.fine_channels, bias,
                 std::max(1, options.num_threads));
  const std::int64_t Q = g.batch * g.coarse_pixels;
  if (Q == 0) return Status::success();
  return detail::guarded([&]() {
    const detail::TapTable taps(g);
    const std::vector<T> weight_t = detail::weight_by_tap(g, weight);
    const int workers = plan.team;
    const bool by_phase = taps.phase_count >= workers;
    return detail::parallel_pixel_blocks(
        Q, detail::direct_block(g, workers), workers, options,
        [&](std::int64_t b0, std::int64_t b1, int tid, int team) {
          if (by_phase) {
            detail::scatter_direct(g, taps, coarse, weight_t.data(), b0, b1, 0, g.groups, team,
                                   tid, fine);
          } else {
            std::int64_t g0, g1;
            detail::share(0, g.groups, tid, team, &g0, &g1);
            if (g1 > g0)
              detail::scatter_direct(g, taps, coarse, weight_t.data(), b0, b1, g0, g1, 1, 0,
                                     fine);
          }
        });
  });
}

// Path::gemm_col2im: the column matrix in tiles (coarse pixels x taps) of
// the plan's size, the interrupt callback polled between tiles. Inside a
// tile the GEMM is split across threads; the scatter is split so that no two
// threads write the same fine element: by the stride phase of the tap, or
// with a single phase by ranges of fine channels.
template <class T>
Status gemm_col2im(const ConvGeometry& g, const Plan& plan, const T* coarse, const T* weight,
                   const T* bias, T* fine, const ComputeOptions& options) {
  const int nt = std::max(1, options.num_threads);
  fill_with_bias(fine, g.batch * g.fine_pixels, g.fine_channels, bias, nt);
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const std::int64_t Q = g.batch * g.coarse_pixels;
  if (Q == 0) return Status::success();
  const std::int64_t q_tile = std::min(Q, plan.tile_pixels), k_tile = std::min(K, plan.tile_taps);
  return detail::guarded([&]() -> Status {
    const detail::TapTable taps(g);
    // (uninitialised: each tile's product overwrites what col2im reads)
    WorkBuffer<T> buffer(static_cast<std::size_t>(cfg * k_tile * q_tile));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      for (std::int64_t q0 = 0; q0 < Q; q0 += q_tile) {
        const std::int64_t q1 = std::min(Q, q0 + q_tile);
        for (std::int64_t k0 = 0; k0 < K; k0 += k_tile) {
          if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
          const std::int64_t k1 = std::min(K, k0 + k_tile);
          const std::int64_t rows = cfg * (k1 - k0), cols = q1 - q0;
          const MatrixView<const T> w =
              column_major(weight + grp * ccg + cc * cfg * k0, ccg, rows, cc);
          const MatrixView<const T> x = column_major(coarse + q0 * cc + grp * ccg, ccg, cols, cc);
          const MatrixView<T> out = column_major(buffer.data(), rows, cols, rows);
          // Work split decided once per tile, identical on every thread.
          const double flops = 2.0 * static_cast<double>(rows) * cols * ccg;
          const int team = (flops < tuning::kTileTeamFromFlops || plan.team == 1) ? 1 : nt;
          const bool split_rows = rows >= cols;
          const bool by_phase = taps.phase_count >= team;
          Status tile = detail::run_team(team, [&](int tid, int size) {
            const std::int64_t extent = split_rows ? rows : cols;
            const std::int64_t per = (extent + size - 1) / size;
            const std::int64_t b = std::min(extent, per * tid);
            const std::int64_t e = std::min(extent, b + per);
            if (e > b) {
              if (split_rows)
                matmul<T>(w.block(0, b, ccg, e - b).transposed(), x, out.block(b, 0, e - b, cols),
                          false);
              else
                matmul<T>(w.transposed(), x.block(0, b, ccg, e - b), out.block(0, b, rows, e - b),
                          false);
            }
          }, [&](int tid, int size) {
            if (by_phase) {
              detail::scatter_columns(g, taps, buffer.data(), rows, q0, q1, k0, k1, grp, size, tid,
                                      0, cfg, fine);
            } else {
              const std::int64_t per = (cfg + size - 1) / size;
              const std::int64_t c0 = std::min(cfg, per * tid), c1 = std::min(cfg, c0 + per);
              if (c1 > c0)
                detail::scatter_columns(g, taps, buffer.data(), rows, q0, q1, k0, k1, grp, 1, 0,
                                        c0, c1, fine);
            }
          });
          if (!tile.ok()) return tile;
        }
      }
    }
    return Status::success();
  });
}

}  // namespace convtranspose

#endif
