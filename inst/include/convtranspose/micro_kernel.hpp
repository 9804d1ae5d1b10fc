// The one micro-kernel of the AVX2 and AVX-512 builds' products (BLIS's
// shape: one register-block contract; packing in pack.hpp; the
// macro-kernels of gemm.hpp only loop): a kMr x Cols block of C (kMr = 2
// wide vectors, Cols of kNr = 12 columns), A read from a packed panel or in
// place, B through a read policy. Both builds share the packed layouts and
// the policies; only the vector type below and the kernel's register
// blocking differ.
#ifndef CONVTRANSPOSE_MICRO_KERNEL_HPP
#define CONVTRANSPOSE_MICRO_KERNEL_HPP

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "tuning.hpp"

namespace convtranspose {
namespace gemm_detail {

// A wide vector: 8 doubles or 16 floats, one 512-bit register in the
// AVX-512 build, a pair of 256-bit ones in the AVX2 build. Beside the
// arithmetic, the row groups' operations: the first `lanes` of 8 doubles
// loaded (zeros past them) or stored, 8 doubles rounded to 8 floats, and
// half of a float vector widened to doubles.
template <class T>
struct Wide;

#if defined(CONVTRANSPOSE_GEMM_AVX512)

inline __mmask8 lane_mask(int lanes) { return static_cast<__mmask8>((1u << lanes) - 1u); }

template <>
struct Wide<double> {
  using Vec = __m512d;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm512_setzero_pd(); }
  static Vec load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Vec v) { _mm512_storeu_pd(p, v); }
  static Vec broadcast(double x) { return _mm512_set1_pd(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
  static Vec load_lanes(const double* p, int lanes) {
    return _mm512_maskz_loadu_pd(lane_mask(lanes), p);
  }
  static void store_lanes(double* p, Vec v, int lanes) {
    _mm512_mask_storeu_pd(p, lane_mask(lanes), v);
  }
  static __m256 to_float(Vec v) { return _mm512_cvtpd_ps(v); }
};

template <>
struct Wide<float> {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec broadcast(float x) { return _mm512_set1_ps(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static __m512d half_to_double(Vec v, int half) {
    return _mm512_cvtps_pd(half == 0 ? _mm512_castps512_ps256(v)
                                     : _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
};

// The first `lanes` of 8 floats (zeros past them).
inline __m256 load_float_lanes(const float* p, int lanes) {
  return _mm256_maskz_loadu_ps(lane_mask(lanes), p);
}

#else  // the AVX2 build

// One 256-bit register of T: the AVX2 kernel's own vector.
template <class T>
struct Ymm;

template <>
struct Ymm<double> {
  using Vec = __m256d;
  static constexpr int kLanes = 4;
  static Vec zero() { return _mm256_setzero_pd(); }
  static Vec load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, Vec v) { _mm256_storeu_pd(p, v); }
  static Vec broadcast(double x) { return _mm256_set1_pd(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_pd(a, b); }
};

template <>
struct Ymm<float> {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec broadcast(float x) { return _mm256_set1_ps(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
};

template <class T>
struct YmmPair {
  typename Ymm<T>::Vec lo, hi;
};

// Lanes [first, first + 4) of the first `lanes` as an AVX2 mask.
inline __m256i lanes_from(int first, int lanes) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lanes - first), _mm256_setr_epi64x(0, 1, 2, 3));
}

template <class T>
struct WidePair {
  using Y = Ymm<T>;
  using Vec = YmmPair<T>;
  static constexpr int kLanes = 2 * Y::kLanes;
  static Vec zero() { return {Y::zero(), Y::zero()}; }
  static Vec load(const T* p) { return {Y::load(p), Y::load(p + Y::kLanes)}; }
  static void store(T* p, Vec v) { Y::store(p, v.lo), Y::store(p + Y::kLanes, v.hi); }
  static Vec broadcast(T x) { return {Y::broadcast(x), Y::broadcast(x)}; }
  static Vec fma(Vec a, Vec b, Vec c) { return {Y::fma(a.lo, b.lo, c.lo), Y::fma(a.hi, b.hi, c.hi)}; }
  static Vec add(Vec a, Vec b) { return {Y::add(a.lo, b.lo), Y::add(a.hi, b.hi)}; }
};

// (a whole row group by plain loads and stores: AVX2's masked ones are
// microcoded on some CPUs, the stores slowly)
template <>
struct Wide<double> : WidePair<double> {
  static Vec load_lanes(const double* p, int lanes) {
    if (lanes >= kLanes) return load(p);
    return {_mm256_maskload_pd(p, lanes_from(0, lanes)), _mm256_maskload_pd(p + 4, lanes_from(4, lanes))};
  }
  static void store_lanes(double* p, Vec v, int lanes) {
    if (lanes >= kLanes) return store(p, v);
    _mm256_maskstore_pd(p, lanes_from(0, lanes), v.lo);
    _mm256_maskstore_pd(p + 4, lanes_from(4, lanes), v.hi);
  }
  static __m256 to_float(Vec v) {
    return _mm256_set_m128(_mm256_cvtpd_ps(v.hi), _mm256_cvtpd_ps(v.lo));
  }
};

template <>
struct Wide<float> : WidePair<float> {
  static Wide<double>::Vec half_to_double(Vec v, int half) {
    const __m256 x = half == 0 ? v.lo : v.hi;
    return {_mm256_cvtps_pd(_mm256_castps256_ps128(x)), _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))};
  }
};

inline __m256 load_float_lanes(const float* p, int lanes) {
  if (lanes >= 8) return _mm256_loadu_ps(p);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_maskload_ps(p, mask);
}

#endif

constexpr int kNr = 12;   // columns of C per register block
constexpr int kVecs = 2;  // wide vectors of rows per register block
constexpr std::int64_t kKc = tuning::kGemmDepth;

template <class T>
constexpr int rows_per_block() {
  return kVecs * Wide<T>::kLanes;
}

// The register block's results into its Cols columns of C: added to them
// when `accumulate`, else stored, plus the block's kMr values of `row_bias`
// when given (a bias per row, the same for every column).
template <class T, int Cols, class Vec>
inline void store_block(Vec (&acc)[Cols][kVecs], T* const* cols, bool accumulate,
                        const T* row_bias) {
  using V = Wide<T>;
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
// policy `store` (StoreColumns above, or a row-group store), called once
// with the block's sums. Fewer columns than kNr serve a last, partial panel
// (64 columns are 5 panels and 4 columns: 11% of the FMAs of a full-width
// last panel would be wasted).
#if defined(CONVTRANSPOSE_GEMM_AVX512)
template <class T, int Cols, class Vec>
inline void zero_block(Vec (&acc)[Cols][kVecs]) {
#pragma GCC unroll 12
  for (int j = 0; j < Cols; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) acc[j][v] = Wide<T>::zero();
}

template <class T, int Cols, class BRows, class Store>
__attribute__((always_inline)) inline void micro_kernel(const T* a, std::int64_t lda,
                                                        const BRows& b_rows, const Store& store) {
  using V = Wide<T>;
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
#else
// AVX2 has 16 vector registers, too few for the block's 24 wide (48 ymm)
// accumulators: the block is summed in parts of one wide vector of rows by
// Width columns (2 x Width ymm accumulators, at most 12, with 2 of A and
// one of B), each part a pass over the inner dimension, and handed to the
// store policy from memory.
template <class T, int First, int Width>
struct BlockPart {
  template <int Cols, class BRows>
  __attribute__((always_inline)) static void sum(const T* a, std::int64_t lda, const BRows& b_rows,
                                                 int v, typename Wide<T>::Vec (&acc)[Cols][kVecs]) {
    using Y = Ymm<T>;
    typename Y::Vec part[Width][2];
#pragma GCC unroll 6
    for (int j = 0; j < Width; ++j) part[j][0] = part[j][1] = Y::zero();
    a += v * Wide<T>::kLanes;
    b_rows([&](const auto& b) __attribute__((always_inline)) {
      const typename Y::Vec a0 = Y::load(a), a1 = Y::load(a + Y::kLanes);
#pragma GCC unroll 6
      for (int j = 0; j < Width; ++j) {
        const typename Y::Vec bj = Y::broadcast(b[First + j]);
        part[j][0] = Y::fma(a0, bj, part[j][0]);
        part[j][1] = Y::fma(a1, bj, part[j][1]);
      }
      a += lda;
    });
#pragma GCC unroll 6
    for (int j = 0; j < Width; ++j) acc[First + j][v] = {part[j][0], part[j][1]};
  }
};

template <class T, int First>
struct BlockPart<T, First, 0> {
  template <int Cols, class BRows>
  static void sum(const T*, std::int64_t, const BRows&, int, typename Wide<T>::Vec (&)[Cols][kVecs]) {}
};

template <class T, int Cols, class BRows, class Store>
__attribute__((always_inline)) inline void micro_kernel(const T* a, std::int64_t lda,
                                                        const BRows& b_rows, const Store& store) {
  // columns in parts of 4 + 4 for 8 (5 FMAs in flight per pipe need 10
  // accumulators or so: 6 + 2 would leave the second part latency-bound)
  constexpr int kFirst = Cols <= 6 ? Cols : Cols == 8 ? 4 : 6;
  typename Wide<T>::Vec acc[Cols][kVecs];
#pragma GCC unroll 2
  for (int v = 0; v < kVecs; ++v) {
    BlockPart<T, 0, kFirst>::template sum<Cols>(a, lda, b_rows, v, acc);
    BlockPart<T, kFirst, Cols - kFirst>::template sum<Cols>(a, lda, b_rows, v, acc);
  }
  store(acc);
}
#endif

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
