// Products straight on R's layout, for batches of 8 samples or more (AVX2
// and AVX-512 builds). R keeps the batch index fastest, so for one pixel
// and one channel the values of 8 consecutive samples are contiguous. A
// product whose rows are (sample, pixel) pairs, taken 8 samples of one
// pixel at a time (a "row group"), can therefore read its operand and write
// its result in place, with the batch as the vector dimension:
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

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "gemm.hpp"
#include "pack.hpp"
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
using gemm_detail::pack_weight_panels;
using gemm_detail::pack_weight_rows;
using gemm_detail::panel_offset;
using gemm_detail::transpose_8x8;
using gemm_detail::weight_panels;

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

// The first n lanes of a row group's sums (as doubles) into its output:
// added to it, or stored plus the column's bias. Double storage, the
// package's, by masked vector stores; any other one value by value.
template <class T, class Storage>
__attribute__((always_inline)) inline void store_row_group(Storage* dst,
                                                           gemm_detail::Wide<double>::Vec sums,
                                                           T column_bias, int n, bool add) {
  using Doubles = gemm_detail::Wide<double>;
  if (std::is_same<Storage, double>::value) {
    double* out = reinterpret_cast<double*>(dst);
    const Doubles::Vec base = add ? Doubles::load_lanes(out, n)
                                  : Doubles::broadcast(static_cast<double>(column_bias));
    Doubles::store_lanes(out, Doubles::add(base, sums), n);
  } else {
    alignas(64) double tmp[kRowGroup];
    Doubles::store(tmp, sums);
    for (int i = 0; i < n; ++i)
      dst[i] = add ? dst[i] + static_cast<Storage>(tmp[i])
                   : static_cast<Storage>(tmp[i] + static_cast<double>(column_bias));
  }
}

// The row-group store policy of micro_kernel(): the block's rows are
// kSlots row groups, slot after slot (8 lanes each: one wide vector of
// doubles, half a wide vector of floats), each written to its own output
// pixel with the missing samples of a partial row group masked off,
// converted to the storage type. out[slot] is the row group's output at the panel's first
// column (column j `batch` values further on), null past the last row
// group. Sums are added to the output (`add`), or stored plus the column's
// bias (bias[j], when given).
template <class T, class Storage>
struct RowGroupStore {
  Storage* const* out;
  const int* lanes;
  std::int64_t batch, cols;
  const T* bias;
  bool add;

  using Doubles = gemm_detail::Wide<double>;
  using Floats = gemm_detail::Wide<float>;

  template <int Cols, class Vec>
  __attribute__((always_inline)) void operator()(Vec (&acc)[Cols][gemm_detail::kVecs]) const {
    constexpr int kSlotsPerVec = gemm_detail::Wide<T>::kLanes / kRowGroup;
#pragma GCC unroll 12
    for (int j = 0; j < Cols; ++j) {
      if (j >= cols) break;
      const T column_bias = bias != nullptr && !add ? bias[j] : T(0);
#pragma GCC unroll 2
      for (int v = 0; v < gemm_detail::kVecs; ++v)
#pragma GCC unroll 2
        for (int h = 0; h < kSlotsPerVec; ++h) {
          const int slot = v * kSlotsPerVec + h;
          if (out[slot] == nullptr) continue;
          Storage* dst = out[slot] + j * batch;
          store_slot(dst, acc[j][v], h, column_bias, lanes[slot]);
        }
    }
  }

 private:
  __attribute__((always_inline)) void store_slot(Storage* dst, Doubles::Vec v, int, T column_bias,
                                                 int n) const {
    store_doubles(dst, v, column_bias, n);
  }
  __attribute__((always_inline)) void store_slot(Storage* dst, Floats::Vec v, int half,
                                                 T column_bias, int n) const {
    store_doubles(dst, Floats::half_to_double(v, half), column_bias, n);
  }
  __attribute__((always_inline)) void store_doubles(Storage* dst, Doubles::Vec sums, T column_bias,
                                                    int n) const {
    store_row_group(dst, sums, column_bias, n, add);
  }
};

// `lanes` values of a row group into the packed operand, zeros in the
// other lanes (all zeros for null).
inline void load_row_group(double* dst, const double* src, int lanes) {
  using Doubles = gemm_detail::Wide<double>;
  Doubles::store(dst, src != nullptr ? Doubles::load_lanes(src, lanes) : Doubles::zero());
}

inline void load_row_group(float* dst, const double* src, int lanes) {
  using Doubles = gemm_detail::Wide<double>;
  _mm256_storeu_ps(dst, src != nullptr ? Doubles::to_float(Doubles::load_lanes(src, lanes))
                                       : _mm256_setzero_ps());
}

inline void load_row_group(float* dst, const float* src, int lanes) {
  _mm256_storeu_ps(dst, src != nullptr ? gemm_detail::load_float_lanes(src, lanes)
                                       : _mm256_setzero_ps());
}

template <class T, class In>
void load_row_group(T* dst, const In* src, int lanes) {
  for (int i = 0; i < kRowGroup; ++i)
    dst[i] = src != nullptr && i < lanes ? static_cast<T>(src[i]) : T(0);
}

// Per-thread scratch of one work item: the input read in storage type In
// (R's doubles, or a float copy of them), the output written in Out.
template <class T, class In, class Out>
struct RowGroupScratch {
  std::vector<const In*> in;  // [row group * taps + t]: input pixel, or null
  std::vector<Out*> out;      // [row group]: output pixel
  std::vector<int> lanes;          // [row group]: samples in it
  AlignedVector<T> packed;         // the rows of one slice of the inner dimension
  std::vector<unsigned char> off_image;  // [block]: the slice's taps all off the image
};

// out (+)= rows x W for `row_groups` row groups. Row group r reads tap t's
// channel c at s.in[r * taps + t] + c * batch (s.lanes[r] values; zeros for
// a null pointer) and writes column j at s.out[r] + j * batch. W is packed by
// pack_weight_panels() (taps * channels x columns); the product covers its
// rows [k_begin, k_end) of the inner dimension (all of them, 0 to
// taps * channels, or a whole number of kKc slices packed as a W of that
// depth). Without `accumulate` the first slice stores the sums plus bias[j]
// (or zero). With `skip_off_image` (a finite W, where zero rows add
// nothing) register blocks whose row groups all read null at every tap of a
// slice skip it.
template <class T, class In, class Out>
void row_group_product(std::int64_t row_groups, std::int64_t taps, std::int64_t channels,
                       std::int64_t batch, const T* packed_w, std::int64_t columns, const T* bias,
                       bool accumulate, RowGroupScratch<T, In, Out>& s, std::int64_t k_begin,
                       std::int64_t k_end, bool skip_off_image) {
  using gemm_detail::kNr;
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  constexpr std::int64_t kSlots = kMr / kRowGroup;  // row groups per register block
  const std::int64_t blocks = (row_groups + kSlots - 1) / kSlots;
  for (std::int64_t k0 = k_begin; k0 < k_end; k0 += gemm_detail::kKc) {
    const std::int64_t kc = std::min(gemm_detail::kKc, k_end - k0);
    s.packed.resize(static_cast<std::size_t>(blocks * kMr * kc));
    // Blocks whose row groups all read off the image at every tap of the
    // slice (a border pixel's missing taps) would multiply zeros.
    const std::int64_t t_first = k0 / channels, t_last = (k0 + kc - 1) / channels;
    s.off_image.assign(static_cast<std::size_t>(blocks), skip_off_image ? 1 : 0);
    for (std::int64_t r = 0; r < (skip_off_image ? row_groups : 0); ++r)
      for (std::int64_t t = t_first; t <= t_last && t < taps; ++t)
        if (s.in[static_cast<std::size_t>(r * taps + t)] != nullptr) {
          s.off_image[static_cast<std::size_t>(r / kSlots)] = 0;
          break;
        }
    // Left operand: row group r of block b at slot r % kSlots.
    for (std::int64_t r = 0; r < blocks * kSlots; ++r) {
      if (s.off_image[static_cast<std::size_t>(r / kSlots)]) continue;
      T* dst = s.packed.data() + (r / kSlots) * kMr * kc + (r % kSlots) * kRowGroup;
      // (tap t, channel c) of row k, stepped rather than divided out
      std::int64_t t = k0 / channels, c = k0 % channels;
      auto tap_row = [&](std::int64_t row) -> const In* {
        return row < row_groups && t < taps ? s.in[static_cast<std::size_t>(row * taps + t)]
                                            : nullptr;
      };
      // The next row group's runs fetched one row group ahead: scattered
      // runs, one per tap, defeat the hardware prefetcher.
      const In* src = tap_row(r);
      const In* ahead = tap_row(r + 1);
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
        const bool skip = s.off_image[static_cast<std::size_t>(b)] != 0;
        if (skip && add) continue;
        Out* out[kSlots];
        for (std::int64_t slot = 0; slot < kSlots; ++slot) {
          const std::int64_t r = b * kSlots + slot;
          out[slot] = r < row_groups ? s.out[static_cast<std::size_t>(r)] + j0 * batch : nullptr;
        }
        const RowGroupStore<T, Out> store{
            out, s.lanes.data() + b * kSlots, batch, cols, bias != nullptr ? bias + j0 : nullptr,
            add};
        // (a skipped block of the first slice still stores the bias: an
        // empty inner dimension)
        gemm_detail::with_block_columns(cols, [&](auto width) {
          gemm_detail::micro_kernel<T, decltype(width)::value>(
              s.packed.data() + b * kMr * kc, kMr,
              gemm_detail::PackedRows<T>{pw, skip ? 0 : kc}, store);
        });
      }
    }
  }
}


// A row group's 8 lanes in the compute type, for the narrow product below:
// doubles as a wide vector, floats as one 256-bit register (both builds).
template <class T>
struct RowGroupLanes;

template <>
struct RowGroupLanes<double> {
  using W = gemm_detail::Wide<double>;
  using Vec = W::Vec;
#if defined(CONVTRANSPOSE_GEMM_AVX512)
  static constexpr int kRegisters = 1;
#else
  static constexpr int kRegisters = 2;
#endif
  static Vec zero() { return W::zero(); }
  static Vec load(const double* p, int lanes) { return W::load_lanes(p, lanes); }
  static Vec load(const double* p) { return W::load(p); }
  static Vec fma(Vec x, double w, Vec acc) { return W::fma(x, W::broadcast(w), acc); }
  static W::Vec to_doubles(Vec v) { return v; }
};

template <>
struct RowGroupLanes<float> {
  using Vec = __m256;
  static constexpr int kRegisters = 1;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p, int lanes) { return gemm_detail::load_float_lanes(p, lanes); }
  static Vec load(const double* p, int lanes) {
    using W = gemm_detail::Wide<double>;
    return W::to_float(W::load_lanes(p, lanes));
  }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec load(const double* p) { return gemm_detail::Wide<double>::to_float(gemm_detail::Wide<double>::load(p)); }
  static Vec fma(Vec x, float w, Vec acc) { return _mm256_fmadd_ps(x, _mm256_set1_ps(w), acc); }
  static gemm_detail::Wide<double>::Vec to_doubles(Vec v) {
#if defined(CONVTRANSPOSE_GEMM_AVX512)
    return _mm512_cvtps_pd(v);
#else
    return {_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))};
#endif
  }
};

// Rows row groups from r0 on, all Cols columns: sums over taps and
// channels read in place (a tap off the image reads a zero row group).
// Full: every row group has 8 samples (plain loads, no lane masks).
template <class T, int Cols, int Rows, bool Full, class In, class Out>
__attribute__((always_inline)) inline void narrow_block(std::int64_t r0, std::int64_t taps,
                                                        std::int64_t channels, std::int64_t batch,
                                                        const T* packed_w, const T* bias, bool add,
                                                        const RowGroupScratch<T, In, Out>& s,
                                                        const In* zeros) {
  using L = RowGroupLanes<T>;
  typename L::Vec acc[Rows][Cols];
#pragma GCC unroll 4
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < Cols; ++j) acc[i][j] = L::zero();
  int lanes[Rows];
#pragma GCC unroll 4
  for (int i = 0; i < Rows; ++i) lanes[i] = s.lanes[static_cast<std::size_t>(r0 + i)];
  for (std::int64_t t = 0; t < taps; ++t) {
    const In* src[Rows];
    std::int64_t step[Rows];
#pragma GCC unroll 4
    for (int i = 0; i < Rows; ++i) {
      const In* p = s.in[static_cast<std::size_t>((r0 + i) * taps + t)];
      src[i] = p != nullptr ? p : zeros;
      step[i] = p != nullptr ? batch : 0;
    }
    const T* w = packed_w + t * channels * gemm_detail::kNr;
    for (std::int64_t c = 0; c < channels; ++c, w += gemm_detail::kNr) {
#pragma GCC unroll 4
      for (int i = 0; i < Rows; ++i) {
        const typename L::Vec x = Full ? L::load(src[i]) : L::load(src[i], lanes[i]);
        src[i] += step[i];
#pragma GCC unroll 4
        for (int j = 0; j < Cols; ++j) acc[i][j] = L::fma(x, w[j], acc[i][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < Rows; ++i) {
    Out* out = s.out[static_cast<std::size_t>(r0 + i)];
#pragma GCC unroll 4
    for (int j = 0; j < Cols; ++j)
      store_row_group(out + j * batch, L::to_doubles(acc[i][j]),
                      bias != nullptr && !add ? bias[j] : T(0), lanes[i], add);
  }
}

// out (+)= rows x W for a W of at most tuning::kNarrowColumns columns (row_group_product's
// operands and packed W, one panel): the input read in place, not packed.
// With so few columns each packed value would serve as few multiply-adds
// as its packing costs.
template <class T, class In, class Out>
void row_group_narrow_product(std::int64_t row_groups, std::int64_t taps, std::int64_t channels,
                              std::int64_t batch, const T* packed_w, std::int64_t columns,
                              const T* bias, bool accumulate, const RowGroupScratch<T, In, Out>& s) {
  alignas(64) static const In zeros[kRowGroup] = {};
  auto run = [&](auto cols) {
    constexpr int kCols = decltype(cols)::value;
    // (independent sums enough to cover the multiply-adds' latency, within
    // the 16 registers of AVX2)
    constexpr int kRows = std::max(1, std::min(4, 12 / (kCols * RowGroupLanes<T>::kRegisters)));
    std::int64_t r = 0;
    for (; r + kRows <= row_groups; r += kRows) {
      bool full = true;
      for (int i = 0; i < kRows; ++i) full = full && s.lanes[static_cast<std::size_t>(r + i)] == kRowGroup;
      if (full)
        narrow_block<T, kCols, kRows, true>(r, taps, channels, batch, packed_w, bias, accumulate, s, zeros);
      else
        narrow_block<T, kCols, kRows, false>(r, taps, channels, batch, packed_w, bias, accumulate, s, zeros);
    }
    for (; r < row_groups; ++r)
      narrow_block<T, kCols, 1, false>(r, taps, channels, batch, packed_w, bias, accumulate, s, zeros);
  };
  switch (columns) {
    case 1: return run(std::integral_constant<int, 1>());
    case 2: return run(std::integral_constant<int, 2>());
    case 3: return run(std::integral_constant<int, 3>());
    default: return run(std::integral_constant<int, 4>());
  }
}

}  // namespace detail
}  // namespace convtranspose

#endif
#endif
