// The AVX2 and AVX-512 builds' forward-style products on R's layout
// (row_groups.hpp says how): phase_in_place (coarse -> fine by stride phase, see
// taps.hpp's phases) and implicit_in_place (fine -> coarse).
#ifndef CONVTRANSPOSE_BATCH_PRODUCTS_HPP
#define CONVTRANSPOSE_BATCH_PRODUCTS_HPP

#if defined(CONVTRANSPOSE_SIMD_GEMM)

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "finite.hpp"
#include "gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "plan.hpp"
#include "status.hpp"
#include "taps.hpp"
#include "phase_gemm.hpp"
#include "row_groups.hpp"

namespace convtranspose {
namespace detail {

using tuning::kRowGroup;

// coarse -> fine on R's layout by stride phase (see phase_gemm.hpp for the
// phases). `coarse`, `fine`: arrays in R's layout (batch fastest), the input
// in R's doubles or a float copy of them; the weight in R's doubles (packed
// into T here), the bias in T. Path::phase_in_place. Requires a finite weight
// (a zero row standing for a coarse pixel off the image must contribute
// nothing): the packing checks it, and where it is not, the products do not
// run and *weight_finite is false.
template <class T, class In, class Storage>
Status batch_phase_gemm(const ConvGeometry& g, const Plan& plan, const In* coarse,
                        const Storage* weight, const T* bias, Storage* fine,
                        const ComputeOptions& options, bool* weight_finite) {
  const std::vector<Phase>& phases = plan.phases;
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  return guarded([&]() -> Status {
    // Each phase's weight per group, (taps * C_coarse/g x C_fine/g): row
    // ti * C_coarse/g + c is coarse channel c of the phase's tap ti. All in
    // one buffer, pair by pair (pair = phase * groups + group).
    const std::size_t pairs = phases.size() * static_cast<std::size_t>(g.groups);
    const std::int64_t panels = weight_panels(cfg);
    std::vector<std::int64_t> pair_start(pairs + 1, 0);
    for (std::size_t pair = 0; pair < pairs; ++pair)
      pair_start[pair + 1] =
          pair_start[pair] +
          phases[pair / static_cast<std::size_t>(g.groups)].taps * ccg * panels * gemm_detail::kNr;
    WorkBuffer<T> rhs(static_cast<std::size_t>(pair_start[pairs]));
    std::vector<unsigned char> pair_finite(pairs, 1);
    Status packed = for_each_phase_and_group(
        g, phases, options, [&](std::size_t pair, const Phase& phase, std::int64_t grp) {
          const std::int64_t depth = phase.taps * ccg;
          std::vector<std::int64_t> row_offset(static_cast<std::size_t>(depth));
          for (std::int64_t ti = 0; ti < phase.taps; ++ti) {
            const std::int64_t tap = phase.tap_index[static_cast<std::size_t>(ti)];
            for (std::int64_t c = 0; c < ccg; ++c)
              row_offset[static_cast<std::size_t>(ti * ccg + c)] = grp * ccg + c + cc * cfg * tap;
          }
          pair_finite[pair] = pack_weight_panels(depth, cfg, 0, panels, weight, row_offset.data(),
                                                 cc, rhs.data() + pair_start[pair]);
        });
    if (!packed.ok()) return packed;
    *weight_finite = std::find(pair_finite.begin(), pair_finite.end(), 0) == pair_finite.end();
    if (!*weight_finite) return Status::success();
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
          tuning::kFillTeamFromValues);
      if (!filled.ok()) return filled;
    }
    // Work items: (group, block of row-group indices) for every phase at
    // once (index r of each phase reads nearly the same coarse pixels), or
    // with plan.by_phase one phase each (it streams that phase's weight).
    std::int64_t most = 0;
    double per_index = 0;  // flops of one row-group index over the phases
    for (const Phase& ph : phases) {
      most = std::max(most, ph.columns * row_groups_per_pixel(B));
      per_index += 2.0 * kRowGroup * ph.taps * ccg * cfg;
    }
    const bool by_phase = plan.by_phase;
    const std::size_t phases_per_item = by_phase ? 1 : phases.size();
    const std::size_t phase_ranges = by_phase ? phases.size() : 1;
    // (row groups [begin, end) of phases [first_phase, last_phase))
    struct Item {
      GroupBlock block;
      std::size_t first_phase, last_phase;
    };
    const std::int64_t step = row_groups_per_item(most * static_cast<std::int64_t>(phase_ranges),
                                                  g.groups, options.num_threads);
    std::vector<Item> items;
    for (std::size_t p0 = 0; p0 < phases.size(); p0 += phases_per_item) {
      const std::int64_t rows = by_phase ? phases[p0].columns * row_groups_per_pixel(B) : most;
      for (const GroupBlock& block : group_blocks(g.groups, rows, step))
        items.push_back({block, p0, p0 + phases_per_item});
    }
    return run_items<RowGroupScratch<T, In, Storage>>(
        items.size(), per_index * static_cast<double>(step) / static_cast<double>(phase_ranges),
        options, [&](std::size_t i, RowGroupScratch<T, In, Storage>& s) {
          const GroupBlock& it = items[i].block;
          for (std::size_t ph = items[i].first_phase; ph < items[i].last_phase; ++ph) {
            const Phase& phase = phases[ph];
            const std::int64_t row_groups = phase.columns * row_groups_per_pixel(B);
            const std::int64_t begin = std::min(it.begin, row_groups);
            const std::int64_t count = std::min(it.end, row_groups) - begin;
            if (count == 0) continue;
            s.in.resize(static_cast<std::size_t>(count * phase.taps));
            s.out.resize(static_cast<std::size_t>(count));
            s.lanes.resize(static_cast<std::size_t>(count));
            for (std::int64_t r = 0; r < count; ++r) {
              const RowGroupAt at = row_group_at(begin + r, B);
              const std::int64_t n0 = at.n0, j = at.pixel;
              s.lanes[static_cast<std::size_t>(r)] = at.lanes;
              const std::int64_t fine_pixel =
                  phase_pixel_taps(g, phase, j, [&](std::int64_t ti, std::int64_t pixel) {
                    s.in[static_cast<std::size_t>(r * phase.taps + ti)] =
                        pixel >= 0 ? coarse + n0 + B * (it.grp * ccg + cc * pixel) : nullptr;
                  });
              s.out[static_cast<std::size_t>(r)] = fine + n0 + B * (it.grp * cfg + cf * fine_pixel);
            }
            const T* w = rhs.data() + pair_start[ph * static_cast<std::size_t>(g.groups) +
                                                 static_cast<std::size_t>(it.grp)];
            const T* group_bias = bias != nullptr ? bias + it.grp * cfg : nullptr;
            if (plan.narrow)
              row_group_narrow_product<T, In, Storage>(count, phase.taps, ccg, B, w, cfg,
                                                       group_bias, prefill, s);
            else
              row_group_product<T, In, Storage>(count, phase.taps, ccg, B, w, cfg, group_bias,
                                                prefill, s, 0, phase.taps * ccg,
                                                /*skip_off_image=*/true);
          }
        });
  });
}

// fine -> coarse on R's layout as an implicit product: coarse pixel q of a
// group = the fine rows its taps read (a zero row off the image, as
// PyTorch's im2col) times the group's weight: Path::implicit_in_place. The
// fine input in R's doubles or a float copy, the weight in R's doubles, as
// above.
template <class T, class In, class Storage>
Status batch_gather_gemm(const ConvGeometry& g, const Plan& plan, const In* fine,
                         const Storage* weight, const T* bias, Storage* coarse,
                         const ComputeOptions& options) {
  const std::int64_t B = g.batch;
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps;
  return guarded([&]() -> Status {
    // Each group's weight (taps * C_fine/g x C_coarse/g): row t * C_fine/g + c
    // is fine channel c of tap t, the weight's own order, packed on the team.
    const std::int64_t depth = K * cfg, panels = weight_panels(ccg);
    const std::int64_t row_groups = g.coarse_pixels * row_groups_per_pixel(B);
    const std::int64_t step = row_groups_per_item(row_groups, g.groups, options.num_threads);
    const std::vector<GroupBlock> items = group_blocks(g.groups, row_groups, step);
    // With plan.by_slice the weight is packed one kKc slice of depth at a
    // time, which every item multiplies while it is in cache; otherwise all
    // at once, so that each item adds its slices while its output is in cache.
    const bool by_slice = plan.by_slice;
    const std::int64_t round_depth = by_slice ? gemm_detail::kKc : depth;
    const std::int64_t per_group = panels * gemm_detail::kNr * round_depth;
    WorkBuffer<T> rhs(static_cast<std::size_t>(g.groups * per_group));
    std::vector<std::int64_t> row_offset(static_cast<std::size_t>(depth));
    for (std::int64_t k = 0; k < depth; ++k) row_offset[static_cast<std::size_t>(k)] = cc * k;
    for (std::int64_t k0 = 0; k0 < depth; k0 += round_depth) {
      const std::int64_t kc = std::min(round_depth, depth - k0);
      // (items: rows of one kKc slice of one group, all its panels, so
      // that each item reads one stretch of the weight; with by_slice a
      // round is one slice, whose rows are then the team's only shares)
      const std::int64_t slices = (kc + gemm_detail::kKc - 1) / gemm_detail::kKc;
      const std::int64_t shares = (gemm_detail::kKc + tuning::kPackRowsPerItem - 1) /
                                  tuning::kPackRowsPerItem;
      const std::size_t pack_items = static_cast<std::size_t>(g.groups * slices * shares);
      // (plan.skips_off_image: each share's packing also says whether its
      // values are finite, instead of a pass over the whole weight)
      std::vector<unsigned char> share_finite(plan.skips_off_image ? pack_items : 0, 1);
      Status packed = run_items<char>(
          pack_items, static_cast<double>(panels * gemm_detail::kNr * tuning::kPackRowsPerItem),
          options,
          [&](std::size_t i, char&) {
            const std::int64_t item = static_cast<std::int64_t>(i);
            const std::int64_t grp = item / (slices * shares);
            const std::int64_t s0 = item / shares % slices * gemm_detail::kKc;
            const std::int64_t slice = std::min(gemm_detail::kKc, kc - s0);
            const std::int64_t r0 = item % shares * tuning::kPackRowsPerItem;
            if (r0 >= slice) return;
            const std::int64_t r1 = std::min(slice, r0 + tuning::kPackRowsPerItem);
            const bool finite =
                pack_weight_rows(ccg, slice, r0, r1, 0, panels, weight + grp * ccg,
                                 row_offset.data() + k0 + s0,
                                 rhs.data() + grp * per_group + s0 * panels * gemm_detail::kNr);
            if (!share_finite.empty()) share_finite[i] = finite;
          },
          tuning::kPackTeamFromValues);
      if (!packed.ok()) return packed;
      // Blocks that read only taps off the image skip this round where its
      // weight is finite (with Inf or NaN, 0 * w is NaN, as in PyTorch).
      const bool skip_off_image =
          plan.skips_off_image &&
          std::find(share_finite.begin(), share_finite.end(), 0) == share_finite.end();
      const double per_item = 2.0 * static_cast<double>(step * kRowGroup) * kc * ccg;
      Status done = run_items<RowGroupScratch<T, In, Storage>>(
          items.size(), per_item, options, [&](std::size_t i, RowGroupScratch<T, In, Storage>& s) {
            const GroupBlock& it = items[i];
            const std::int64_t count = it.end - it.begin;
            s.in.resize(static_cast<std::size_t>(count * K));
            s.out.resize(static_cast<std::size_t>(count));
            s.lanes.resize(static_cast<std::size_t>(count));
            for (std::int64_t r = 0; r < count; ++r) {
              const RowGroupAt at = row_group_at(it.begin + r, B);
              const std::int64_t n0 = at.n0, q = at.pixel;
              s.lanes[static_cast<std::size_t>(r)] = at.lanes;
              s.out[static_cast<std::size_t>(r)] = coarse + n0 + B * (it.grp * ccg + cc * q);
              const In* y = fine + n0 + B * it.grp * cfg;
              fine_pixels_of(g, q, [&](std::int64_t t, std::int64_t pixel) {
                s.in[static_cast<std::size_t>(r * K + t)] =
                    pixel >= 0 ? y + B * cf * pixel : nullptr;
              });
            }
            row_group_product<T, In, Storage>(count, K, cfg, B, rhs.data() + it.grp * per_group, ccg,
                                          bias != nullptr ? bias + it.grp * ccg : nullptr,
                                          /*accumulate=*/k0 > 0, s, k0, k0 + kc, skip_off_image);
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
