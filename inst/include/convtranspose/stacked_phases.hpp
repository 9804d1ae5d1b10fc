// Path::phase_stacked, for the AVX2 and AVX-512 builds: the coarse -> fine
// direction of a 1-D layer (groups 1, no dilation) whose kernel is a whole
// number J of strides. Its stride phases, stacked, are a single product:
// the block of `stride` fine pixels from Q * stride - padding on, all their
// channels (stride * C_fine values, contiguous in a sample-major layout), is
//
//   fine[block Q] = bias + sum over j < J of W_j (stride C_fine x C_coarse) x[Q - j]
//
// where row r * C_fine + f, column c of W_j is the weight of coarse channel
// c, fine channel f and tap j * stride + r, and x[i] is coarse pixel i's
// C_coarse values (a zero vector off the image). One packed weight serves
// every block; the coarse pixels are read in place, the blocks inside the
// image written in place and those across its border through a copy. Where
// phase_sample_major pads each phase's C_fine rows to whole register
// blocks (one fine channel fills 1 of 32), the stacked rows waste none.
#ifndef CONVTRANSPOSE_STACKED_PHASES_HPP
#define CONVTRANSPOSE_STACKED_PHASES_HPP

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gemm.hpp"
#include "geometry.hpp"
#include "memory.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "phase_gemm.hpp"
#include "plan.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

// One thread's tables: B's runs and C's columns of its item, and the
// copies of the blocks across the image's border (with their columns).
template <class T>
struct StackedTables {
  std::vector<const T*> b_cols;
  std::vector<T*> c_cols;
  std::vector<T> edge;
  std::vector<std::int64_t> edge_cols;
};

// coarse and fine sample-major; fine overwritten with the bias (or zero)
// plus the products. Needs a finite weight (a zero vector off the image
// times it must add nothing). The weight in the caller's storage, rounded
// to T as it is packed, in rounds of rows within kPhaseWeightRoundBytes.
template <class T, class W>
Status phase_stacked(const ConvGeometry& g, const Plan& plan, const T* coarse, const W* weight,
                     const T* bias, T* fine, const ComputeOptions& options) {
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  const std::int64_t cc = g.coarse_channels, cf = g.fine_channels;
  const std::int64_t s = g.stride[0], p = g.padding[0];
  const std::int64_t Lc = g.coarse_pixels, Lf = g.fine_pixels;
  const std::int64_t J = g.kernel_taps / s, m = s * cf, depth = J * cc;
  const std::int64_t run = plan.run_channels, parts = cc / run, segments = J * parts;
  const StackedBlocks blocks = stacked_blocks(g);
  const std::int64_t N = g.batch * blocks.count;
  if (N == 0 || m == 0) return Status::success();
  return guarded([&]() -> Status {
    const std::vector<T> zeros(static_cast<std::size_t>(run), T(0));
    std::vector<T> row_bias(static_cast<std::size_t>(m), T(0));
    if (bias != nullptr)
      for (std::int64_t i = 0; i < m; ++i) row_bias[static_cast<std::size_t>(i)] = bias[i % cf];
    const std::int64_t row_bytes = depth * static_cast<std::int64_t>(sizeof(T));
    const std::int64_t round_rows =
        std::min((m + kMr - 1) / kMr * kMr,
                 std::max<std::int64_t>(1, tuning::kPhaseWeightRoundBytes / row_bytes / kMr) * kMr);
    WorkBuffer<T> packed(static_cast<std::size_t>(round_rows * depth));
    const int nt = std::max(1, options.num_threads);
    for (std::int64_t i0 = 0; i0 < m; i0 += round_rows) {
      const std::int64_t rows = std::min(round_rows, m - i0);
      const std::int64_t panels = (rows + kMr - 1) / kMr;
      // W_j's rows [i0, i0 + rows): row i of W_j lies C_coarse apart from
      // row i - 1, its columns contiguous
      Status done = run_items<char>(
          static_cast<std::size_t>(panels * J), static_cast<double>(kMr * cc), options,
          [&](std::size_t item, char&) {
            const std::int64_t panel = static_cast<std::int64_t>(item) / J;
            const std::int64_t j = static_cast<std::int64_t>(item) % J;
            const MatrixView<const W> w{weight + cc * m * j, m, cc, cc, 1};
            gemm_detail::pack_panels<kMr>(w, i0 + panel * kMr,
                                          std::min(kMr, rows - panel * kMr), 0, cc,
                                          packed.data() + panel * kMr * depth + j * cc * kMr);
          },
          tuning::kPackTeamFromValues);
      if (!done.ok()) return done;
      // Items: bands of rows where the round has more rows than columns (each
      // band streams its part of the packed weight once), else of columns.
      const bool by_rows = rows >= N;
      const std::int64_t band_rows =
          by_rows ? std::max<std::int64_t>(kMr, (rows + 2 * nt * kMr - 1) / (2 * nt * kMr) * kMr)
                  : rows;
      const std::int64_t band_cols = by_rows ? N : columns_per_item(2.0 * rows * depth, N, nt);
      const std::int64_t row_bands = (rows + band_rows - 1) / band_rows;
      const std::int64_t col_bands = (N + band_cols - 1) / band_cols;
      const double per_item = 2.0 * band_rows * band_cols * depth;
      done = run_items<StackedTables<T>>(
          static_cast<std::size_t>(row_bands * col_bands), per_item, options,
          [&](std::size_t item, StackedTables<T>& t) {
            const std::int64_t r0 = static_cast<std::int64_t>(item) / col_bands * band_rows;
            const std::int64_t c0 = static_cast<std::int64_t>(item) % col_bands * band_cols;
            const std::int64_t band = std::min(band_rows, rows - r0);
            const std::int64_t width = std::min(band_cols, N - c0);
            const std::int64_t row0 = i0 + r0;  // the band's first row of the block
            t.b_cols.resize(static_cast<std::size_t>(segments * width));
            t.c_cols.resize(static_cast<std::size_t>(width));
            t.edge_cols.clear();
            for (std::int64_t col = 0; col < width; ++col) {
              const std::int64_t n = (c0 + col) / blocks.count;
              const std::int64_t q = blocks.first + (c0 + col) % blocks.count;
              const T* x = coarse + n * Lc * cc;
              for (std::int64_t j = 0; j < J; ++j) {
                const std::int64_t i = q - j;
                for (std::int64_t u = 0; u < parts; ++u)
                  t.b_cols[static_cast<std::size_t>((j * parts + u) * width + col)] =
                      i >= 0 && i < Lc ? x + i * cc + u * run : zeros.data();
              }
              const std::int64_t o0 = q * s - p;
              if (o0 >= 0 && o0 + s <= Lf)
                t.c_cols[static_cast<std::size_t>(col)] = fine + (n * Lf + o0) * cf + row0;
              else
                t.edge_cols.push_back(col);
            }
            t.edge.resize(static_cast<std::size_t>(band) * t.edge_cols.size());
            for (std::size_t e = 0; e < t.edge_cols.size(); ++e)
              t.c_cols[static_cast<std::size_t>(t.edge_cols[e])] =
                  t.edge.data() + e * static_cast<std::size_t>(band);
            gemm_detail::indirect_gemm<T>(band, width, segments, run,
                                          packed.data() + r0 / kMr * kMr * depth, t.b_cols.data(),
                                          t.c_cols.data(), zeros.data(), row_bias.data() + row0);
            // the border blocks' rows that are fine pixels of the image
            for (std::size_t e = 0; e < t.edge_cols.size(); ++e) {
              const std::int64_t col = c0 + t.edge_cols[e];
              const std::int64_t n = col / blocks.count;
              const std::int64_t o0 = (blocks.first + col % blocks.count) * s - p;
              const std::int64_t lo = std::max(row0, std::max<std::int64_t>(0, -o0) * cf);
              const std::int64_t hi = std::min(row0 + band, std::min(s, Lf - o0) * cf);
              const T* src = t.edge.data() + e * static_cast<std::size_t>(band);
              T* dst = fine + (n * Lf + o0) * cf;
              for (std::int64_t i = lo; i < hi; ++i) dst[i] = src[i - row0];
            }
          });
      if (!done.ok()) return done;
    }
    return Status::success();
  });
}

}  // namespace detail
}  // namespace convtranspose

#endif
#endif
