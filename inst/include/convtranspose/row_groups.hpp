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

  // lanes of one row group's sums, as doubles, into a double output
  __attribute__((always_inline)) void put(double* dst, Doubles::Vec sums, T column_bias,
                                          int n) const {
    const Doubles::Vec base = add ? Doubles::load_lanes(dst, n)
                                  : Doubles::broadcast(static_cast<double>(column_bias));
    Doubles::store_lanes(dst, Doubles::add(base, sums), n);
  }

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
  // (double storage, the package's, by masked vector stores; any other one
  // value by value)
  __attribute__((always_inline)) void store_doubles(Storage* dst, Doubles::Vec sums, T column_bias,
                                                    int n) const {
    if (std::is_same<Storage, double>::value) {
      put(reinterpret_cast<double*>(dst), sums, column_bias, n);
    } else {
      alignas(64) double tmp[kRowGroup];
      Doubles::store(tmp, sums);
      for (int i = 0; i < n; ++i)
        dst[i] = add ? dst[i] + static_cast<Storage>(tmp[i])
                     : static_cast<Storage>(tmp[i] + static_cast<double>(column_bias));
    }
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


}  // namespace detail
}  // namespace convtranspose

#endif
#endif
