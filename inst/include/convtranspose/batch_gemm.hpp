// Products straight on R's layout, for batches of a multiple of 8 samples
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
// pixels, taps: all of them).
#ifndef CONVTRANSPOSE_BATCH_GEMM_HPP
#define CONVTRANSPOSE_BATCH_GEMM_HPP

#if defined(CONVTRANSPOSE_GEMM_AVX512)

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "gemm.hpp"
#include "geometry.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "phase_gemm.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

constexpr std::int64_t kRowGroup = 8;  // samples per row group

// Whether the products can run on R's layout: whole row groups.
inline bool batch_in_place(const ConvGeometry& g) {
  return g.batch >= kRowGroup && g.batch % kRowGroup == 0;
}

// A (taps * channels) x columns weight packed in panels of kNr columns,
// row by row: the right operand micro_kernel() reads. value(k, j) gives
// W[k, j].
template <class T, class Value>
std::vector<T> pack_weight_panels(std::int64_t depth, std::int64_t columns, Value value) {
  constexpr std::int64_t nr = gemm_detail::kNr;
  const std::int64_t panels = (columns + nr - 1) / nr;
  std::vector<T> packed(static_cast<std::size_t>(panels * nr * depth), T(0));
  for (std::int64_t j = 0; j < columns; ++j)
    for (std::int64_t k = 0; k < depth; ++k)
      packed[static_cast<std::size_t>((j / nr) * nr * depth + k * nr + j % nr)] = value(k, j);
  return packed;
}

// Per-thread scratch of one work item.
template <class T, class Storage>
struct RowGroupScratch {
  std::vector<const Storage*> in;  // [row group * taps + t]: input pixel, or null
  std::vector<Storage*> out;       // [row group]: output pixel
  std::vector<T> packed;           // the rows of one slice of the inner dimension
};

// out (+)= rows x W for `row_groups` row groups. Row group r reads tap t's
// channel c at s.in[r * taps + t] + c * batch (8 values; zeros for a null
// pointer) and writes column j at s.out[r] + j * batch. W is packed by
// pack_weight_panels() (taps * channels x columns). Without `accumulate`
// the first slice stores the sums plus bias[j] (or zero).
template <class T, class Storage>
void row_group_product(std::int64_t row_groups, std::int64_t taps, std::int64_t channels,
                       std::int64_t batch, const T* packed_w, std::int64_t columns, const T* bias,
                       bool accumulate, RowGroupScratch<T, Storage>& s) {
  using gemm_detail::kNr;
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  constexpr std::int64_t kSlots = kMr / kRowGroup;  // row groups per register block
  const std::int64_t depth = taps * channels;
  const std::int64_t blocks = (row_groups + kSlots - 1) / kSlots;
  alignas(64) T tile[kMr * kNr];
  T* targets[kNr];
  for (int j = 0; j < kNr; ++j) targets[j] = tile + j * kMr;
  for (std::int64_t k0 = 0; k0 < depth; k0 += gemm_detail::kKc) {
    const std::int64_t kc = std::min(gemm_detail::kKc, depth - k0);
    s.packed.resize(static_cast<std::size_t>(blocks * kMr * kc));
    // Left operand: row group r of block b at slot r % kSlots.
    for (std::int64_t r = 0; r < blocks * kSlots; ++r) {
      T* dst = s.packed.data() + (r / kSlots) * kMr * kc + (r % kSlots) * kRowGroup;
      for (std::int64_t k = k0; k < k0 + kc; ++k, dst += kMr) {
        const Storage* src =
            r < row_groups ? s.in[static_cast<std::size_t>(r * taps + k / channels)] : nullptr;
        if (src == nullptr) {
          for (std::int64_t i = 0; i < kRowGroup; ++i) dst[i] = T(0);
        } else {
          src += (k % channels) * batch;
          for (std::int64_t i = 0; i < kRowGroup; ++i) dst[i] = static_cast<T>(src[i]);
        }
      }
    }
    const bool add = accumulate || k0 > 0;
    for (std::int64_t j0 = 0; j0 < columns; j0 += kNr) {
      const std::int64_t cols = std::min<std::int64_t>(kNr, columns - j0);
      const T* pw = packed_w + (j0 / kNr) * kNr * depth + k0 * kNr;
      for (std::int64_t b = 0; b < blocks; ++b) {
        gemm_detail::micro_kernel<T>(kc, s.packed.data() + b * kMr * kc, pw, targets, false);
        for (std::int64_t slot = 0; slot < kSlots; ++slot) {
          const std::int64_t r = b * kSlots + slot;
          if (r >= row_groups) break;
          Storage* out = s.out[static_cast<std::size_t>(r)] + j0 * batch;
          const T* sums = tile + slot * kRowGroup;
          for (std::int64_t j = 0; j < cols; ++j, out += batch, sums += kMr) {
            if (add) {
              for (std::int64_t i = 0; i < kRowGroup; ++i) out[i] += static_cast<Storage>(sums[i]);
            } else {
              const T b0 = bias != nullptr ? bias[j0 + j] : T(0);
              for (std::int64_t i = 0; i < kRowGroup; ++i)
                out[i] = static_cast<Storage>(sums[i] + b0);
            }
          }
        }
      }
    }
  }
}

// Row groups per work item: about 128 rows (the packed rows of a slice stay
// in L2 while every weight panel passes over them), fewer where that leaves
// less than two items per thread.
inline std::int64_t row_groups_per_item(std::int64_t row_groups, std::int64_t items_besides,
                                        int threads) {
  const std::int64_t by_threads =
      (row_groups * items_besides + 2 * threads - 1) / (2 * threads) / std::max<std::int64_t>(1, items_besides);
  return std::max<std::int64_t>(1, std::min<std::int64_t>(128 / kRowGroup, by_threads));
}

// Where the fine pixel with index `j` among a phase's pixels lies.
inline std::int64_t phase_fine_pixel(const ConvGeometry& g, const Phase& phase, std::int64_t j,
                                     std::int64_t* q) {
  const PhaseAxis* ax = phase.axis;
  q[0] = j % ax[0].count;
  q[1] = (j / ax[0].count) % ax[1].count;
  q[2] = j / (ax[0].count * ax[1].count);
  return ax[0].first + g.stride[0] * q[0] +
         g.fine_size[0] * (ax[1].first + g.stride[1] * q[1] +
                           g.fine_size[1] * (ax[2].first + g.stride[2] * q[2]));
}

// coarse -> fine on R's layout by stride phase (see phase_gemm.hpp for the
// phases). `coarse`, `fine`: R arrays (batch fastest); weight and bias in T.
// Requires batch_in_place(g) and a finite weight (a zero row standing for a
// coarse pixel off the image must contribute nothing).
template <class T, class Storage>
Status batch_phase_gemm(const ConvGeometry& g, const std::vector<Phase>& phases,
                        const Storage* coarse, const T* weight, const T* bias, Storage* fine,
                        const ComputeOptions& options) {
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
          /*team_from=*/1e6);
      if (!filled.ok()) return filled;
    }
    // Each phase's weight per group, (taps * C_coarse/g x C_fine/g): row
    // ti * C_coarse/g + c is coarse channel c of the phase's tap ti.
    const std::size_t pairs = phases.size() * static_cast<std::size_t>(g.groups);
    std::vector<std::vector<T>> rhs(pairs);
    Status packed = run_items<char>(
        pairs, static_cast<double>(g.weight_elements) / static_cast<double>(pairs), options,
        [&](std::size_t pair, char&) {
          const Phase& phase = phases[pair / static_cast<std::size_t>(g.groups)];
          const std::int64_t grp = static_cast<std::int64_t>(pair) % g.groups;
          std::vector<std::int64_t> tap_of;  // (column-major: dimension 0 fastest)
          for (std::int64_t t2 : phase.axis[2].taps)
            for (std::int64_t t1 : phase.axis[1].taps)
              for (std::int64_t t0 : phase.axis[0].taps)
                tap_of.push_back(t0 + g.kernel_size[0] * (t1 + g.kernel_size[1] * t2));
          rhs[pair] = pack_weight_panels<T>(phase.taps * ccg, cfg, [&](std::int64_t k, std::int64_t f) {
            return weight[grp * ccg + k % ccg + cc * (f + cfg * tap_of[static_cast<std::size_t>(k / ccg)])];
          });
        },
        /*team_from=*/65536);
    if (!packed.ok()) return packed;
    struct Item {
      std::int64_t grp, phase, begin, end;  // row groups [begin, end)
    };
    std::vector<Item> items;
    double work = 0;
    const std::int64_t items_besides = g.groups * static_cast<std::int64_t>(phases.size());
    for (std::int64_t grp = 0; grp < g.groups; ++grp)
      for (std::size_t ph = 0; ph < phases.size(); ++ph) {
        const std::int64_t row_groups = phases[ph].columns * (B / kRowGroup);
        work += 2.0 * static_cast<double>(row_groups * kRowGroup) * phases[ph].taps * ccg * cfg;
        const std::int64_t step =
            row_groups_per_item(row_groups, items_besides, options.num_threads);
        for (std::int64_t r = 0; r < row_groups; r += step)
          items.push_back({grp, static_cast<std::int64_t>(ph), r, std::min(row_groups, r + step)});
      }
    return run_items<RowGroupScratch<T, Storage>>(
        items.size(), work / static_cast<double>(std::max<std::size_t>(1, items.size())), options,
        [&](std::size_t i, RowGroupScratch<T, Storage>& s) {
          const Item& it = items[i];
          const Phase& phase = phases[static_cast<std::size_t>(it.phase)];
          const PhaseAxis* ax = phase.axis;
          const std::int64_t count = it.end - it.begin;
          s.in.resize(static_cast<std::size_t>(count * phase.taps));
          s.out.resize(static_cast<std::size_t>(count));
          for (std::int64_t r = 0; r < count; ++r) {
            const std::int64_t row = (it.begin + r) * kRowGroup;  // (sample, pixel), sample fastest
            const std::int64_t n0 = row % B, j = row / B;
            std::int64_t q[kMaxRank];
            const std::int64_t fine_pixel = phase_fine_pixel(g, phase, j, q);
            s.out[static_cast<std::size_t>(r)] = fine + n0 + B * (it.grp * cfg + cf * fine_pixel);
            std::int64_t ti = 0;  // taps in the order of the packed weight
            for (std::int64_t o2 : ax[2].offsets)
              for (std::int64_t o1 : ax[1].offsets)
                for (std::int64_t o0 : ax[0].offsets) {
                  const std::int64_t q0 = q[0] + o0, q1 = q[1] + o1, q2 = q[2] + o2;
                  const bool inside = q0 >= 0 && q0 < g.coarse_size[0] && q1 >= 0 &&
                                      q1 < g.coarse_size[1] && q2 >= 0 && q2 < g.coarse_size[2];
                  const std::int64_t pixel = q0 + g.coarse_size[0] * (q1 + g.coarse_size[1] * q2);
                  s.in[static_cast<std::size_t>(r * phase.taps + ti)] =
                      inside ? coarse + n0 + B * (it.grp * ccg + cc * pixel) : nullptr;
                  ++ti;
                }
          }
          row_group_product<T, Storage>(
              count, phase.taps, ccg, B,
              rhs[static_cast<std::size_t>(it.phase * g.groups + it.grp)].data(), cfg,
              bias != nullptr ? bias + it.grp * cfg : nullptr, prefill, s);
        });
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

// fine -> coarse on R's layout as an implicit product: coarse pixel q of a
// group = the fine rows its taps read (a zero row off the image, as
// PyTorch's im2col) times the group's weight. Requires batch_in_place(g).
template <class T, class Storage>
Status batch_gather_gemm(const ConvGeometry& g, const Storage* fine, const T* weight,
                         const T* bias, Storage* coarse, const ComputeOptions& options) {
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps;
  const std::int64_t* C = g.coarse_size;
  const std::int64_t* F = g.fine_size;
  try {
    // Each group's weight (taps * C_fine/g x C_coarse/g): row t * C_fine/g + c
    // is fine channel c of tap t, the weight's own order.
    std::vector<std::vector<T>> rhs(static_cast<std::size_t>(g.groups));
    for (std::int64_t grp = 0; grp < g.groups; ++grp)
      rhs[static_cast<std::size_t>(grp)] =
          pack_weight_panels<T>(K * cfg, ccg, [&](std::int64_t k, std::int64_t o) {
            return weight[grp * ccg + o + cc * k];
          });
    struct Item {
      std::int64_t grp, begin, end;
    };
    const std::int64_t row_groups = g.coarse_pixels * (B / kRowGroup);
    const std::int64_t step = row_groups_per_item(row_groups, g.groups, options.num_threads);
    std::vector<Item> items;
    for (std::int64_t grp = 0; grp < g.groups; ++grp)
      for (std::int64_t r = 0; r < row_groups; r += step)
        items.push_back({grp, r, std::min(row_groups, r + step)});
    const double per_item = 2.0 * static_cast<double>(step * kRowGroup) * K * cfg * ccg;
    return run_items<RowGroupScratch<T, Storage>>(
        items.size(), per_item, options, [&](std::size_t i, RowGroupScratch<T, Storage>& s) {
          const Item& it = items[i];
          const std::int64_t count = it.end - it.begin;
          s.in.resize(static_cast<std::size_t>(count * K));
          s.out.resize(static_cast<std::size_t>(count));
          for (std::int64_t r = 0; r < count; ++r) {
            const std::int64_t row = (it.begin + r) * kRowGroup;
            const std::int64_t n0 = row % B, q = row / B;
            // (pixels and taps are numbered column-major, dimension 0 fastest)
            const std::int64_t q0 = q % C[0], q1 = (q / C[0]) % C[1], q2 = q / (C[0] * C[1]);
            s.out[static_cast<std::size_t>(r)] = coarse + n0 + B * (it.grp * ccg + cc * q);
            std::int64_t t = 0;
            for (std::int64_t t2 = 0; t2 < g.kernel_size[2]; ++t2) {
              const std::int64_t f2 = q2 * g.stride[2] - g.padding[2] + t2 * g.dilation[2];
              for (std::int64_t t1 = 0; t1 < g.kernel_size[1]; ++t1) {
                const std::int64_t f1 = q1 * g.stride[1] - g.padding[1] + t1 * g.dilation[1];
                for (std::int64_t t0 = 0; t0 < g.kernel_size[0]; ++t0, ++t) {
                  const std::int64_t f0 = q0 * g.stride[0] - g.padding[0] + t0 * g.dilation[0];
                  const bool inside =
                      f0 >= 0 && f0 < F[0] && f1 >= 0 && f1 < F[1] && f2 >= 0 && f2 < F[2];
                  s.in[static_cast<std::size_t>(r * K + t)] =
                      inside ? fine + n0 + B * (it.grp * cfg + cf * (f0 + F[0] * (f1 + F[1] * f2)))
                             : nullptr;
                }
              }
            }
          }
          row_group_product<T, Storage>(count, K, cfg, B, rhs[static_cast<std::size_t>(it.grp)].data(),
                                        ccg, bias != nullptr ? bias + it.grp * ccg : nullptr, false,
                                        s);
        });
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

}  // namespace detail
}  // namespace convtranspose

#endif
#endif
