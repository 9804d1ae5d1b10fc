// The one micro-kernel of the AVX-512 build's products (BLIS's shape: one
// register-block contract; packing in pack.hpp; the macro-kernels of
// gemm.hpp only loop): a kMr x Cols block of C in registers (kMr = 2
// vectors, Cols of kNr = 12 columns), A read from a packed panel or in
// place, B through a read policy.
#ifndef CONVTRANSPOSE_MICRO_KERNEL_HPP
#define CONVTRANSPOSE_MICRO_KERNEL_HPP

#if defined(CONVTRANSPOSE_GEMM_AVX512)

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

namespace convtranspose {
namespace gemm_detail {


template <class T>
struct Avx512;

template <>
struct Avx512<double> {
  using Vec = __m512d;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm512_setzero_pd(); }
  static Vec load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Vec v) { _mm512_storeu_pd(p, v); }
  static Vec broadcast(double x) { return _mm512_set1_pd(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
};

template <>
struct Avx512<float> {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec broadcast(float x) { return _mm512_set1_ps(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
};

constexpr int kNr = 12;   // columns of C per register block
constexpr int kVecs = 2;  // vectors of rows per register block: 24 accumulators
constexpr std::int64_t kKc = 256;

template <class T>
constexpr int rows_per_block() {
  return kVecs * Avx512<T>::kLanes;
}

template <class T, int Cols, class Vec>
inline void zero_block(Vec (&acc)[Cols][kVecs]) {
#pragma GCC unroll 12
  for (int j = 0; j < Cols; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) acc[j][v] = Avx512<T>::zero();
}

// The register block's results into its Cols columns of C: added to them
// when `accumulate`, else stored, plus the block's kMr values of `row_bias`
// when given (a bias per row, the same for every column).
template <class T, int Cols, class Vec>
inline void store_block(Vec (&acc)[Cols][kVecs], T* const* cols, bool accumulate,
                        const T* row_bias) {
  using V = Avx512<T>;
  Vec bias[kVecs];
#pragma GCC unroll 2
  for (int v = 0; v < kVecs; ++v)
    bias[v] = row_bias != nullptr ? V::load(row_bias + v * V::kLanes) : V::zero();
#pragma GCC unroll 12
  for (int j = 0; j < Cols; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) {
      T* out = cols[j] + v * V::kLanes;
      V::store(out, V::add(accumulate ? V::load(out) : bias[v], acc[j][v]));
    }
}

// C store policies of micro_kernel(), called once with the accumulators.
// StoreColumns: column j of the block is the kMr values at cols[j], added
// to when `accumulate`, else overwritten with the sums plus row_bias (kMr
// values, one per row) when given. (Row groups' masked, converting stores:
// row_groups.hpp.)
template <class T>
struct StoreColumns {
  T* const* cols;
  bool accumulate;
  const T* row_bias;
  template <int Cols, class Vec>
  __attribute__((always_inline)) void operator()(Vec (&acc)[Cols][kVecs]) const {
    store_block<T, Cols>(acc, cols, accumulate, row_bias);
  }
};

// The one micro-kernel: the first Cols of the kNr columns of a kMr-row block
// of C (+)= A * B. A's column p (kMr values) is at a + p * lda; how B is read
// is the policy `b_rows`, which calls its argument once per inner index p,
// in order, with an object whose [j] is B(p, j) (the policies below: packed
// panels, row pointers, runs of column pointers); how C is written is the
// policy `store` (StoreColumns above, or a row-group store). Fewer columns
// than kNr serve a last, partial panel (64 columns are 5 panels and 4
// columns: 11% of the FMAs of a full-width last panel would be wasted).
template <class T, int Cols, class BRows, class Store>
__attribute__((always_inline)) inline void micro_kernel(const T* a, std::int64_t lda,
                                                        const BRows& b_rows, const Store& store) {
  using V = Avx512<T>;
  // (loops fully unrolled so the accumulators live in registers; R builds
  // with -O2, which would not unroll them)
  typename V::Vec acc[Cols][kVecs];
  zero_block<T, Cols>(acc);
  b_rows([&](const auto& b) __attribute__((always_inline)) {
    typename V::Vec av[kVecs];
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) av[v] = V::load(a + v * V::kLanes);
#pragma GCC unroll 12
    for (int j = 0; j < Cols; ++j) {
      const typename V::Vec bj = V::broadcast(b[j]);
#pragma GCC unroll 2
      for (int v = 0; v < kVecs; ++v) acc[j][v] = V::fma(av[v], bj, acc[j][v]);
    }
    a += lda;
  });
  store(acc);
}

// B policies of micro_kernel(). PackedRows: a packed panel, row p at
// b + p * kNr (pack_panels, pack_weight_panels).
template <class T>
struct PackedRows {
  const T* b;
  std::int64_t kc;
  template <class Body>
  __attribute__((always_inline)) void operator()(Body&& body) const {
    for (std::int64_t p = 0; p < kc; ++p) body(b + p * kNr);
  }
};

// RowPointers: row p of B in place at rows[p].
template <class T>
struct RowPointers {
  const T* const* rows;
  std::int64_t kc;
  template <class Body>
  __attribute__((always_inline)) void operator()(Body&& body) const {
    for (std::int64_t p = 0; p < kc; ++p) body(rows[p]);
  }
};

// ColumnRuns: B's column j in place as `segments` runs of `run` contiguous
// values, run s of column j at cols[s * stride + j], j < width (the
// pointers of a run stay in registers).
template <class T>
struct ColumnRuns {
  const T* const* cols;
  std::int64_t segments, run, stride;
  int width;
  struct Row {
    const T* const* cols;
    std::int64_t p;
    T operator[](int j) const { return cols[j][p]; }
  };
  template <class Body>
  __attribute__((always_inline)) void operator()(Body&& body) const {
    for (std::int64_t s = 0; s < segments; ++s) {
      if (s + 2 < segments)
        for (int j = 0; j < width; ++j)
          _mm_prefetch(reinterpret_cast<const char*>(cols[(s + 2) * stride + j]), _MM_HINT_T0);
      for (std::int64_t p = 0; p < run; ++p) body(Row{cols + s * stride, p});
    }
  }
};

// Calls f(std::integral_constant<int, Cols>) with the narrowest register
// block of 4, 8 or 12 columns that covers `columns` (1 to kNr): the
// micro-kernels' width for a panel of that many columns.
template <class F>
inline void with_block_columns(std::int64_t columns, F&& f) {
  if (columns <= 4)
    f(std::integral_constant<int, 4>());
  else if (columns <= 8)
    f(std::integral_constant<int, 8>());
  else
    f(std::integral_constant<int, kNr>());
}

}  // namespace gemm_detail
}  // namespace convtranspose

#endif
#endif
