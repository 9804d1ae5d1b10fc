// The AVX2 and AVX-512 builds' weight gradients on R's layout, whose sum
// runs over the batch (row_groups.hpp): weight_in_place_registers (float32)
// and weight_in_place_packed (both types).
#ifndef CONVTRANSPOSE_BATCH_WEIGHT_GRADIENT_HPP
#define CONVTRANSPOSE_BATCH_WEIGHT_GRADIENT_HPP

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "plan.hpp"
#include "status.hpp"
#include "taps.hpp"
#include "row_groups.hpp"

namespace convtranspose {
namespace detail {

using tuning::kRowGroup;

// The weight gradient on R's layout in single precision: per group, dW_g
// (C_coarse/g x C_fine/g taps, the weight's own layout) = sum over samples
// and coarse pixels of the coarse channels times the fine channels each tap
// reaches (zeros off the image, as im2col). The sum runs over the batch,
// which is contiguous in R's layout: a register block of 4 coarse channels x
// 6 (tap, fine channel) columns keeps 24 vectors of 8 per-sample partial
// sums (the 8 lanes of a 256-bit vector, each row group's doubles rounded to
// float as they are loaded), with no packing and no transposes; the lanes
// are added up at the end. Work items own blocks of dW and sum the whole
// batch and image in one fixed order: no partial sums to add up, and results
// that do not depend on the thread count. (The packed product below serves
// both types where its float copy of the fine array is allowed.)
template <class T>
struct RowGroupVector;

template <>
struct RowGroupVector<float> {
  using type = __m256;
  static type zero() { return _mm256_setzero_ps(); }
  static type load(const double* p) {
    return gemm_detail::Wide<double>::to_float(gemm_detail::Wide<double>::load(p));
  }
  static type load_sums(const float* p) { return _mm256_loadu_ps(p); }
  static void store_sums(float* p, type v) { _mm256_storeu_ps(p, v); }
  static type fmadd(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
  static float lane_sum(const float* p) {
    const __m128 half = _mm_add_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4));
    const __m128 pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
  }
};

// Work items of the weight-gradient kernels: blocks of each group's dW
// (rows: coarse channels, columns: (tap, fine channel) pairs), rows fastest.
struct WeightBlock {
  std::int64_t grp, r0, j0;
};
inline std::vector<WeightBlock> weight_blocks(std::int64_t groups, std::int64_t rows,
                                              std::int64_t row_block, std::int64_t columns,
                                              std::int64_t col_block) {
  std::vector<WeightBlock> blocks;
  for (std::int64_t grp = 0; grp < groups; ++grp)
    for (std::int64_t j0 = 0; j0 < columns; j0 += col_block)
      for (std::int64_t r0 = 0; r0 < rows; r0 += row_block) blocks.push_back({grp, r0, j0});
  return blocks;
}

// Path::weight_in_place_registers (float). Requires whole row groups (the
// batch a multiple of 8: masked loads in the inner loop cost a quarter of
// its speed).
inline Status batch_weight_gradient_registers(const ConvGeometry& g, const double* coarse,
                                              const double* fine, double* grad_weight,
                                              const ComputeOptions& options) {
  using T = float;
  using V = RowGroupVector<T>;
  using Vec = typename V::type;
  constexpr std::int64_t kRows = 4, kCols = 6;  // register block: 24 accumulators
  constexpr std::int64_t kSlice = 32;           // row groups summed between spills
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps, columns = cfg * K;
  const std::int64_t row_groups = g.coarse_pixels * row_groups_per_pixel(B);
  // Blocks of dW per item: the slice of both operands (32 rows and 48
  // columns of 128 row groups, 640 KB) stays in L2.
  const std::int64_t block_rows = 8 * kRows, block_cols = 8 * kCols;
  const std::vector<WeightBlock> items =
      weight_blocks(g.groups, ccg, block_rows, columns, block_cols);
  struct Scratch {
    std::vector<const double*> coarse_at, fine_at;  // per row group; per (row group, tap)
    AlignedVector<T> acc;                           // 24 sums of 8 lanes per register block
  };
  // What a tap off the image reads: zeros for every fine channel's offset.
  const std::vector<double> zeros(static_cast<std::size_t>(B * cfg + kRowGroup), 0.0);
  const double per_item = 2.0 * static_cast<double>(std::min(ccg, block_rows)) *
                          static_cast<double>(std::min(columns, block_cols)) *
                          static_cast<double>(row_groups * kRowGroup);
  return guarded([&]() -> Status {
    return run_items<Scratch>(items.size(), per_item, options, [&](std::size_t i, Scratch& s) {
      const WeightBlock& it = items[i];
      const std::int64_t rows = std::min(block_rows, ccg - it.r0);
      const std::int64_t cols = std::min(block_cols, columns - it.j0);
      const std::int64_t row_blocks = (rows + kRows - 1) / kRows;
      const std::int64_t col_blocks = (cols + kCols - 1) / kCols;
      const std::int64_t t_first = it.j0 / cfg, taps = (it.j0 + cols - 1) / cfg - t_first + 1;
      s.acc.resize(static_cast<std::size_t>(row_blocks * col_blocks * kRows * kCols * kRowGroup));
      s.coarse_at.resize(static_cast<std::size_t>(kSlice));
      s.fine_at.resize(static_cast<std::size_t>(kSlice * taps));
      for (std::int64_t rg0 = 0; rg0 < row_groups; rg0 += kSlice) {
        const std::int64_t count = std::min(kSlice, row_groups - rg0);
        for (std::int64_t r = 0; r < count; ++r) {
          const RowGroupAt at = row_group_at(rg0 + r, B);
          const std::int64_t n0 = at.n0, q = at.pixel;
          s.coarse_at[static_cast<std::size_t>(r)] = coarse + n0 + B * (it.grp * ccg + cc * q);
          const double* y = fine + n0 + B * it.grp * cfg;
          fine_pixels_of(g, q, [&](std::int64_t t, std::int64_t pixel) {
            if (t >= t_first && t < t_first + taps)
              s.fine_at[static_cast<std::size_t>(r * taps + t - t_first)] =
                  pixel >= 0 ? y + B * cf * pixel : zeros.data();
          });
        }
        for (std::int64_t rb = 0; rb < row_blocks; ++rb)
          for (std::int64_t cb = 0; cb < col_blocks; ++cb) {
            // Rows and columns past the block's edge repeat its last one
            // (valid addresses); their sums are dropped.
            std::int64_t row_off[kRows], col_tap[kCols], col_off[kCols];
            for (std::int64_t a = 0; a < kRows; ++a)
              row_off[a] = B * (it.r0 + std::min(rows - 1, rb * kRows + a));
            for (std::int64_t b = 0; b < kCols; ++b) {
              const std::int64_t j = it.j0 + std::min(cols - 1, cb * kCols + b);
              col_tap[b] = j / cfg - t_first;
              col_off[b] = B * (j % cfg);
            }
            T* acc = s.acc.data() + (rb * col_blocks + cb) * kRows * kCols * kRowGroup;
            Vec sum[kRows][kCols];
#pragma GCC unroll 4
            for (int a = 0; a < kRows; ++a)
#pragma GCC unroll 6
              for (int b = 0; b < kCols; ++b)
                sum[a][b] = rg0 == 0 ? V::zero() : V::load_sums(acc + (a * kCols + b) * kRowGroup);
            const bool uniform = rb * kRows + kRows <= rows && cb * kCols + kCols <= cols &&
                                 col_tap[0] == col_tap[kCols - 1];
            if (uniform) {
              // (the common case: rows and columns at one stride, all
              // columns from one tap; few address computations per load)
              const std::int64_t x_off = row_off[0], y_off = col_off[0], tap = col_tap[0];
              for (std::int64_t r = 0; r < count; ++r) {
                const double* x = s.coarse_at[static_cast<std::size_t>(r)] + x_off;
                const double* y = s.fine_at[static_cast<std::size_t>(r * taps + tap)] + y_off;
                Vec xv[kRows];
#pragma GCC unroll 4
                for (int a = 0; a < kRows; ++a) xv[a] = V::load(x + a * B);
#pragma GCC unroll 6
                for (int b = 0; b < kCols; ++b) {
                  const Vec yv = V::load(y + b * B);
#pragma GCC unroll 4
                  for (int a = 0; a < kRows; ++a) sum[a][b] = V::fmadd(xv[a], yv, sum[a][b]);
                }
              }
            } else {
              for (std::int64_t r = 0; r < count; ++r) {
                const double* x = s.coarse_at[static_cast<std::size_t>(r)];
                const double* const* y = s.fine_at.data() + r * taps;
                Vec xv[kRows];
#pragma GCC unroll 4
                for (int a = 0; a < kRows; ++a) xv[a] = V::load(x + row_off[a]);
#pragma GCC unroll 6
                for (int b = 0; b < kCols; ++b) {
                  const Vec yv = V::load(y[col_tap[b]] + col_off[b]);
#pragma GCC unroll 4
                  for (int a = 0; a < kRows; ++a) sum[a][b] = V::fmadd(xv[a], yv, sum[a][b]);
                }
              }
            }
#pragma GCC unroll 4
            for (int a = 0; a < kRows; ++a)
#pragma GCC unroll 6
              for (int b = 0; b < kCols; ++b)
                V::store_sums(acc + (a * kCols + b) * kRowGroup, sum[a][b]);
          }
      }
      for (std::int64_t rb = 0; rb < row_blocks; ++rb)
        for (std::int64_t cb = 0; cb < col_blocks; ++cb)
          for (std::int64_t a = 0; a < kRows; ++a)
            for (std::int64_t b = 0; b < kCols; ++b) {
              const std::int64_t r = rb * kRows + a, jc = cb * kCols + b;
              if (r >= rows || jc >= cols) continue;
              grad_weight[it.grp * ccg + it.r0 + r + cc * (it.j0 + jc)] =
                  V::lane_sum(s.acc.data() +
                              ((rb * col_blocks + cb) * kRows * kCols + a * kCols + b) * kRowGroup);
            }
    });
  });
}

// The weight gradient on R's layout, as a product whose inner dimension
// runs over (coarse pixel, sample): per group,
//   dW_g[c, (t, c')] = sum over q, n of coarse[n, c, q] * fine[n, c', f(q, t)]
// with f(q, t) the fine pixel tap t of coarse pixel q reaches (zeros off the
// image, as im2col). For one pixel the batch is contiguous in both arrays,
// so indirect_gemm() reads the right operand in place, one run of `batch`
// values per (pixel, column); only the left one (the coarse channels: each
// pixel's batch x channels block, transposed) is packed. In float32 the
// right operand is read from a float copy of the fine array in R's layout
// (the planner bounds its size) and dW is summed in float. Work items own
// blocks of dW and sum every pixel in one fixed order: results that do not
// depend on the thread count.
template <class T>
Status batch_weight_gradient_gathered(const ConvGeometry& g, const double* coarse,
                                      const double* fine_values, double* grad_values,
                                      const ComputeOptions& options) {
  using gemm_detail::kNr;
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  constexpr bool in_doubles = std::is_same<T, double>::value;
  // (float: the fine array and dW in the compute type, converted once;
  // uninitialised, as every value of dW belongs to one item, below)
  WorkBuffer<T> fine_copy, grad_copy;
  if (!in_doubles) {
    fine_copy.reset(static_cast<std::size_t>(g.fine_elements));
    grad_copy.reset(static_cast<std::size_t>(g.weight_elements));
    convert(fine_values, fine_copy.data(), g.fine_elements, options.num_threads);
  }
  const T* fine = in_doubles ? reinterpret_cast<const T*>(fine_values) : fine_copy.data();
  T* grad_weight = in_doubles ? reinterpret_cast<T*>(grad_values) : grad_copy.data();
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps, columns = cfg * K, Q = g.coarse_pixels;
  // Pixels per packed slice: about 512 values of the inner dimension (a
  // block of 128 rows of it, 512 KB, stays in L2).
  const std::int64_t slice = std::max<std::int64_t>(1, 512 / B);
  // Items: blocks of at most 8 register panels of rows and 384 columns of
  // each group's dW. Each item packs its rows itself and reads the fine runs
  // of its columns, so the rows are split first, down to one block per
  // thread (split by columns, every column block would pack the same rows
  // again: a quarter of the work where dW has few columns), then the
  // columns where that leaves threads idle; but runs shorter than a row
  // group are dear to read twice, so there the rows stay whole.
  const std::int64_t threads = std::max(1, options.num_threads);
  const std::int64_t row_panels = (ccg + kMr - 1) / kMr;
  const std::int64_t wanted_row_blocks =
      B >= tuning::kRowGroup ? (threads + g.groups - 1) / g.groups : 1;
  const std::int64_t row_block = std::min<std::int64_t>(
      ccg, kMr * std::min<std::int64_t>(8, (row_panels + wanted_row_blocks - 1) / wanted_row_blocks));
  const std::int64_t row_blocks = (ccg + row_block - 1) / row_block;
  const std::int64_t wanted =
      std::max<std::int64_t>(1, threads / std::max<std::int64_t>(1, g.groups * row_blocks));
  const std::int64_t col_block = std::max<std::int64_t>(
      kNr,
      std::min<std::int64_t>(32 * kNr, ((columns + wanted - 1) / wanted + kNr - 1) / kNr * kNr));
  const std::vector<WeightBlock> items =
      weight_blocks(g.groups, ccg, row_block, columns, col_block);
  struct Scratch {
    AlignedVector<T> packed;       // rows x (slice pixels x batch), panels of kMr rows
    std::vector<const T*> b_cols;  // [pixel * cols + j]: column j's run at that pixel
    std::vector<T*> c_cols;        // [j]: the item's rows of dW column j
    std::vector<std::int64_t> reach;    // [pixel * K + t]: fine pixel, or -1 off the image
  };
  // What a tap off the image reads (B values), and the zero "bias" with
  // which each item's first slice overwrites its block of dW (row_block
  // values): every value of dW belongs to one item, so dW needs no filling
  // with zeros first.
  const std::vector<T> zeros(static_cast<std::size_t>(std::max(B, row_block)), T(0));
  // Pixels per round of items: about kWeightRoundFlops, so that the interrupt check
  // between rounds comes within a fraction of a second. Every item adds its
  // rounds in order: the sums still do not depend on the thread count.
  const double per_pixel = 2.0 * static_cast<double>(ccg * columns * g.groups * B);
  const std::int64_t round =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(tuning::kWeightRoundFlops / per_pixel / slice)) * slice;
  Status done = guarded([&]() -> Status {
    for (std::int64_t first = 0; first < Q; first += round) {
      const std::int64_t last = std::min(Q, first + round);
      const double per_item = 2.0 * static_cast<double>(row_block) *
                              static_cast<double>(std::min(columns, col_block)) *
                              static_cast<double>((last - first) * B);
      Status status =
          run_items<Scratch>(items.size(), per_item, options, [&](std::size_t i, Scratch& s) {
            const WeightBlock& it = items[i];
            const std::int64_t rows = std::min(row_block, ccg - it.r0);
            const std::int64_t cols = std::min(col_block, columns - it.j0);
            const std::int64_t panels = (rows + kMr - 1) / kMr;
            s.c_cols.resize(static_cast<std::size_t>(cols));
            for (std::int64_t j = 0; j < cols; ++j)
              s.c_cols[static_cast<std::size_t>(j)] =
                  grad_weight + it.grp * ccg + it.r0 + cc * (it.j0 + j);
            for (std::int64_t q0 = first; q0 < last; q0 += slice) {
              const std::int64_t qn = std::min(slice, last - q0), depth = qn * B;
              s.packed.resize(static_cast<std::size_t>(panels * kMr * depth));
              for (std::int64_t panel = 0; panel < panels; ++panel)
                for (std::int64_t q = 0; q < qn; ++q) {
                  // rows panel * kMr + a at pixel q0 + q: kMr channels of B values
                  // each, B apart (contiguous for a whole panel)
                  const std::int64_t row0 = panel * kMr, here = std::min(kMr, rows - row0);
                  const double* src = coarse + B * (it.grp * ccg + it.r0 + row0 + cc * (q0 + q));
                  T* dst = s.packed.data() + panel * kMr * depth + q * B * kMr;
                  std::int64_t n0 = 0;
                  if (here == kMr)
                    for (; n0 + 8 <= B; n0 += 8)
                      for (std::int64_t a0 = 0; a0 < kMr; a0 += 8)
                        transpose_8x8(src + n0 + a0 * B, B, dst + n0 * kMr + a0, kMr);
                  for (std::int64_t n = n0; n < B; ++n)
                    for (std::int64_t a = 0; a < kMr; ++a)
                      dst[n * kMr + a] = a < here ? static_cast<T>(src[n + a * B]) : T(0);
                }
              s.reach.resize(static_cast<std::size_t>(qn * K));
              for (std::int64_t q = 0; q < qn; ++q)
                fine_pixels_of(g, q0 + q, [&](std::int64_t t, std::int64_t pixel) {
                  s.reach[static_cast<std::size_t>(q * K + t)] = pixel;
                });
              // Column j = (tap, fine channel): a tap's columns read consecutive
              // channels of one pixel, B values apart (worked out run by run,
              // not pointer by pointer: the table is on the hot path).
              s.b_cols.resize(static_cast<std::size_t>(qn * cols));
              for (std::int64_t q = 0; q < qn; ++q) {
                const std::int64_t* reach = s.reach.data() + q * K;
                const T** b = s.b_cols.data() + q * cols;
                for (std::int64_t j = 0; j < cols;) {
                  const std::int64_t col = it.j0 + j, channel = col % cfg;
                  const std::int64_t n = std::min(cfg - channel, cols - j);
                  const std::int64_t pixel = reach[col / cfg];
                  if (pixel >= 0) {
                    const T* run = fine + B * (it.grp * cfg + channel + cf * pixel);
                    for (std::int64_t c = 0; c < n; ++c) b[j + c] = run + B * c;
                  } else {
                    std::fill(b + j, b + j + n, zeros.data());
                  }
                  j += n;
                }
              }
              gemm_detail::indirect_gemm<T>(rows, cols, qn, B, s.packed.data(),
                                                 s.b_cols.data(), s.c_cols.data(), zeros.data(),
                                                 q0 == 0 ? zeros.data() : nullptr);
            }
          });
      if (!status.ok()) return status;
    }
    return Status::success();
  });
  if (done.ok() && !in_doubles)
    convert(grad_copy.data(), grad_values, g.weight_elements, options.num_threads);
  return done;
}


}  // namespace detail
}  // namespace convtranspose

#endif
#endif
