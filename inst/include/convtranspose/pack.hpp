// Packing for the micro-kernel (micro_kernel.hpp): A in panels of
// kMr rows, B (a weight) in panels of kNr columns, kKc-deep slices one after
// the other, with the transposes that fill panels from data contiguous the
// other way.
#ifndef CONVTRANSPOSE_PACK_HPP
#define CONVTRANSPOSE_PACK_HPP

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "finite.hpp"
#include "matrix_view.hpp"
#include "memory.hpp"
#include "micro_kernel.hpp"

namespace convtranspose {
namespace gemm_detail {

// Zeros for an A of `rows` x `depth` packed in panels of kMr rows (zero
// rows past the last), each panel column by column: the layout
// pack_panels<kMr>() writes and the micro-kernel reads.
template <class T>
AlignedVector<T> packed_zeros(std::int64_t rows, std::int64_t depth) {
  constexpr int kMr = rows_per_block<T>();
  return AlignedVector<T>(static_cast<std::size_t>((rows + kMr - 1) / kMr * kMr * depth), T(0));
}

__attribute__((always_inline)) inline void store_half_row(double* dst, __m256d v) {
  _mm256_storeu_pd(dst, v);
}
__attribute__((always_inline)) inline void store_half_row(float* dst, __m256d v) {
  _mm_storeu_ps(dst, _mm256_cvtpd_ps(v));  // (rounded to float as it is stored)
}

#if defined(CONVTRANSPOSE_GEMM_AVX512)
__attribute__((always_inline)) inline void store_row(double* dst, __m512d v) {
  _mm512_storeu_pd(dst, v);
}
__attribute__((always_inline)) inline void store_row(float* dst, __m512d v) {
  _mm256_storeu_ps(dst, _mm512_cvtpd_ps(v));
}

// dst[n * dst_stride + a] = src[n + a * src_stride] for an 8 x 8 block
// (a transpose: eight 512-bit loads, three rounds of two-source shuffles,
// eight stores, rounded to float for a float dst; loops unrolled so the
// arrays stay in registers, as R builds with -O2).
template <class Dst>
__attribute__((always_inline)) inline void transpose_8x8(const double* src, std::int64_t src_stride,
                                                         Dst* dst, std::int64_t dst_stride) {
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
    store_row(dst + n * dst_stride, _mm512_permutex2var_pd(u[n], halves_lo, u[4 + n]));
    store_row(dst + (n + 4) * dst_stride, _mm512_permutex2var_pd(u[n], halves_hi, u[4 + n]));
  }
}

#else
// dst[n * dst_stride + a] = src[n + a * src_stride] for a 4 x 4 block
// (four 256-bit loads, two rounds of shuffles, four stores).
template <class Dst>
__attribute__((always_inline)) inline void transpose_4x4(const double* src, std::int64_t src_stride,
                                                         Dst* dst, std::int64_t dst_stride) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + src_stride);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * src_stride);
  const __m256d r3 = _mm256_loadu_pd(src + 3 * src_stride);
  // (r0[0] r1[0] r0[2] r1[2]), (r0[1] r1[1] r0[3] r1[3]), the same of r2, r3
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  store_half_row(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  store_half_row(dst + dst_stride, _mm256_permute2f128_pd(t1, t3, 0x20));
  store_half_row(dst + 2 * dst_stride, _mm256_permute2f128_pd(t0, t2, 0x31));
  store_half_row(dst + 3 * dst_stride, _mm256_permute2f128_pd(t1, t3, 0x31));
}

// The AVX2 build's 8 x 8 transpose of doubles: four 4 x 4 blocks.
template <class Dst>
__attribute__((always_inline)) inline void transpose_8x8(const double* src, std::int64_t src_stride,
                                                         Dst* dst, std::int64_t dst_stride) {
#pragma GCC unroll 2
  for (int a0 = 0; a0 < 8; a0 += 4)
#pragma GCC unroll 2
    for (int n0 = 0; n0 < 8; n0 += 4)
      transpose_4x4(src + n0 + a0 * src_stride, src_stride, dst + n0 * dst_stride + a0,
                    dst_stride);
}
#endif

// The same for an 8 x 8 block of floats: eight 256-bit loads, three
// rounds of shuffles, eight stores.
__attribute__((always_inline)) inline void transpose_8x8(const float* src, std::int64_t src_stride,
                                                         float* dst, std::int64_t dst_stride) {
  __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
  for (int a = 0; a < 8; ++a) r[a] = _mm256_loadu_ps(src + a * src_stride);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4h + c]: rows 4h..4h+3 of columns c and c + 4 (c = 0..3)
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    _mm256_storeu_ps(dst + c * dst_stride, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
    _mm256_storeu_ps(dst + (c + 4) * dst_stride, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
  }
}

// One panel row of Width values, in the panel's type: a copy of constant
// size (a few vector moves), or doubles rounded to float four at a time.
template <int Width, class T>
__attribute__((always_inline)) inline void copy_panel_row(const T* src, T* dst) {
  std::memcpy(dst, src, Width * sizeof(T));
}
template <int Width>
__attribute__((always_inline)) inline void copy_panel_row(const double* src, float* dst) {
  static_assert(Width % 4 == 0, "panel rows of whole 256-bit vectors");
#pragma GCC unroll 8
  for (int r = 0; r < Width; r += 4) store_half_row(dst + r, _mm256_loadu_pd(src + r));
}

// Packs rows [i0, i0 + mc) x inner [p0, p0 + kc) of a matrix in panels of
// Width rows (zero-filled past the edge), each panel inner index by inner
// index: out[p * Width + r]. A is packed so (Width = kMr); B as its
// transpose (Width = kNr: panels of B's columns, row by row). Reads run along
// whichever direction the matrix is contiguous in.
// Consecutive panels lie `panel_stride` values apart (Width * kc unless
// given: a slice packed into a wider packed matrix).
template <int Width, class T, class Src>
void pack_panels(const MatrixView<const Src>& a, std::int64_t i0, std::int64_t mc, std::int64_t p0,
                 std::int64_t kc, T* out, std::int64_t panel_stride = -1) {
  if (panel_stride < 0) panel_stride = Width * kc;
  for (std::int64_t ir = 0; ir < mc; ir += Width, out += panel_stride) {
    const std::int64_t rows = std::min<std::int64_t>(Width, mc - ir);
    const Src* base = a.data + (i0 + ir) * a.row_stride + p0 * a.col_stride;
    if (a.row_stride == 1 && rows == Width) {
      for (std::int64_t p = 0; p < kc; ++p)
        copy_panel_row<Width>(base + p * a.col_stride, out + p * Width);
    } else if (a.row_stride == 1) {
      for (std::int64_t p = 0; p < kc; ++p) {
        const Src* src = base + p * a.col_stride;
        T* dst = out + p * Width;
        std::int64_t r = 0;
        for (; r < rows; ++r) dst[r] = static_cast<T>(src[r]);
        for (; r < Width; ++r) dst[r] = T(0);
      }
    } else {
      std::int64_t r = 0;
      // (rows contiguous along the inner dimension, as a transposed weight:
      // 8 x 8 transposes, not a scalar walk down each row)
      for (; a.col_stride == 1 && r + 8 <= rows; r += 8) {
        const Src* src = base + r * a.row_stride;
        std::int64_t p = 0;
        for (; p + 8 <= kc; p += 8) transpose_8x8(src + p, a.row_stride, out + p * Width + r, Width);
        for (; p < kc; ++p)
          for (std::int64_t i = 0; i < 8; ++i)
            out[p * Width + r + i] = static_cast<T>(src[i * a.row_stride + p]);
      }
      for (; r < rows; ++r) {
        const Src* src = base + r * a.row_stride;
        for (std::int64_t p = 0; p < kc; ++p) out[p * Width + r] = static_cast<T>(src[p * a.col_stride]);
      }
      for (std::int64_t p = 0; p < kc; ++p)
        for (std::int64_t rr = rows; rr < Width; ++rr) out[p * Width + rr] = T(0);
    }
  }
}


// A (rows x cols view) into columns [col0, col0 + cols) of a packed A of
// `depth` columns (packed_zeros' layout).
template <class T, class Src>
void pack_a_columns(const MatrixView<const Src>& a, std::int64_t col0, std::int64_t depth,
                    T* packed) {
  constexpr int kMr = rows_per_block<T>();
  pack_panels<kMr>(a, 0, a.rows, 0, a.cols, packed + col0 * kMr, kMr * depth);
}

// The first four columns of the doubles' 8 x 8 transpose: dst[n * dst_stride + a] =
// src[n + a * src_stride] for n < 8, a < 4 (four loads, eight 256-bit
// stores, or 128-bit ones of floats).
#if defined(CONVTRANSPOSE_GEMM_AVX512)
template <class Dst>
__attribute__((always_inline)) inline void transpose_8x4(const double* src, std::int64_t src_stride,
                                                         Dst* dst, std::int64_t dst_stride) {
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
    store_half_row(dst + odd * dst_stride, _mm512_castpd512_pd256(lo));
    store_half_row(dst + (2 + odd) * dst_stride, _mm512_extractf64x4_pd(lo, 1));
    store_half_row(dst + (4 + odd) * dst_stride, _mm512_castpd512_pd256(hi));
    store_half_row(dst + (6 + odd) * dst_stride, _mm512_extractf64x4_pd(hi, 1));
  }
}
#else
template <class Dst>
__attribute__((always_inline)) inline void transpose_8x4(const double* src, std::int64_t src_stride,
                                                         Dst* dst, std::int64_t dst_stride) {
  transpose_4x4(src, src_stride, dst, dst_stride);
  transpose_4x4(src + 4, src_stride, dst + 4 * dst_stride, dst_stride);
}
#endif

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
// the panel's rows (rounded to float for a float panel). Returns false
// (nothing written) otherwise.
template <class Dst>
bool pack_rows_by_transpose(const double* column, const std::int64_t* offset,
                            std::int64_t column_stride, int columns, Dst* dst) {
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

template <class Src, class Dst>
bool pack_rows_by_transpose(const Src*, const std::int64_t*, std::int64_t, int, Dst*) {
  return false;  // (never called: a float weight takes the one-by-one path)
}

// Rows [k_begin, k_end) of one slice of kc rows, panels [first, last), of a
// weight contiguous along its columns: W[k, j] = base[row_offset[k] + j],
// the slice at `slice` (panel p's row k at slice + (p * kc + k) * kNr).
// Row by row across the panels, so that a share of rows reads one stretch.
// Returns whether the values packed are finite in T, summed as x - x beside
// the copy (a pass of its own over each row, before or after the copy, made
// dcgan_g2's input gradient 4-7% slower; the phase and implicit products
// skip zero rows only where the weight they meet is finite).
template <class T, class Src>
bool pack_weight_rows(std::int64_t columns, std::int64_t kc, std::int64_t k_begin,
                      std::int64_t k_end, std::int64_t first, std::int64_t last, const Src* base,
                      const std::int64_t* row_offset, T* slice) {
  constexpr std::int64_t nr = gemm_detail::kNr;
  T check[nr] = {};
  for (std::int64_t k = k_begin; k < k_end; ++k) {
    const Src* row = base + row_offset[k];
    for (std::int64_t panel = first; panel < last; ++panel) {
      T* dst = slice + (panel * kc + k) * nr;
      const Src* src = row + panel * nr;
      const std::int64_t cols = std::min(nr, columns - panel * nr);
      if (cols == nr) {
        CONVTRANSPOSE_SIMD
        for (std::int64_t jj = 0; jj < nr; ++jj) {
          const T v = static_cast<T>(src[jj]);
          dst[jj] = v;
          check[jj] += v - v;
        }
      } else {
        for (std::int64_t jj = 0; jj < nr; ++jj) {
          const T v = jj < cols ? static_cast<T>(src[jj]) : T(0);
          dst[jj] = v;
          check[jj] += v - v;
        }
      }
    }
  }
  T sum = 0;
  for (std::int64_t jj = 0; jj < nr; ++jj) sum += check[jj];
  return sum == sum;
}

// Here W[k, j] = base[row_offset[k] + j * column_stride], in R's doubles
// (packed into T: a float32 product rounds each value as it is packed, the
// same rounding as a converted copy, without the copy). The weight is
// contiguous along the rows for some callers (column_stride > 1: vector
// loads down 8 rows and transposes, for doubles) and along the columns for
// others (column_stride == 1: a panel row is one short copy). Returns
// whether the values packed are finite in T, as pack_weight_rows.
template <class T, class Src>
bool pack_weight_panels(std::int64_t depth, std::int64_t columns, std::int64_t first,
                        std::int64_t last, const Src* base, const std::int64_t* row_offset,
                        std::int64_t column_stride, T* packed) {
  constexpr std::int64_t nr = gemm_detail::kNr;
  static_assert(nr == 12, "the transposes below cover 8 + 4 columns");
  constexpr bool by_transpose = std::is_same<Src, double>::value;
  const std::int64_t panels = weight_panels(columns);
  bool finite = true;
  if (column_stride == 1) {
    for (std::int64_t k0 = 0; k0 < depth; k0 += gemm_detail::kKc) {
      const std::int64_t kc = std::min(depth, k0 + gemm_detail::kKc) - k0;
      finite = pack_weight_rows(columns, kc, 0, kc, first, last, base, row_offset + k0,
                                packed + panel_offset(k0, 0, depth, panels)) &&
               finite;
    }
    return finite;
  }
  for (std::int64_t panel = first; panel < last; ++panel) {
    const std::int64_t j0 = panel * nr;
    const std::int64_t cols = std::min(nr, columns - j0);
    const Src* first_column = base + j0 * column_stride;
    for (std::int64_t k0 = 0; k0 < depth; k0 += gemm_detail::kKc) {
      T* dst = packed + panel_offset(k0, panel, depth, panels);
      const std::int64_t kc = std::min(depth, k0 + gemm_detail::kKc) - k0;
      const std::int64_t* offset = row_offset + k0;
      // Rows [from, to) one value at a time, column by column (a partial
      // panel, rows that do not lie together): the lines a slice
      // reads stay in cache from one column to the next.
      auto one_by_one = [&](std::int64_t from, std::int64_t to) {
        for (std::int64_t jj = 0; jj < nr; ++jj) {
          if (jj < cols) {
            const Src* column = first_column + jj * column_stride;
            for (std::int64_t k = from; k < to; ++k)
              dst[k * nr + jj] = static_cast<T>(column[offset[k]]);
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
      finite = detail::finite_as<T>(dst, kc * nr) && finite;  // (the chunk just written)
    }
  }
  return finite;
}

}  // namespace gemm_detail
}  // namespace convtranspose

#endif
#endif
