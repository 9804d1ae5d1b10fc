// The coarse -> fine direction: a transposed convolution's forward pass, which
// is also the gradient of a convolution with respect to its input.
//
// For each group:  columns = W_g^T (C_fine/g * taps x C_coarse/g) * X_g
// (X_g: coarse channels of the group x coarse pixels, read in place from the
// sample-major layout), then every column entry is added to the fine pixel
// fine = coarse * stride - padding + tap * dilation ("col2im").
//
// The column matrix is produced in tiles (a range of coarse pixels times a
// range of taps) of bounded size, so memory stays small for large kernels,
// and the interrupt callback is polled between tiles on the calling thread.
// Inside a tile the GEMM is split across threads; the scatter is split so that
// no two threads write the same fine element: by the stride phase of the tap
// (taps whose offsets differ modulo the stride reach disjoint fine pixels) or,
// with a single phase, by ranges of fine channels.
#ifndef CONVTRANSPOSE_SCATTER_GEMM_HPP
#define CONVTRANSPOSE_SCATTER_GEMM_HPP

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

namespace convtranspose {
namespace detail {

struct TapTable {
  // Per tap (column-major over the kernel dims): its offset along each
  // dimension (tap * dilation - padding) and its stride-phase class.
  std::vector<std::int64_t> offset[kMaxRank];
  std::vector<int> phase;
  int phase_count = 1;

  explicit TapTable(const ConvGeometry& g) {
    const std::int64_t taps = g.kernel_taps;
    for (int d = 0; d < kMaxRank; ++d) offset[d].resize(taps);
    phase.resize(taps);
    std::vector<std::int64_t> seen_raw;
    for (std::int64_t k = 0; k < taps; ++k) {
      std::int64_t rest = k, raw = 0, scale = 1;
      for (int d = 0; d < kMaxRank; ++d) {
        const std::int64_t t = rest % g.kernel_size[d];
        rest /= g.kernel_size[d];
        const std::int64_t off = t * g.dilation[d] - g.padding[d];
        offset[d][k] = off;
        const std::int64_t r = ((off % g.stride[d]) + g.stride[d]) % g.stride[d];
        raw += r * scale;
        scale *= g.stride[d];
      }
      int id = -1;
      for (std::size_t i = 0; i < seen_raw.size(); ++i)
        if (seen_raw[i] == raw) id = static_cast<int>(i);
      if (id < 0) {
        id = static_cast<int>(seen_raw.size());
        seen_raw.push_back(raw);
      }
      phase[k] = id;
    }
    phase_count = static_cast<int>(seen_raw.size());
  }
};

// Adds one tile of columns into the fine array. `cols` holds, for coarse
// pixels q in [q0, q1) (flattened over samples) and taps k in [k0, k1), the
// vector of fine channels [0, Cf/g) at cols + (q - q0) * ld + (k - k0) * Cfg.
// Only taps with phase % phase_mod == phase_rem and channels [c0, c1) are
// written, which is how threads partition the tile.
template <class T>
void scatter_columns(const ConvGeometry& g, const TapTable& taps, const T* cols,
                     std::int64_t ld, std::int64_t q0, std::int64_t q1,
                     std::int64_t k0, std::int64_t k1, std::int64_t group,
                     int phase_mod, int phase_rem, std::int64_t c0,
                     std::int64_t c1, T* fine) {
  const std::int64_t cfg = g.fine_channels_per_group;
  const std::int64_t cf = g.fine_channels;
  const std::int64_t P = g.coarse_pixels;
  const std::int64_t F0 = g.fine_size[0], F1 = g.fine_size[1], F2 = g.fine_size[2];
  const std::int64_t C0 = g.coarse_size[0], C1 = g.coarse_size[1];
  const std::int64_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2];
  for (std::int64_t q = q0; q < q1; ++q) {
    const std::int64_t n = q / P, pix = q - n * P;
    const std::int64_t i0 = pix % C0, i1 = (pix / C0) % C1, i2 = pix / (C0 * C1);
    T* fine_sample = fine + n * g.fine_pixels * cf + group * cfg;
    const T* col = cols + (q - q0) * ld;
    for (std::int64_t k = k0; k < k1; ++k) {
      if (taps.phase[k] % phase_mod != phase_rem) continue;
      const std::int64_t o0 = i0 * s0 + taps.offset[0][k];
      const std::int64_t o1 = i1 * s1 + taps.offset[1][k];
      const std::int64_t o2 = i2 * s2 + taps.offset[2][k];
      if (o0 < 0 || o0 >= F0 || o1 < 0 || o1 >= F1 || o2 < 0 || o2 >= F2) continue;
      T* dst = fine_sample + (o0 + F0 * (o1 + F1 * o2)) * cf;
      const T* src = col + (k - k0) * cfg;
      for (std::int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

}  // namespace detail

// coarse: sample-major (c + C_coarse * (pixel + P_coarse * n)); weight in R /
// PyTorch order (C_coarse, C_fine/g, taps) column-major; bias: C_fine values
// or null; fine: sample-major output, fully overwritten.
template <class T>
Status scatter_gemm(const ConvGeometry& g, const T* coarse, const T* weight,
                    const T* bias, T* fine, const ComputeOptions& options) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using ConstStrided = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  const int nt = std::max(1, options.num_threads);
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t fine_px = g.batch * g.fine_pixels;

  // Start from the bias (or zero): every fine element receives a sum.
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (fine_px * cf > 32768)
#endif
  for (std::int64_t p = 0; p < fine_px; ++p) {
    T* dst = fine + p * cf;
    for (std::int64_t c = 0; c < cf; ++c) dst[c] = bias ? bias[c] : T(0);
  }
  const std::int64_t Q = g.batch * g.coarse_pixels;
  if (Q == 0) return Status::success();

  // Tile plan: rows are (fine channel, tap) pairs, columns coarse pixels.
  const std::int64_t budget =
      std::max<std::int64_t>(1, options.tile_bytes / static_cast<std::int64_t>(sizeof(T)));
  const std::int64_t K = g.kernel_taps;
  std::int64_t q_tile, k_tile;
  if (cfg * K * Q <= budget) {
    q_tile = Q;
    k_tile = K;
  } else if (cfg * Q <= budget) {
    q_tile = Q;
    k_tile = std::max<std::int64_t>(1, budget / (cfg * Q));
  } else {
    k_tile = 1;
    q_tile = std::max<std::int64_t>(1, budget / cfg);
  }

  try {
    detail::TapTable taps(g);
    std::vector<T> buffer(static_cast<std::size_t>(cfg * k_tile * q_tile));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      for (std::int64_t q0 = 0; q0 < Q; q0 += q_tile) {
        const std::int64_t q1 = std::min(Q, q0 + q_tile);
        for (std::int64_t k0 = 0; k0 < K; k0 += k_tile) {
          if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
          const std::int64_t k1 = std::min(K, k0 + k_tile);
          const std::int64_t rows = cfg * (k1 - k0), cols = q1 - q0;
          ConstStrided w(weight + grp * ccg + cc * cfg * k0, ccg, rows,
                         Eigen::OuterStride<>(cc));
          ConstStrided x(coarse + q0 * cc + grp * ccg, ccg, cols, Eigen::OuterStride<>(cc));
          Eigen::Map<Matrix> out(buffer.data(), rows, cols);
          // Work split decided once per tile, identical on every thread.
          const double flops = 2.0 * static_cast<double>(rows) * cols * ccg;
          const int team = flops < 2e5 ? 1 : nt;
          const bool split_rows = rows >= cols;
          const bool by_phase = taps.phase_count >= team;
          bool failed = false;
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
          {
#ifdef _OPENMP
            const int tid = omp_get_thread_num(), size = omp_get_num_threads();
#else
            const int tid = 0, size = 1;
#endif
            try {
              const std::int64_t extent = split_rows ? rows : cols;
              const std::int64_t per = (extent + size - 1) / size;
              const std::int64_t b = std::min(extent, per * tid);
              const std::int64_t e = std::min(extent, b + per);
              if (e > b) {
                if (split_rows)
                  out.middleRows(b, e - b).noalias() = w.middleCols(b, e - b).transpose() * x;
                else
                  out.middleCols(b, e - b).noalias() = w.transpose() * x.middleCols(b, e - b);
              }
            } catch (...) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
              failed = true;
            }
#ifdef _OPENMP
#pragma omp barrier
#endif
            if (!failed) {
              if (by_phase) {
                detail::scatter_columns(g, taps, buffer.data(), rows, q0, q1, k0, k1, grp,
                                        size, tid, 0, cfg, fine);
              } else {
                const std::int64_t per = (cfg + size - 1) / size;
                const std::int64_t c0 = std::min(cfg, per * tid), c1 = std::min(cfg, c0 + per);
                if (c1 > c0)
                  detail::scatter_columns(g, taps, buffer.data(), rows, q0, q1, k0, k1, grp,
                                          1, 0, c0, c1, fine);
              }
            }
          }
          if (failed) return Status::error(StatusCode::out_of_memory, "out of memory in GEMM");
        }
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
