// A packed matrix product for AVX2 and AVX-512 CPUs:
//   C (m x n) = op(A) op(B)   or   C += op(A) op(B),
// column-major with leading dimensions, op = identity or transpose. The
// kernels' products go through matmul() (below), which uses this code when
// the including translation unit is one of src/core's ISA libraries
// (CONVTRANSPOSE_SIMD_GEMM) and Eigen otherwise. Eigen 3.3's own AVX-512
// path crashed in our products, and its AVX2 path uses half the width of
// an AVX-512 machine's vector units.
//
// The macro-kernels here only loop: over kKc-deep slices of the inner
// dimension and blocks of rows and columns, calling the one micro-kernel
// (micro_kernel.hpp) on operands packed by pack.hpp or read in place.
#ifndef CONVTRANSPOSE_GEMM_HPP
#define CONVTRANSPOSE_GEMM_HPP

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE  // parallelism is ours, outside the products
#endif

#include <Eigen/Core>

#include "layout.hpp"
#include "matrix_view.hpp"
#include "micro_kernel.hpp"
#include "pack.hpp"

#if defined(CONVTRANSPOSE_SIMD_GEMM)
#include <immintrin.h>
#endif

namespace convtranspose {

#if defined(CONVTRANSPOSE_SIMD_GEMM)
namespace gemm_detail {

template <class T>
void packed_gemm(const MatrixView<const T>& a, const MatrixView<const T>& b,
                 const MatrixView<T>& c, bool accumulate) {
  constexpr int kMr = rows_per_block<T>();
  const std::int64_t m = c.rows, n = c.cols, k = a.cols;
  // mc x kc of A stays in L2, kc x nc of B in L3: per thread, kept between
  // calls, about 2.6 MB (double)
  const std::int64_t kMc = kMr * 8, kNc = kNr * 100;
  thread_local AlignedVector<T> packed_a, packed_b;
  packed_a.resize(static_cast<std::size_t>(kMc * kKc));
  packed_b.resize(static_cast<std::size_t>(kNc * kKc));
  alignas(64) T tile[kMr * kNr];
  const bool unit_rows = c.row_stride == 1;
  for (std::int64_t j0 = 0; j0 < n; j0 += kNc) {
    const std::int64_t nc = std::min(kNc, n - j0);
    for (std::int64_t p0 = 0; p0 < k; p0 += kKc) {
      const std::int64_t kc = std::min(kKc, k - p0);
      const bool add = accumulate || p0 > 0;
      pack_panels<kNr>(b.transposed(), j0, nc, p0, kc, packed_b.data());
      for (std::int64_t i0 = 0; i0 < m; i0 += kMc) {
        const std::int64_t mc = std::min(kMc, m - i0);
        pack_panels<kMr>(a, i0, mc, p0, kc, packed_a.data());
        for (std::int64_t jr = 0; jr < nc; jr += kNr) {
          const std::int64_t cols = std::min<std::int64_t>(kNr, nc - jr);
          const T* pb = packed_b.data() + (jr / kNr) * kNr * kc;
          for (std::int64_t ir = 0; ir < mc; ir += kMr) {
            const std::int64_t rows = std::min<std::int64_t>(kMr, mc - ir);
            const T* pa = packed_a.data() + (ir / kMr) * kMr * kc;
            T* cij = c.data + (i0 + ir) * c.row_stride + (j0 + jr) * c.col_stride;
            T* targets[kNr];
            if (unit_rows && rows == kMr && cols == kNr) {
              for (int j = 0; j < kNr; ++j) targets[j] = cij + j * c.col_stride;
              micro_kernel<T, kNr>(pa, kMr, PackedRows<T>{pb, kc}, StoreColumns<T>{targets, add, nullptr});
            } else {
              // edges (or a C with non-unit row stride): through a full tile
              for (int j = 0; j < kNr; ++j) targets[j] = tile + j * kMr;
              with_block_columns(cols, [&](auto width) {
                micro_kernel<T, decltype(width)::value>(pa, kMr, PackedRows<T>{pb, kc},
                                                        StoreColumns<T>{targets, false, nullptr});
              });
              for (std::int64_t j = 0; j < cols; ++j)
                for (std::int64_t i = 0; i < rows; ++i) {
                  T& out = cij[i * c.row_stride + j * c.col_stride];
                  out = add ? out + tile[i + j * kMr] : tile[i + j * kMr];
                }
            }
          }
        }
      }
    }
  }
}

// C (m x n) += A * B without packing B: A (m x segments * run) comes packed
// in panels of kMr rows (zero rows past m), each panel column by column;
// column j of B is `segments` runs of `run` contiguous
// values, run s at b_cols[s * n + j]; column j of C is the m contiguous
// values at c_cols[j]. `zeros` holds at least `run` zeros. This is how the
// stride-phase path (phase_gemm.hpp) multiplies with the coarse pixels (one
// run per tap) and the fine pixels read and written in place. With
// `row_bias` (m values), C is overwritten with row_bias + A * B instead (so
// no pass that fills C with the bias first).
template <class T>
void indirect_gemm(std::int64_t m, std::int64_t n, std::int64_t segments, std::int64_t run,
                   const T* packed_a, const T* const* b_cols, T* const* c_cols, const T* zeros,
                   const T* row_bias = nullptr) {
  constexpr int kMr = rows_per_block<T>();
  const std::int64_t k = segments * run;
  // Blocks of the inner dimension (whole runs, about kKc deep) times blocks
  // of kMc rows: that much of A (kMc x kKc, a few hundred KB) stays in cache
  // while every column panel of the block passes over it.
  const std::int64_t kMc = kMr * 8;
  const std::int64_t seg_block = std::max<std::int64_t>(1, kKc / std::max<std::int64_t>(1, run));
  // B is read in place (ColumnRuns: its kNr column pointers stay in
  // registers), never copied into a packed panel: the copy (a scalar
  // transpose) cost more than every row block's reads of the columns.
  alignas(64) T tile[kMr * kNr];
  std::vector<const T*> b(static_cast<std::size_t>(std::min(seg_block, segments) * kNr));
  for (std::int64_t s0 = 0; s0 < segments; s0 += seg_block) {
    const std::int64_t segs = std::min(seg_block, segments - s0);
    for (std::int64_t i0 = 0; i0 < m; i0 += kMc) {
      const std::int64_t i1 = std::min(m, i0 + kMc);
      for (std::int64_t j0 = 0; j0 < n; j0 += kNr) {
        const std::int64_t cols = std::min<std::int64_t>(kNr, n - j0);
        // (a panel as wide as a register block reads the caller's pointers
        // in place; a narrower one a copy padded with zero columns)
        const bool in_place = cols == 4 || cols == 8 || cols == kNr;
        if (!in_place)
          for (std::int64_t s = 0; s < segs; ++s)
            for (std::int64_t j = 0; j < kNr; ++j)
              b[static_cast<std::size_t>(s * kNr + j)] =
                  j < cols ? b_cols[(s0 + s) * n + j0 + j] : zeros;
        const ColumnRuns<T> b_runs =
            in_place ? ColumnRuns<T>{b_cols + s0 * n + j0, segs, run, n, static_cast<int>(cols)}
                     : ColumnRuns<T>{b.data(), segs, run, kNr, kNr};
        for (std::int64_t ir = i0; ir < i1; ir += kMr) {
          const std::int64_t rows = std::min<std::int64_t>(kMr, m - ir);
          // panel ir / kMr, columns from s0 * run on
          const T* pa = packed_a + (ir / kMr) * kMr * k + s0 * run * kMr;
          T* targets[kNr];
          const bool full = rows == kMr && cols == kNr;
          const bool overwrite = row_bias != nullptr && s0 == 0;
          const T* bias = overwrite && full ? row_bias + ir : nullptr;
          for (int j = 0; j < kNr; ++j) targets[j] = full ? c_cols[j0 + j] + ir : tile + j * kMr;
          with_block_columns(cols, [&](auto width) {
            micro_kernel<T, decltype(width)::value>(
                pa, kMr, b_runs,
                StoreColumns<T>{targets, full && !overwrite, bias});
          });
          if (!full) {
            for (std::int64_t j = 0; j < cols; ++j) {
              T* dst = c_cols[j0 + j] + ir;
              for (std::int64_t i = 0; i < rows; ++i)
                dst[i] = (overwrite ? row_bias[ir + i] : dst[i]) + tile[i + j * kMr];
            }
          }
        }
      }
    }
  }
}

// C (m x segments * run) += A (m x k) * B (k x segments * run) with neither
// operand copied (but A's last rows where m is not a multiple of kMr):
// column p of A is the m values at a + p * lda; B's columns come in
// `segments` groups of `run` (a multiple of 4, so that the 4-, 8- and
// 12-column kernels cover a group exactly and read nothing past it), row p
// of group s being the run contiguous values at b_rows[s * k + p]. C is
// column-major with leading dimension ldc. This is the weight gradient's
// product (gather_gemm.hpp): A the coarse pixels in place, each row of B the
// fine pixel that a tap reads, so no column is gathered and nothing packed.
template <class T>
void row_pointer_gemm(std::int64_t m, std::int64_t k, std::int64_t segments, std::int64_t run,
                      const T* a, std::int64_t lda, const T* const* b_rows, T* c,
                      std::int64_t ldc) {
  constexpr int kMr = rows_per_block<T>();
  const std::int64_t full_rows = m / kMr * kMr;
  // (kept between calls, as packed_gemm's panels)
  thread_local AlignedVector<T> edge_a;
  thread_local std::vector<const T*> panel_rows;
  alignas(64) T tile[kMr * kNr];
  // A kKc-deep slice of A (a few hundred KB at most) stays in cache while
  // every panel of B's columns passes over it; a panel of B (kKc x kNr)
  // stays in L1 while the row blocks pass over it.
  for (std::int64_t p0 = 0; p0 < k; p0 += kKc) {
    const std::int64_t kc = std::min(kKc, k - p0);
    if (full_rows < m) {  // the last rows, zero-padded to a whole block
      edge_a.assign(static_cast<std::size_t>(kMr * kc), T(0));
      for (std::int64_t p = 0; p < kc; ++p)
        for (std::int64_t i = full_rows; i < m; ++i)
          edge_a[static_cast<std::size_t>(p * kMr + i - full_rows)] = a[(p0 + p) * lda + i];
    }
    for (std::int64_t s = 0; s < segments; ++s) {
      const T* const* rows = b_rows + s * k + p0;
      for (std::int64_t j0 = 0; j0 < run; j0 += kNr) {
        T* c_panel = c + (s * run + j0) * ldc;
        with_block_columns(std::min<std::int64_t>(kNr, run - j0), [&](auto width) {
          constexpr int Cols = decltype(width)::value;
          // The panel's own row pointers: with one base pointer a row, the
          // kernel's loads take constant offsets (given the table and an
          // offset, GCC kept an index register a column and spilled them).
          panel_rows.resize(static_cast<std::size_t>(kc));
          for (std::int64_t p = 0; p < kc; ++p)
            panel_rows[static_cast<std::size_t>(p)] = rows[p] + j0;
          const RowPointers<T> b_rows{panel_rows.data(), kc};
          for (std::int64_t ir = 0; ir < m; ir += kMr) {
            // (the last rows through a tile, added to C's own rows)
            const bool whole_rows = ir < full_rows;
            const T* pa = whole_rows ? a + p0 * lda + ir : edge_a.data();
            T* targets[Cols];
            for (int j = 0; j < Cols; ++j)
              targets[j] = whole_rows ? c_panel + j * ldc + ir : tile + j * kMr;
            micro_kernel<T, Cols>(pa, whole_rows ? lda : kMr, b_rows,
                                  StoreColumns<T>{targets, whole_rows, nullptr});
            if (!whole_rows)
              for (int j = 0; j < Cols; ++j)
                for (std::int64_t i = ir; i < m; ++i)
                  c_panel[j * ldc + i] += tile[i - ir + j * kMr];
          }
        });
      }
    }
  }
}

}  // namespace gemm_detail
#endif

// c = a * b (accumulate = false) or c += a * b, with a (m x k), b (k x n),
// c (m x n) as views (any of them may be a transposed view).
template <class T>
void matmul(const MatrixView<const T>& a, const MatrixView<const T>& b, const MatrixView<T>& c,
            bool accumulate) {
  if (c.rows == 0 || c.cols == 0) return;
  if (a.cols == 0) {
    if (!accumulate)
      for (std::int64_t j = 0; j < c.cols; ++j)
        for (std::int64_t i = 0; i < c.rows; ++i) c(i, j) = T(0);
    return;
  }
#if defined(CONVTRANSPOSE_SIMD_GEMM)
  gemm_detail::packed_gemm<T>(a, b, c, accumulate);
#else
  if (c.row_stride != 1) {  // Eigen writes column-major results: C' = B' A'
    matmul<T>(b.transposed(), a.transposed(), c.transposed(), accumulate);
    return;
  }
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using ConstMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  using Map = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
  // Each view is column-major or the transpose of one: unit inner strides,
  // which Eigen's product kernels need.
  auto as_map = [](const MatrixView<const T>& v) {
    return v.row_stride == 1 ? ConstMap(v.data, v.rows, v.cols, Eigen::OuterStride<>(v.col_stride))
                             : ConstMap(v.data, v.cols, v.rows, Eigen::OuterStride<>(v.row_stride));
  };
  Map out(c.data, c.rows, c.cols, Eigen::OuterStride<>(c.col_stride));
  const ConstMap am = as_map(a), bm = as_map(b);
  auto run = [&](const auto& lhs, const auto& rhs) {
    if (accumulate)
      out.noalias() += lhs * rhs;
    else
      out.noalias() = lhs * rhs;
  };
  const bool a_plain = a.row_stride == 1, b_plain = b.row_stride == 1;
  if (a_plain && b_plain)
    run(am, bm);
  else if (a_plain)
    run(am, bm.transpose());
  else if (b_plain)
    run(am.transpose(), bm);
  else
    run(am.transpose(), bm.transpose());
#endif
}

}  // namespace convtranspose

#endif
