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
// This file: the row groups and their operands (packing, loads, stores)
// and the product over them; batch_products.hpp and
// batch_weight_gradient.hpp use it.
#ifndef CONVTRANSPOSE_ROW_GROUPS_HPP
#define CONVTRANSPOSE_ROW_GROUPS_HPP

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
#include "plan.hpp"
#include "status.hpp"
#include "taps.hpp"

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
      // The next row group's runs fetched one row group ahead: scattered
      // runs, one per tap, defeat the hardware prefetcher.
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
          gemm_detail::micro_kernel<T, decltype(width)::value>(
              s.packed.data() + b * kMr * kc, kMr, gemm_detail::PackedRows<T>{pw, kc}, targets,
              false);
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


}  // namespace detail
}  // namespace convtranspose

#endif
#endif
