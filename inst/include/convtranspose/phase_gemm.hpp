// The coarse -> fine direction by stride phase, for the AVX2 and AVX-512
// builds (their indirect product kernel, gemm.hpp). The fine pixels split
// into stride^rank phases by (fine + padding) mod stride. Within a phase,
// every fine pixel is reached by the same taps (those with tap * dilation =
// phase mod stride), each from the coarse pixel at a fixed offset, so one
// phase of one group is a single matrix product:
//
//   fine[phase positions] += [W_t1^T ... W_tT^T] (C_fine/g x T C_coarse/g)
//                             * [x at offset t1; ...; x at offset tT]
//
// with the coarse vectors read in place (a zero vector where an offset falls
// outside the image) and the result added in place onto the bias: no column
// matrix, no scatter of sums (col2im), each fine value written by one thread,
// so results do not depend on the thread count.
#ifndef CONVTRANSPOSE_PHASE_GEMM_HPP
#define CONVTRANSPOSE_PHASE_GEMM_HPP

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <algorithm>
#include <cstdint>
#include <new>
#include <utility>
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

// Columns per work item: about kItemFlops, but at least two items per thread
// where the work allows (so that threads finish together), and at least 48
// columns (four register blocks, so that edges waste little).
inline std::int64_t columns_per_item(double flops_per_column, std::int64_t columns, int threads) {
  const std::int64_t by_flops = static_cast<std::int64_t>(tuning::kItemFlops / std::max(1.0, flops_per_column));
  const std::int64_t by_threads = (columns + 2 * threads - 1) / (2 * threads);
  return std::max<std::int64_t>(48, std::min(std::max<std::int64_t>(by_flops, 96), by_threads));
}

// Pointer tables of one product (indirect_gemm), reused between items.
template <class T>
struct PointerTables {
  std::vector<const T*> b_cols;
  std::vector<T*> c_cols;
};

// Runs pack(pair, phase, group) for every (phase, group) pair of phases
// [first, last) (all by default), pair = (phase index - first) * groups +
// group, on the team: all the phases' packed weights together are as large
// as the layer's weight.
template <class Pack>
Status for_each_phase_and_group(const ConvGeometry& g, const std::vector<Phase>& phases,
                                const ComputeOptions& options, Pack pack, std::size_t first = 0,
                                std::size_t last = static_cast<std::size_t>(-1)) {
  last = std::min(last, phases.size());
  const std::size_t pairs = (last - first) * static_cast<std::size_t>(g.groups);
  const double per_pair = static_cast<double>(g.weight_elements) /
                          static_cast<double>(std::max<std::size_t>(1, phases.size() * g.groups));
  return run_items<char>(
      pairs, per_pair, options,
      [&](std::size_t pair, char&) {
        pack(pair, phases[first + pair / static_cast<std::size_t>(g.groups)],
             static_cast<std::int64_t>(pair % static_cast<std::size_t>(g.groups)));
      },
      tuning::kPackTeamFromValues);
}

// One round of phase_gemm() (below): phases [first, last).
template <class T, class W>
Status phase_gemm_round(const ConvGeometry& g, const std::vector<Phase>& phases,
                        std::size_t first, std::size_t last, const T* coarse, const W* weight,
                        const T* row_bias, const std::vector<T>& zeros, bool overwrite, T* fine,
                        const ComputeOptions& options) {
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t coarse_sample = cc * g.coarse_pixels, fine_sample = cf * g.fine_pixels;
  // The phase's weight, per group: (C_fine/g x taps C_coarse/g), packed
  // for the product kernel; column ti * C_coarse/g + c is coarse channel c
  // of the phase's tap ti.
  std::vector<AlignedVector<T>> lhs((last - first) * static_cast<std::size_t>(g.groups));
  Status packed = for_each_phase_and_group(
      g, phases, options,
      [&](std::size_t pair, const Phase& phase, std::int64_t grp) {
        const std::int64_t depth = phase.taps * ccg;  // the product's inner size
        AlignedVector<T> a = gemm_detail::packed_zeros<T>(cfg, depth);
        for (std::int64_t ti = 0; ti < phase.taps; ++ti) {
          // tap ti's (C_fine/g x C_coarse/g) block, contiguous in c
          const std::int64_t tap = phase.tap_index[static_cast<std::size_t>(ti)];
          const MatrixView<const W> w{weight + grp * ccg + cc * cfg * tap, cfg, ccg, cc, 1};
          gemm_detail::pack_a_columns(w, ti * ccg, depth, a.data());
        }
        lhs[pair] = std::move(a);
      },
      first, last);
  if (!packed.ok()) return packed;
  // Work items: (group, block of fine-pixel indices over all samples,
  // sample-major) for every phase of the round at once, sized by
  // columns_per_item(): index j of each phase reads nearly the same coarse
  // pixels, which after the first phase come from cache.
  std::int64_t most_columns = 0;
  double per_index = 0;  // flops of one index j over the phases
  for (std::size_t ph = first; ph < last; ++ph) {
    most_columns = std::max(most_columns, g.batch * phases[ph].columns);
    per_index += 2.0 * cfg * phases[ph].taps * ccg;
  }
  const std::int64_t block =
      columns_per_item(per_index, most_columns * g.groups, options.num_threads);
  const std::vector<GroupBlock> items = group_blocks(g.groups, most_columns, block);
  return run_items<PointerTables<T>>(
      items.size(), per_index * static_cast<double>(block), options,
      [&](std::size_t i, PointerTables<T>& tables) {
        const GroupBlock& it = items[i];
        for (std::size_t ph = first; ph < last; ++ph) {
          const Phase& phase = phases[ph];
          const std::int64_t begin = std::min(it.begin, g.batch * phase.columns);
          const std::int64_t end = std::min(it.end, g.batch * phase.columns);
          const std::int64_t width = end - begin;
          if (width == 0) continue;
          tables.b_cols.resize(static_cast<std::size_t>(phase.taps * width));
          tables.c_cols.resize(static_cast<std::size_t>(width));
          for (std::int64_t jn = begin; jn < end; ++jn) {
            const std::int64_t col = jn - begin;
            const std::int64_t n = jn / phase.columns, j = jn % phase.columns;
            const T* x = coarse + n * coarse_sample + it.grp * ccg;
            T* y = fine + n * fine_sample + it.grp * cfg;
            const std::int64_t fine_pixel =
                phase_pixel_taps(g, phase, j, [&](std::int64_t ti, std::int64_t pixel) {
                  tables.b_cols[static_cast<std::size_t>(ti * width + col)] =
                      pixel >= 0 ? x + pixel * cc : zeros.data();
                });
            tables.c_cols[static_cast<std::size_t>(col)] = y + fine_pixel * cf;
          }
          gemm_detail::indirect_gemm<T>(
              cfg, width, phase.taps, ccg,
              lhs[(ph - first) * static_cast<std::size_t>(g.groups) +
                  static_cast<std::size_t>(it.grp)]
                  .data(),
              tables.b_cols.data(), tables.c_cols.data(), zeros.data(),
              overwrite ? row_bias + it.grp * cfg : nullptr);
        }
      });
}

// fine: sample-major. With `overwrite` (the phases cover every fine pixel)
// each fine value is stored as bias (or zero) plus its products; otherwise
// fine already holds the bias and the products are added to it. Requires a
// finite weight: a zero vector standing for a coarse pixel outside the image
// must contribute nothing.
template <class T, class W>
Status phase_gemm(const ConvGeometry& g, const std::vector<Phase>& phases, const T* coarse,
                  const W* weight, const T* bias, bool overwrite, T* fine,
                  const ComputeOptions& options) {
  const std::int64_t ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  return guarded([&]() -> Status {
    const std::vector<T> zeros(static_cast<std::size_t>(std::max(ccg, cf)), T(0));
    const T* row_bias = bias != nullptr ? bias : zeros.data();
    // The phases in rounds whose packed weights stay within
    // kPhaseWeightRoundBytes (at least one phase a round): all at once they
    // would be a second copy of the layer's weight (waveglow_up: 52 MB).
    constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
    const std::int64_t packed_rows = (cfg + kMr - 1) / kMr * kMr;
    for (std::size_t first = 0; first < phases.size();) {
      std::size_t last = first;
      std::int64_t round_bytes = 0;
      while (last < phases.size()) {
        const std::int64_t bytes = g.groups * packed_rows * phases[last].taps * ccg *
                                   static_cast<std::int64_t>(sizeof(T));
        if (last > first && round_bytes + bytes > tuning::kPhaseWeightRoundBytes) break;
        round_bytes += bytes;
        ++last;
      }
      Status round = phase_gemm_round(g, phases, first, last, coarse, weight, row_bias, zeros,
                                      overwrite, fine, options);
      if (!round.ok()) return round;
      first = last;
    }
    return Status::success();
  });
}

// Path::phase_sample_major: when the phases cover every fine pixel, their
// products are stored with the bias added, with no pass that fills the
// output first. The weight in the caller's storage, rounded to T as it is
// packed (no converted copy).
template <class T, class W>
Status phase_sample_major(const ConvGeometry& g, const Plan& plan, const T* coarse,
                          const W* weight, const T* bias, T* fine, const ComputeOptions& options) {
  std::int64_t covered = 0;
  for (const Phase& ph : plan.phases) covered += ph.columns;
  const bool overwrite = covered == g.fine_pixels;
  if (!overwrite)
    fill_with_bias(fine, g.batch * g.fine_pixels, g.fine_channels, bias,
                   std::max(1, options.num_threads));
  return phase_gemm(g, plan.phases, coarse, weight, bias, overwrite, fine, options);
}

// The left operand of one round of implicit_gather_gemm (below): each
// group's weight columns [c0, c1) (of C_coarse/g x taps C_fine/g; column
// t * C_fine/g + c is fine channel c of tap t, the weight's own column
// order) in panels of kMr coarse channels (zeros past C_coarse/g), group
// after group; packed straight from the caller's storage (R's doubles
// rounded as they are packed), on the team in stretches of a panel's columns.
template <class T, class W>
Status pack_implicit_round(const ConvGeometry& g, const W* weight, std::int64_t c0,
                           std::int64_t c1, const ComputeOptions& options, T* packed) {
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t depth = g.kernel_taps * g.fine_channels_per_group, width = c1 - c0;
  const std::int64_t panels = (ccg + kMr - 1) / kMr;
  const std::int64_t stretch = std::max<std::int64_t>(1, tuning::kPackValuesPerItem / kMr);
  const std::int64_t stretches = (width + stretch - 1) / stretch;
  const std::int64_t per_group = panels * kMr * width;
  return run_items<char>(
      static_cast<std::size_t>(g.groups * panels * stretches), static_cast<double>(kMr * stretch),
      options,
      [&](std::size_t item, char&) {
        const std::int64_t i = static_cast<std::int64_t>(item);
        const std::int64_t grp = i / (panels * stretches), panel = i / stretches % panels;
        const std::int64_t s0 = i % stretches * stretch, s1 = std::min(width, s0 + stretch);
        const MatrixView<const W> w = column_major(weight + grp * ccg, ccg, depth, cc);
        T* const out_panel = packed + grp * per_group + panel * kMr * width;
        gemm_detail::pack_panels<kMr>(w, panel * kMr, std::min(kMr, ccg - panel * kMr), c0 + s0,
                                      s1 - s0, out_panel + s0 * kMr);
      },
      tuning::kPackTeamFromValues);
}

// One thread's tables for implicit_gather_gemm: the runs of B's columns and
// C's columns, a column's fine pixels, and copies of the runs that cross the
// image's border (with the slots of b_cols that take them).
template <class T>
struct ImplicitTables {
  std::vector<const T*> b_cols;
  std::vector<T*> c_cols;
  std::vector<std::int64_t> pixels;
  std::vector<T> edge;
  std::vector<std::pair<std::size_t, std::size_t>> edge_slots;  // (b_cols slot, edge offset)
};

// The fine -> coarse direction (a convolution's forward pass, a transposed
// convolution's input gradient) in the AVX2 and AVX-512 builds, as an implicit
// product: coarse pixel q of a group = W_g (C_coarse/g x taps C_fine/g) times
// the fine vectors its taps reach (a zero vector off the image), read in
// place, with no im2col column matrix. Each run of B holds `run_taps` taps
// (plan.run_taps: consecutive taps reading consecutive fine pixels, whose
// channels lie back to back): a run inside the image is read in place, one
// wholly outside reads zeros, one across the border a copy. The weight is
// packed in rounds of whole runs within kPhaseWeightRoundBytes (a packed
// copy of a large weight would be fresh memory at every call), each round
// adding its runs' products. coarse: sample-major, overwritten with the bias
// (or zero) plus the products. Like the column path, taps off the image
// multiply zeros (as PyTorch's im2col).
template <class T, class W>
Status implicit_gather_gemm(const ConvGeometry& g, std::int64_t run_taps, const W* weight,
                            const T* fine, const T* bias, T* coarse,
                            const ComputeOptions& options) {
  constexpr std::int64_t kMr = gemm_detail::rows_per_block<T>();
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps, depth = K * cfg;
  const std::int64_t run = run_taps * cfg, segments = K / run_taps;
  const std::int64_t coarse_sample = cc * g.coarse_pixels, fine_sample = cf * g.fine_pixels;
  return guarded([&]() -> Status {
    const double per_column = 2.0 * ccg * depth;
    const std::int64_t columns = g.batch * g.coarse_pixels;
    const std::int64_t block =
        columns_per_item(per_column, columns * g.groups, options.num_threads);
    const std::vector<GroupBlock> items = group_blocks(g.groups, columns, block);
    const std::vector<T> zeros(static_cast<std::size_t>(std::max(run, cc)), T(0));
    const T* row_bias = bias != nullptr ? bias : zeros.data();
    const std::int64_t panels = (ccg + kMr - 1) / kMr;
    const std::int64_t run_bytes =
        g.groups * panels * kMr * run * static_cast<std::int64_t>(sizeof(T));
    const std::int64_t round_segments =
        std::min(segments, std::max<std::int64_t>(1, tuning::kPhaseWeightRoundBytes / run_bytes));
    const std::int64_t group_values = panels * kMr * round_segments * run;
    WorkBuffer<T> packed(static_cast<std::size_t>(g.groups * group_values));
    for (std::int64_t s0 = 0; s0 < segments; s0 += round_segments) {
      const std::int64_t segs = std::min(round_segments, segments - s0);
      const std::int64_t round_values = panels * kMr * segs * run;
      Status done = pack_implicit_round(g, weight, s0 * run, (s0 + segs) * run, options,
                                        packed.data());
      if (!done.ok()) return done;
      done = run_items<ImplicitTables<T>>(
          items.size(), per_column * static_cast<double>(block) * segs / segments, options,
          [&](std::size_t i, ImplicitTables<T>& tables) {
            const GroupBlock& it = items[i];
            const std::int64_t width = it.end - it.begin;
            tables.b_cols.resize(static_cast<std::size_t>(segs * width));
            tables.c_cols.resize(static_cast<std::size_t>(width));
            tables.pixels.resize(static_cast<std::size_t>(K));
            tables.edge.clear();
            tables.edge_slots.clear();
            std::int64_t* const pixels = tables.pixels.data();
            for (std::int64_t jn = it.begin; jn < it.end; ++jn) {
              const std::int64_t col = jn - it.begin;
              const std::int64_t n = jn / g.coarse_pixels, q = jn % g.coarse_pixels;
              tables.c_cols[static_cast<std::size_t>(col)] =
                  coarse + n * coarse_sample + q * cc + it.grp * ccg;
              const T* y = fine + n * fine_sample + it.grp * cfg;
              fine_pixels_of(g, q, [&](std::int64_t t, std::int64_t pixel) { pixels[t] = pixel; });
              for (std::int64_t s = 0; s < segs; ++s) {
                const std::int64_t* px = pixels + (s0 + s) * run_taps;
                bool inside = px[0] >= 0, outside = px[0] < 0;
                for (std::int64_t u = 1; u < run_taps; ++u) {
                  inside = inside && px[u] == px[0] + u;
                  outside = outside && px[u] < 0;
                }
                const std::size_t slot = static_cast<std::size_t>(s * width + col);
                tables.b_cols[slot] = inside ? y + px[0] * cf : zeros.data();
                if (inside || outside) continue;
                tables.edge_slots.emplace_back(slot, tables.edge.size());
                for (std::int64_t u = 0; u < run_taps; ++u) {
                  const T* src = px[u] >= 0 ? y + px[u] * cf : zeros.data();
                  tables.edge.insert(tables.edge.end(), src, src + cfg);
                }
              }
            }
            for (const auto& e : tables.edge_slots)
              tables.b_cols[e.first] = tables.edge.data() + e.second;
            // (the first round overwrites C with the bias plus its products,
            // later rounds add theirs)
            const T* first_bias = s0 == 0 ? row_bias + it.grp * ccg : nullptr;
            gemm_detail::indirect_gemm<T>(ccg, width, segs, run,
                                          packed.data() + it.grp * round_values,
                                          tables.b_cols.data(), tables.c_cols.data(),
                                          zeros.data(), first_bias);
          });
      if (!done.ok()) return done;
    }
    return Status::success();
  });
}

}  // namespace detail
}  // namespace convtranspose

#endif
#endif
