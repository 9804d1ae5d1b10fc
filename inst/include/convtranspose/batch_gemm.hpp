// Products straight on R's layout, for batches of 8 samples or more
// (AVX-512 build). R keeps the batch index fastest, so for one pixel and one
// channel the values of 8 consecutive samples are contiguous. A product whose
// rows are (sample, pixel) pairs, taken 8 samples of one pixel at a time (a
// "row group"), can therefore read its operand and write its result in
// place, with the batch as the vector dimension:
//
//   out[(n, p), j] (+)= sum over taps t and channels c of
//                       in[(n, p_t), c] * W[(t, c), j]
//
// where p_t is the input pixel tap t reads for output pixel p (a zero row
// off the image). This skips the sample-major copies of the batch that
// api.hpp's run_in_chunks makes otherwise (for a large layer, copying the
// input and output costs as much as the arithmetic). Both directions use it:
// coarse -> fine by stride phase (rows: fine pixels of one phase, taps:
// those of the phase), fine -> coarse as an implicit product (rows: coarse
// pixels, taps: all of them). A batch that is not a multiple of 8 ends each
// pixel with a partial row group, whose missing samples are masked lanes.
// The weight gradient, whose sum runs over the batch, has its own kernels at
// the end of this file.
#ifndef CONVTRANSPOSE_BATCH_GEMM_HPP
#define CONVTRANSPOSE_BATCH_GEMM_HPP

#if defined(CONVTRANSPOSE_GEMM_AVX512)

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
#include "phase_gemm.hpp"
#include "plan.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

using tuning::kRowGroup;

// Where row group `rg` lies: its pixel, its first sample n0 and its number
// of samples (8 but in a partial last group). Row groups run sample-group
// fastest, then pixel, the order of R's layout.
struct RowGroupAt {
  std::int64_t pixel, n0;
  int lanes;
};

inline RowGroupAt row_group_at(std::int64_t rg, std::int64_t batch) {
  const std::int64_t per_pixel = row_groups_per_pixel(batch);
  const std::int64_t n0 = (rg % per_pixel) * kRowGroup;
  return {rg / per_pixel, n0, static_cast<int>(std::min(kRowGroup, batch - n0))};
}

// The first `lanes` of 8 vector lanes.
inline __mmask8 lane_mask(int lanes) { return static_cast<__mmask8>((1u << lanes) - 1u); }

// dst[n * dst_stride + a] = src[n + a * src_stride] for an 8 x 8 block
// (a transpose: eight 512-bit loads, three rounds of two-source shuffles,
// eight stores; loops unrolled so the arrays stay in registers, as R builds
// with -O2).
__attribute__((always_inline)) inline void transpose_8x8(const double* src, std::int64_t src_stride,
                                                         double* dst, std::int64_t dst_stride) {
  __m512d r[8], t[8], u[8];
#pragma GCC unroll 8
  for (int a = 0; a < 8; ++a) r[a] = _mm512_loadu_pd(src + a * src_stride);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    // t[2i] = (r2i[0] r2i+1[0] r2i[2] r2i+1[2] ...), t[2i+1] the odd lanes
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
  }
  // u: four rows' lanes {n, n + 4} for n = 0..3, rows 0-3 then 4-7
  const __m512i pairs_lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i pairs_hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h)
#pragma GCC unroll 2
    for (int odd = 0; odd < 2; ++odd) {
      const __m512d x = t[4 * h + odd], y = t[4 * h + 2 + odd];
      u[4 * h + odd] = _mm512_permutex2var_pd(x, pairs_lo, y);      // lanes odd, odd + 4
      u[4 * h + 2 + odd] = _mm512_permutex2var_pd(x, pairs_hi, y);  // lanes 2 + odd, 6 + odd
    }
  const __m512i halves_lo = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
  const __m512i halves_hi = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
#pragma GCC unroll 4
  for (int n = 0; n < 4; ++n) {
    _mm512_storeu_pd(dst + n * dst_stride, _mm512_permutex2var_pd(u[n], halves_lo, u[4 + n]));
    _mm512_storeu_pd(dst + (n + 4) * dst_stride, _mm512_permutex2var_pd(u[n], halves_hi, u[4 + n]));
  }
}

// The first four columns of the same: dst[n * dst_stride + a] =
// src[n + a * src_stride] for n < 8, a < 4 (four loads, eight 256-bit
// stores).
__attribute__((always_inline)) inline void transpose_8x4(const double* src, std::int64_t src_stride,
                                                         double* dst, std::int64_t dst_stride) {
  const __m512d r0 = _mm512_loadu_pd(src), r1 = _mm512_loadu_pd(src + src_stride);
  const __m512d r2 = _mm512_loadu_pd(src + 2 * src_stride);
  const __m512d r3 = _mm512_loadu_pd(src + 3 * src_stride);
  // even rows n from the low halves of the pairs, odd rows from the high
  const __m512d t[4] = {_mm512_unpacklo_pd(r0, r1), _mm512_unpacklo_pd(r2, r3),
                        _mm512_unpackhi_pd(r0, r1), _mm512_unpackhi_pd(r2, r3)};
  const __m512i rows_0_2 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i rows_4_6 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
#pragma GCC unroll 2
  for (int odd = 0; odd < 2; ++odd) {
    const __m512d lo = _mm512_permutex2var_pd(t[2 * odd], rows_0_2, t[2 * odd + 1]);
    const __m512d hi = _mm512_permutex2var_pd(t[2 * odd], rows_4_6, t[2 * odd + 1]);
    _mm256_storeu_pd(dst + odd * dst_stride, _mm512_castpd512_pd256(lo));
    _mm256_storeu_pd(dst + (2 + odd) * dst_stride, _mm512_extractf64x4_pd(lo, 1));
    _mm256_storeu_pd(dst + (4 + odd) * dst_stride, _mm512_castpd512_pd256(hi));
    _mm256_storeu_pd(dst + (6 + odd) * dst_stride, _mm512_extractf64x4_pd(hi, 1));
  }
}

// A (taps * channels) x columns weight W packed for micro_kernel()'s right
// operand: slices of kKc rows (the product's inner dimension) one after the
// other, each holding all its panels of kNr columns, each panel row by row.
// One slice of a product thus reads one contiguous stretch, which the
// hardware prefetcher follows (a layer's weight is often too large for the
// caches). value(k, j) gives W[k, j]. Panels [first, last) are written.
inline std::int64_t weight_panels(std::int64_t columns) {
  return (columns + gemm_detail::kNr - 1) / gemm_detail::kNr;
}

// Where panel `panel` of the slice starting at row k0 begins.
inline std::int64_t panel_offset(std::int64_t k0, std::int64_t panel, std::int64_t depth,
                                 std::int64_t panels) {
  const std::int64_t kc = std::min(gemm_detail::kKc, depth - k0);
  return (k0 * panels + panel * kc) * gemm_detail::kNr;
}

// Eight rows k..k+7 of a slice for eight or four whole columns starting at
// `column` (base[row_offset[k] + j * column_stride]), when those rows lie at
// consecutive offsets: vector loads down the columns and a transpose into
// the panel's rows. Returns false (nothing written) otherwise.
inline bool pack_rows_by_transpose(const double* column, const std::int64_t* offset,
                                   std::int64_t column_stride, int columns, double* dst) {
  for (int i = 1; i < 8; ++i)
    if (offset[i] != offset[0] + i) return false;
  const double* src = column + offset[0];
  if (columns == 8) {
    transpose_8x8(src, column_stride, dst, gemm_detail::kNr);
  } else {
    transpose_8x4(src, column_stride, dst, gemm_detail::kNr);
  }
  return true;
}

inline bool pack_rows_by_transpose(const float*, const std::int64_t*, std::int64_t, int, float*) {
  return false;  // (never called: float takes the one-by-one path)
}

// Here W[k, j] = base[row_offset[k] + j * column_stride]. The weight is
// contiguous along the rows for some callers (column_stride > 1: vector
// loads down 8 rows and transposes, for double) and along the columns for
// others (column_stride == 1: a panel row is one short copy).
template <class T>
void pack_weight_panels(std::int64_t depth, std::int64_t columns, std::int64_t first,
                        std::int64_t last, const T* base, const std::int64_t* row_offset,
                        std::int64_t column_stride, T* packed) {
  constexpr std::int64_t nr = gemm_detail::kNr;
  static_assert(nr == 12, "the transposes below cover 8 + 4 columns");
  constexpr bool by_transpose = std::is_same<T, double>::value;
  const std::int64_t panels = weight_panels(columns);
  for (std::int64_t panel = first; panel < last; ++panel) {
    const std::int64_t j0 = panel * nr;
    const std::int64_t cols = std::min(nr, columns - j0);
    const T* first_column = base + j0 * column_stride;
    for (std::int64_t k0 = 0; k0 < depth; k0 += gemm_detail::kKc) {
      T* dst = packed + panel_offset(k0, panel, depth, panels);
      const std::int64_t kc = std::min(depth, k0 + gemm_detail::kKc) - k0;
      const std::int64_t* offset = row_offset + k0;
      if (column_stride == 1) {
        for (std::int64_t k = 0; k < kc; ++k, dst += nr) {
          const T* row = first_column + offset[k];
          if (cols == nr) {
            std::memcpy(dst, row, nr * sizeof(T));  // constant size: vector moves
          } else {
            for (std::int64_t jj = 0; jj < nr; ++jj) dst[jj] = jj < cols ? row[jj] : T(0);
          }
        }
        continue;
      }
      // Rows [from, to) one value at a time, column by column (a partial
      // panel, rows that do not lie together, float): the lines a slice
      // reads stay in cache from one column to the next.
      auto one_by_one = [&](std::int64_t from, std::int64_t to) {
        for (std::int64_t jj = 0; jj < nr; ++jj) {
          if (jj < cols) {
            const T* column = first_column + jj * column_stride;
            for (std::int64_t k = from; k < to; ++k) dst[k * nr + jj] = column[offset[k]];
          } else {
            for (std::int64_t k = from; k < to; ++k) dst[k * nr + jj] = T(0);
          }
        }
      };
      std::int64_t k = 0;
      for (; by_transpose && cols == nr && k + 8 <= kc; k += 8) {
        T* rows = dst + k * nr;
        if (pack_rows_by_transpose(first_column, offset + k, column_stride, 8, rows)) {
          pack_rows_by_transpose(first_column + 8 * column_stride, offset + k, column_stride, 4,
                                 rows + 8);
        } else {
          one_by_one(k, k + 8);
        }
      }
      one_by_one(k, kc);
    }
  }
}

// One row group's sums into its output values (`lanes` of them): out =
// sums + bias, or out += sums (then `bias` is ignored). Vector code for the
// two cases the package builds (the compiler would not vectorise the loop:
// the pointers may alias).
inline void store_row_group(double* out, const double* sums, double bias, bool add, int lanes) {
  const __mmask8 m = lane_mask(lanes);
  const __m512d v = _mm512_loadu_pd(sums);
  _mm512_mask_storeu_pd(out, m,
                        add ? _mm512_add_pd(_mm512_maskz_loadu_pd(m, out), v)
                            : _mm512_add_pd(v, _mm512_set1_pd(bias)));
}

inline void store_row_group(double* out, const float* sums, float bias, bool add, int lanes) {
  const __mmask8 m = lane_mask(lanes);
  const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(sums));
  _mm512_mask_storeu_pd(out, m,
                        add ? _mm512_add_pd(_mm512_maskz_loadu_pd(m, out), v)
                            : _mm512_add_pd(v, _mm512_set1_pd(static_cast<double>(bias))));
}

template <class T, class Storage>
void store_row_group(Storage* out, const T* sums, T bias, bool add, int lanes) {
  for (int i = 0; i < lanes; ++i)
    out[i] = add ? out[i] + static_cast<Storage>(sums[i]) : static_cast<Storage>(sums[i] + bias);
}

// `lanes` values of a row group into the packed operand, zeros in the
// other lanes (all zeros for null).
inline void load_row_group(double* dst, const double* src, int lanes) {
  _mm512_storeu_pd(
      dst, src != nullptr ? _mm512_maskz_loadu_pd(lane_mask(lanes), src) : _mm512_setzero_pd());
}

inline void load_row_group(float* dst, const double* src, int lanes) {
  _mm256_storeu_ps(dst, src != nullptr
                            ? _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(lane_mask(lanes), src))
                            : _mm256_setzero_ps());
}

template <class T, class Storage>
void load_row_group(T* dst, const Storage* src, int lanes) {
  for (int i = 0; i < kRowGroup; ++i)
    dst[i] = src != nullptr && i < lanes ? static_cast<T>(src[i]) : T(0);
}

// Per-thread scratch of one work item.
template <class T, class Storage>
struct RowGroupScratch {
  std::vector<const Storage*> in;  // [row group * taps + t]: input pixel, or null
  std::vector<Storage*> out;       // [row group]: output pixel
  std::vector<int> lanes;          // [row group]: samples in it
  AlignedVector<T> packed;         // the rows of one slice of the inner dimension
};

// out (+)= rows x W for `row_groups` row groups. Row group r reads tap t's
// channel c at s.in[r * taps + t] + c * batch (s.lanes[r] values; zeros for
// a null pointer) and writes column j at s.out[r] + j * batch. W is packed by
// pack_weight_panels() (taps * channels x columns); the product covers its
// rows [k_begin, k_end) of the inner dimension (all of them, 0 to
// taps * channels, or a whole number of kKc slices packed as a W of that
// depth). Without `accumulate` the first slice stores the sums plus bias[j]
// (or zero).
template <class T, class Storage>
void row_group_product(std::int64_t row_groups, std::int64_t taps, std::int64_t channels,
                       std::int64_t batch, const T* packed_w, std::int64_t columns, const T* bias,
                       bool accumulate, RowGroupScratch<T, Storage>& s, std::int64_t k_begin,
                       std::int64_t k_end) {
  using gemm_detail::kNr;
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  constexpr std::int64_t kSlots = kMr / kRowGroup;  // row groups per register block
  const std::int64_t blocks = (row_groups + kSlots - 1) / kSlots;
  alignas(64) T tile[kMr * kNr];
  T* targets[kNr];
  for (int j = 0; j < kNr; ++j) targets[j] = tile + j * kMr;
  for (std::int64_t k0 = k_begin; k0 < k_end; k0 += gemm_detail::kKc) {
    const std::int64_t kc = std::min(gemm_detail::kKc, k_end - k0);
    s.packed.resize(static_cast<std::size_t>(blocks * kMr * kc));
    // Left operand: row group r of block b at slot r % kSlots.
    for (std::int64_t r = 0; r < blocks * kSlots; ++r) {
      T* dst = s.packed.data() + (r / kSlots) * kMr * kc + (r % kSlots) * kRowGroup;
      // (tap t, channel c) of row k, stepped rather than divided out
      std::int64_t t = k0 / channels, c = k0 % channels;
      auto tap_row = [&](std::int64_t row) -> const Storage* {
        return row < row_groups && t < taps ? s.in[static_cast<std::size_t>(row * taps + t)]
                                            : nullptr;
      };
      // The next row group reads the same (tap, channel) sequence from its
      // own pixels: fetched one row group ahead, since its taps' scattered
      // runs (one per tap, often from memory: grouped's input gradient
      // reads a 32 MB array) defeat the hardware prefetcher.
      const Storage* src = tap_row(r);
      const Storage* ahead = tap_row(r + 1);
      const int lanes = r < row_groups ? s.lanes[static_cast<std::size_t>(r)] : 0;
      for (std::int64_t k = 0; k < kc; ++k, dst += kMr) {
        if (ahead != nullptr)
          _mm_prefetch(reinterpret_cast<const char*>(ahead + c * batch), _MM_HINT_T0);
        load_row_group(dst, src != nullptr ? src + c * batch : nullptr, lanes);
        if (++c == channels) {
          c = 0;
          ++t;
          src = tap_row(r);
          ahead = tap_row(r + 1);
        }
      }
    }
    const bool add = accumulate || k0 > k_begin;
    for (std::int64_t j0 = 0; j0 < columns; j0 += kNr) {
      const std::int64_t cols = std::min<std::int64_t>(kNr, columns - j0);
      const T* pw =
          packed_w + panel_offset(k0 - k_begin, j0 / kNr, k_end - k_begin, weight_panels(columns));
      for (std::int64_t b = 0; b < blocks; ++b) {
        gemm_detail::with_block_columns(cols, [&](auto width) {
          gemm_detail::micro_kernel<T, decltype(width)::value>(kc, s.packed.data() + b * kMr * kc,
                                                               pw, targets, false);
        });
        for (std::int64_t slot = 0; slot < kSlots; ++slot) {
          const std::int64_t r = b * kSlots + slot;
          if (r >= row_groups) break;
          Storage* out = s.out[static_cast<std::size_t>(r)] + j0 * batch;
          const T* sums = tile + slot * kRowGroup;
          const int lanes = s.lanes[static_cast<std::size_t>(r)];
          for (std::int64_t j = 0; j < cols; ++j, out += batch, sums += kMr)
            store_row_group(out, sums, bias != nullptr && !add ? bias[j0 + j] : T(0), add, lanes);
        }
      }
    }
  }
}

// coarse -> fine on R's layout by stride phase (see phase_gemm.hpp for the
// phases). `coarse`, `fine`: R arrays (batch fastest); weight and bias in T.
// Requires batch_in_place(g) and a finite weight (a zero row standing for a
// coarse pixel off the image must contribute nothing).
template <class T, class Storage>
Status batch_phase_gemm(const ConvGeometry& g, const Plan& plan, const Storage* coarse,
                        const T* weight, const T* bias, Storage* fine,
                        const ComputeOptions& options) {
  const std::vector<Phase>& phases = plan.phases;
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  try {
    // Fine pixels no phase reaches hold the bias alone: then the whole
    // output starts from the bias and every product adds to it.
    std::int64_t covered = 0;
    for (const Phase& ph : phases) covered += ph.columns;
    const bool prefill = covered < g.fine_pixels;
    if (prefill) {
      Status filled = run_items<char>(
          static_cast<std::size_t>(g.fine_pixels), static_cast<double>(B * cf), options,
          [&](std::size_t p, char&) {
            Storage* dst = fine + static_cast<std::int64_t>(p) * B * cf;
            for (std::int64_t c = 0; c < cf; ++c)
              for (std::int64_t n = 0; n < B; ++n)
                dst[n + B * c] = static_cast<Storage>(bias != nullptr ? bias[c] : T(0));
          },
          tuning::kFillTeamFromValues);
      if (!filled.ok()) return filled;
    }
    // Each phase's weight per group, (taps * C_coarse/g x C_fine/g): row
    // ti * C_coarse/g + c is coarse channel c of the phase's tap ti. All in
    // one buffer, pair by pair (pair = phase * groups + group).
    const std::size_t pairs = phases.size() * static_cast<std::size_t>(g.groups);
    const std::int64_t panels = weight_panels(cfg);
    std::vector<std::int64_t> pair_start(pairs + 1, 0);
    for (std::size_t pair = 0; pair < pairs; ++pair)
      pair_start[pair + 1] =
          pair_start[pair] +
          phases[pair / static_cast<std::size_t>(g.groups)].taps * ccg * panels * gemm_detail::kNr;
    WorkBuffer<T> rhs(static_cast<std::size_t>(pair_start[pairs]));
    Status packed = for_each_phase_and_group(
        g, phases, options, [&](std::size_t pair, const Phase& phase, std::int64_t grp) {
          const std::int64_t depth = phase.taps * ccg;
          std::vector<std::int64_t> row_offset(static_cast<std::size_t>(depth));
          for (std::int64_t ti = 0; ti < phase.taps; ++ti) {
            const std::int64_t tap = phase.tap_index[static_cast<std::size_t>(ti)];
            for (std::int64_t c = 0; c < ccg; ++c)
              row_offset[static_cast<std::size_t>(ti * ccg + c)] = grp * ccg + c + cc * cfg * tap;
          }
          pack_weight_panels(depth, cfg, 0, panels, weight, row_offset.data(), cc,
                             rhs.data() + pair_start[pair]);
        });
    if (!packed.ok()) return packed;
    // Work items: (group, block of row-group indices) for every phase at
    // once: index r of each phase reads nearly the same coarse pixels, which
    // after the first phase come from cache. Where the packed weights
    // outweigh the input (dcgan_g2: 16.8 MB against 1 MB), each item takes
    // one phase instead: it streams that phase's weight alone, and with
    // phases times more items the blocks can stay large.
    std::int64_t most = 0;
    double per_index = 0;  // flops of one row-group index over the phases
    for (const Phase& ph : phases) {
      most = std::max(most, ph.columns * row_groups_per_pixel(B));
      per_index += 2.0 * kRowGroup * ph.taps * ccg * cfg;
    }
    const bool by_phase = plan.by_phase;
    const std::size_t phases_per_item = by_phase ? 1 : phases.size();
    const std::size_t phase_ranges = by_phase ? phases.size() : 1;
    // (row groups [begin, end) of phases [first_phase, last_phase))
    struct Item {
      GroupBlock block;
      std::size_t first_phase, last_phase;
    };
    const std::int64_t step = row_groups_per_item(most * static_cast<std::int64_t>(phase_ranges),
                                                  g.groups, options.num_threads);
    std::vector<Item> items;
    for (std::size_t p0 = 0; p0 < phases.size(); p0 += phases_per_item) {
      const std::int64_t rows = by_phase ? phases[p0].columns * row_groups_per_pixel(B) : most;
      for (const GroupBlock& block : group_blocks(g.groups, rows, step))
        items.push_back({block, p0, p0 + phases_per_item});
    }
    return run_items<RowGroupScratch<T, Storage>>(
        items.size(), per_index * static_cast<double>(step) / static_cast<double>(phase_ranges),
        options, [&](std::size_t i, RowGroupScratch<T, Storage>& s) {
          const GroupBlock& it = items[i].block;
          for (std::size_t ph = items[i].first_phase; ph < items[i].last_phase; ++ph) {
            const Phase& phase = phases[ph];
            const std::int64_t row_groups = phase.columns * row_groups_per_pixel(B);
            const std::int64_t begin = std::min(it.begin, row_groups);
            const std::int64_t count = std::min(it.end, row_groups) - begin;
            if (count == 0) continue;
            s.in.resize(static_cast<std::size_t>(count * phase.taps));
            s.out.resize(static_cast<std::size_t>(count));
            s.lanes.resize(static_cast<std::size_t>(count));
            for (std::int64_t r = 0; r < count; ++r) {
              const RowGroupAt at = row_group_at(begin + r, B);
              const std::int64_t n0 = at.n0, j = at.pixel;
              s.lanes[static_cast<std::size_t>(r)] = at.lanes;
              const std::int64_t fine_pixel =
                  phase_pixel_taps(g, phase, j, [&](std::int64_t ti, std::int64_t pixel) {
                    s.in[static_cast<std::size_t>(r * phase.taps + ti)] =
                        pixel >= 0 ? coarse + n0 + B * (it.grp * ccg + cc * pixel) : nullptr;
                  });
              s.out[static_cast<std::size_t>(r)] = fine + n0 + B * (it.grp * cfg + cf * fine_pixel);
            }
            row_group_product<T, Storage>(
                count, phase.taps, ccg, B,
                rhs.data() + pair_start[ph * static_cast<std::size_t>(g.groups) +
                                        static_cast<std::size_t>(it.grp)],
                cfg, bias != nullptr ? bias + it.grp * cfg : nullptr, prefill, s, 0,
                phase.taps * ccg);
          }
        });
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

// fine -> coarse on R's layout as an implicit product: coarse pixel q of a
// group = the fine rows its taps read (a zero row off the image, as
// PyTorch's im2col) times the group's weight. Requires batch_in_place(g).
template <class T, class Storage>
Status batch_gather_gemm(const ConvGeometry& g, const Plan& plan, const Storage* fine,
                         const T* weight, const T* bias, Storage* coarse,
                         const ComputeOptions& options) {
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps;
  try {
    // Each group's weight (taps * C_fine/g x C_coarse/g): row t * C_fine/g + c
    // is fine channel c of tap t, the weight's own order, packed on the team.
    const std::int64_t depth = K * cfg, panels = weight_panels(ccg);
    const std::int64_t row_groups = g.coarse_pixels * row_groups_per_pixel(B);
    const std::int64_t step = row_groups_per_item(row_groups, g.groups, options.num_threads);
    const std::vector<GroupBlock> items = group_blocks(g.groups, row_groups, step);
    // Items of few rows (too few row groups for full ones: dcgan_g2's 64
    // rows) use each packed weight value for few flops; where that weight
    // also outweighs the output (dcgan_g2: 16.8 MB against 1 MB), it is
    // packed one kKc slice of rows at a time, which every item multiplies
    // before the next slice is packed: the slice stays in cache for all
    // items, where the whole packed weight came from memory once per item
    // (input gradient 8.4-13.2 -> 7.1-9.6 ms). Otherwise all rows at once,
    // so that each item adds its slices while its own output is still in
    // cache (slices cost hifigan_up1 and dcgan_g3, whose items are full,
    // about a tenth).
    const bool by_slice = plan.by_slice;
    const std::int64_t round_depth = by_slice ? gemm_detail::kKc : depth;
    const std::int64_t per_group = panels * gemm_detail::kNr * round_depth;
    WorkBuffer<T> rhs(static_cast<std::size_t>(g.groups * per_group));
    std::vector<std::int64_t> row_offset(static_cast<std::size_t>(depth));
    for (std::int64_t k = 0; k < depth; ++k) row_offset[static_cast<std::size_t>(k)] = cc * k;
    for (std::int64_t k0 = 0; k0 < depth; k0 += round_depth) {
      const std::int64_t kc = std::min(round_depth, depth - k0);
      Status packed = run_items<char>(
          static_cast<std::size_t>(g.groups * panels), static_cast<double>(gemm_detail::kNr * kc),
          options,
          [&](std::size_t i, char&) {
            const std::int64_t grp = static_cast<std::int64_t>(i) / panels;
            const std::int64_t panel = static_cast<std::int64_t>(i) % panels;
            pack_weight_panels(kc, ccg, panel, panel + 1, weight + grp * ccg,
                               row_offset.data() + k0, 1, rhs.data() + grp * per_group);
          },
          tuning::kPackTeamFromValues);
      if (!packed.ok()) return packed;
      const double per_item = 2.0 * static_cast<double>(step * kRowGroup) * kc * ccg;
      Status done = run_items<RowGroupScratch<T, Storage>>(
          items.size(), per_item, options, [&](std::size_t i, RowGroupScratch<T, Storage>& s) {
            const GroupBlock& it = items[i];
            const std::int64_t count = it.end - it.begin;
            s.in.resize(static_cast<std::size_t>(count * K));
            s.out.resize(static_cast<std::size_t>(count));
            s.lanes.resize(static_cast<std::size_t>(count));
            for (std::int64_t r = 0; r < count; ++r) {
              const RowGroupAt at = row_group_at(it.begin + r, B);
              const std::int64_t n0 = at.n0, q = at.pixel;
              s.lanes[static_cast<std::size_t>(r)] = at.lanes;
              s.out[static_cast<std::size_t>(r)] = coarse + n0 + B * (it.grp * ccg + cc * q);
              const Storage* y = fine + n0 + B * it.grp * cfg;
              fine_pixels_of(g, q, [&](std::int64_t t, std::int64_t pixel) {
                s.in[static_cast<std::size_t>(r * K + t)] =
                    pixel >= 0 ? y + B * cf * pixel : nullptr;
              });
            }
            row_group_product<T, Storage>(count, K, cfg, B, rhs.data() + it.grp * per_group, ccg,
                                          bias != nullptr ? bias + it.grp * ccg : nullptr,
                                          /*accumulate=*/k0 > 0, s, k0, k0 + kc);
          });
      if (!done.ok()) return done;
    }
    return Status::success();
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

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
// that do not depend on the thread count. Returns false (the caller takes the
// sample-major path) for short sums and partial row groups.
//
// Double precision goes to batch_weight_gradient_gathered() below, a packed
// product that reads R's doubles in place (this kernel took twice its time
// on hifigan_up3 and dcgan_g3); in single precision that product would need
// float copies of both arrays.
template <class T>
struct RowGroupVector;

template <>
struct RowGroupVector<float> {
  using type = __m256;
  static type zero() { return _mm256_setzero_ps(); }
  static type load(const double* p) { return _mm512_cvtpd_ps(_mm512_loadu_pd(p)); }
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
  try {
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
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

// The weight gradient on R's layout in double precision, as a product whose
// inner dimension runs over (coarse pixel, sample): per group,
//   dW_g[c, (t, c')] = sum over q, n of coarse[n, c, q] * fine[n, c', f(q, t)]
// with f(q, t) the fine pixel tap t of coarse pixel q reaches (zeros off the
// image, as im2col). For one pixel the batch is contiguous in both arrays,
// so indirect_gemm() reads the right operand in place, one run of `batch`
// values per (pixel, column); only the left one (the coarse channels: each
// pixel's batch x channels block, transposed) is packed. Work items own
// blocks of dW and sum every pixel in one fixed order: results that do not
// depend on the thread count.
inline Status batch_weight_gradient_gathered(const ConvGeometry& g, const double* coarse,
                                             const double* fine, double* grad_weight,
                                             const ComputeOptions& options) {
  using gemm_detail::kNr;
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<double>();
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps, columns = cfg * K, Q = g.coarse_pixels;
  // Pixels per packed slice: about 512 values of the inner dimension (a
  // block of 128 rows of it, 512 KB, stays in L2).
  const std::int64_t slice = std::max<std::int64_t>(1, 512 / B);
  // Items: blocks of at most 128 rows and 384 columns of each group's dW,
  // narrower columns only down to one item per thread (each item packs its
  // rows itself).
  const std::int64_t row_block = std::min<std::int64_t>(ccg, 8 * kMr);
  const std::int64_t row_blocks = (ccg + row_block - 1) / row_block;
  const std::int64_t wanted = std::max<std::int64_t>(
      1, std::max(1, options.num_threads) / std::max<std::int64_t>(1, g.groups * row_blocks));
  const std::int64_t col_block = std::max<std::int64_t>(
      kNr,
      std::min<std::int64_t>(32 * kNr, ((columns + wanted - 1) / wanted + kNr - 1) / kNr * kNr));
  const std::vector<WeightBlock> items =
      weight_blocks(g.groups, ccg, row_block, columns, col_block);
  struct Scratch {
    AlignedVector<double> packed;       // rows x (slice pixels x batch), panels of kMr rows
    std::vector<const double*> b_cols;  // [pixel * cols + j]: column j's run at that pixel
    std::vector<double*> c_cols;        // [j]: the item's rows of dW column j
    std::vector<std::int64_t> reach;    // [pixel * K + t]: fine pixel, or -1 off the image
  };
  // What a tap off the image reads (B values), and the zero "bias" with
  // which each item's first slice overwrites its block of dW (row_block
  // values): every value of dW belongs to one item, so dW needs no filling
  // with zeros first, a serial pass over a fresh result (dcgan_g2: 16.8 MB).
  const std::vector<double> zeros(static_cast<std::size_t>(std::max(B, row_block)), 0.0);
  // Pixels per round of items: about kWeightRoundFlops, so that the interrupt check
  // between rounds comes within a fraction of a second. Every item adds its
  // rounds in order: the sums still do not depend on the thread count.
  const double per_pixel = 2.0 * static_cast<double>(ccg * columns * g.groups * B);
  const std::int64_t round =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(tuning::kWeightRoundFlops / per_pixel / slice)) * slice;
  try {
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
                  double* dst = s.packed.data() + panel * kMr * depth + q * B * kMr;
                  std::int64_t n0 = 0;
                  if (here == kMr)
                    for (; n0 + 8 <= B; n0 += 8)
                      for (std::int64_t a0 = 0; a0 < kMr; a0 += 8)
                        transpose_8x8(src + n0 + a0 * B, B, dst + n0 * kMr + a0, kMr);
                  for (std::int64_t n = n0; n < B; ++n)
                    for (std::int64_t a = 0; a < kMr; ++a)
                      dst[n * kMr + a] = a < here ? src[n + a * B] : 0.0;
                }
              s.reach.resize(static_cast<std::size_t>(qn * K));
              for (std::int64_t q = 0; q < qn; ++q)
                fine_pixels_of(g, q0 + q, [&](std::int64_t t, std::int64_t pixel) {
                  s.reach[static_cast<std::size_t>(q * K + t)] = pixel;
                });
              // Column j = (tap, fine channel): a tap's columns read consecutive
              // channels of one pixel, B values apart. (This table is one
              // pointer per 2 x rows x B flops: grouped's 32-row dW blocks of
              // batch 8 spent a fifth of their time here when each pointer was
              // worked out alone.)
              s.b_cols.resize(static_cast<std::size_t>(qn * cols));
              for (std::int64_t q = 0; q < qn; ++q) {
                const std::int64_t* reach = s.reach.data() + q * K;
                const double** b = s.b_cols.data() + q * cols;
                for (std::int64_t j = 0; j < cols;) {
                  const std::int64_t col = it.j0 + j, channel = col % cfg;
                  const std::int64_t n = std::min(cfg - channel, cols - j);
                  const std::int64_t pixel = reach[col / cfg];
                  if (pixel >= 0) {
                    const double* run = fine + B * (it.grp * cfg + channel + cf * pixel);
                    for (std::int64_t c = 0; c < n; ++c) b[j + c] = run + B * c;
                  } else {
                    std::fill(b + j, b + j + n, zeros.data());
                  }
                  j += n;
                }
              }
              gemm_detail::indirect_gemm<double>(rows, cols, qn, B, s.packed.data(),
                                                 s.b_cols.data(), s.c_cols.data(), zeros.data(),
                                                 q0 == 0 ? zeros.data() : nullptr);
            }
          });
      if (!status.ok()) return status;
    }
    return Status::success();
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

}  // namespace detail
}  // namespace convtranspose

#endif
#endif
