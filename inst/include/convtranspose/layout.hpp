// R's layout and the kernels' sample-major one.
//
// R stores an array with dim c(N, C, d1, d2, d3) column-major: the batch index
// varies fastest. Within one sample that is already channels-last (channel
// fastest, then d1, d2, d3), the layout in which a transposed convolution is a
// plain GEMM over a (channels x pixels) matrix. The sample-major paths
// therefore work on arrays indexed c + C * (pixel + P * n); going between the
// two is a single 2-D transpose of an (N x C*P) matrix, and nothing at all
// when N == 1.
#ifndef CONVTRANSPOSE_LAYOUT_HPP
#define CONVTRANSPOSE_LAYOUT_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "bias.hpp"
#include "memory.hpp"
#include "parallel.hpp"

namespace convtranspose {

// dst (cols x rows, column-major, leading dimension dst_ld) = transpose of
// src (rows x cols, column-major, leading dimension src_ld), converting the
// scalar type on the way. Blocked for cache use and parallel over column
// blocks. With leading dimensions larger than the sizes, it moves a block of
// rows: a chunk of samples out of, or into, an R array.
template <class Src, class Dst>
void convert(const Src* src, Dst* dst, std::int64_t n, int num_threads);

template <class Src, class Dst>
void transpose_convert(const Src* src, Dst* dst, std::int64_t rows, std::int64_t cols,
                       int num_threads, std::int64_t src_ld = 0, std::int64_t dst_ld = 0) {
  constexpr std::int64_t kBlock = 64;
  if (src_ld == 0) src_ld = rows;
  if (dst_ld == 0) dst_ld = cols;
  // (a single sample, as the float32 copies of a batch of one: contiguous
  // both ways, a plain conversion rather than blocks of one row)
  if ((rows == 1 && src_ld == 1) || (cols == 1 && dst_ld == 1)) {
    convert(src, dst, rows * cols, num_threads);
    return;
  }
  // Blocks over both dimensions: one of them is often a handful of samples,
  // so splitting only that one would leave a single block for the team.
  const std::int64_t row_blocks = (rows + kBlock - 1) / kBlock;
  const std::int64_t col_blocks = (cols + kBlock - 1) / kBlock;
  // (the one parallel loop outside parallel.hpp: through parallel_for this
  // conversion copy ran a fifth slower; DESIGN.md)
  (void)num_threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(num_threads) \
    schedule(static) if (rows * cols > tuning::kLoopTeamFromValues)
#endif
  for (std::int64_t block = 0; block < row_blocks * col_blocks; ++block) {
    const std::int64_t i0 = (block % row_blocks) * kBlock, i1 = std::min(rows, i0 + kBlock);
    const std::int64_t j0 = (block / row_blocks) * kBlock, j1 = std::min(cols, j0 + kBlock);
    for (std::int64_t j = j0; j < j1; ++j)
      for (std::int64_t i = i0; i < i1; ++i)
        dst[j + dst_ld * i] = static_cast<Dst>(src[i + src_ld * j]);
  }
}

// Element-wise conversion (a weight, bias or array in another scalar
// type), on a team of `num_threads` from kLoopTeamFromValues values.
template <class Src, class Dst>
void convert(const Src* src, Dst* dst, std::int64_t n, int num_threads) {
  detail::parallel_for(n, num_threads, n > tuning::kLoopTeamFromValues,
                       [src, dst](std::int64_t b, std::int64_t e) {
                         CONVTRANSPOSE_SIMD
                         for (std::int64_t i = b; i < e; ++i) dst[i] = static_cast<Dst>(src[i]);
                       });
}

}  // namespace convtranspose

#endif
