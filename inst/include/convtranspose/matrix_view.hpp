// A strided view of a matrix, the currency of the product layer.
#ifndef CONVTRANSPOSE_MATRIX_VIEW_HPP
#define CONVTRANSPOSE_MATRIX_VIEW_HPP

#include <cstdint>

namespace convtranspose {

// A column-major matrix view: element (i, j) at data[i * row_stride + j * col_stride],
// which also describes a transposed view (swap the strides).
template <class T>
struct MatrixView {
  T* data;
  std::int64_t rows, cols;
  std::int64_t row_stride, col_stride;
  T& operator()(std::int64_t i, std::int64_t j) const { return data[i * row_stride + j * col_stride]; }
  MatrixView<T> transposed() const { return {data, cols, rows, col_stride, row_stride}; }
  MatrixView<T> block(std::int64_t i, std::int64_t j, std::int64_t r, std::int64_t c) const {
    return {data + i * row_stride + j * col_stride, r, c, row_stride, col_stride};
  }
};

// Column-major (m x n) with leading dimension ld.
template <class T>
MatrixView<T> column_major(T* data, std::int64_t m, std::int64_t n, std::int64_t ld) {
  return {data, m, n, 1, ld};
}
}  // namespace convtranspose

#endif
