// Tap tables and the pixel/tap loop shared by every kernel, in both
// directions (scatter and gather): which kernel taps of a coarse pixel land
// inside the fine grid, and where.
#ifndef CONVTRANSPOSE_TAPS_HPP
#define CONVTRANSPOSE_TAPS_HPP

#include <algorithm>
#include <cstdint>
#include <vector>

#include "geometry.hpp"

namespace convtranspose {
namespace detail {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return -floor_div(-a, b); }

// What the scatter needs about taps, computed once per call:
// * the stride phase of every tap (column-major over the kernel dims); taps
//   of different phase write disjoint fine pixels, since a tap's fine
//   coordinate is congruent to (tap * dilation - padding) modulo the stride;
// * for every coarse coordinate along each dimension, the range of taps that
//   land inside the fine grid and the fine coordinate of the first of them,
//   so the scatter's inner loops need no bounds checks and no divisions.
struct TapTable {
  std::vector<int> phase;
  int phase_count = 0;
  std::vector<std::int64_t> lo[kMaxRank], hi[kMaxRank], first[kMaxRank];

  explicit TapTable(const ConvGeometry& g) {
    const std::int64_t taps = g.kernel_taps;
    phase.resize(static_cast<std::size_t>(taps));
    // Raw phases can be many (large strides) but at most `taps` occur:
    // number the ones in use densely.
    std::vector<std::int64_t> seen;
    for (std::int64_t k = 0; k < taps; ++k) {
      std::int64_t rest = k, raw = 0, scale = 1;
      for (int d = 0; d < kMaxRank; ++d) {
        const std::int64_t t = rest % g.kernel_size[d];
        rest /= g.kernel_size[d];
        const std::int64_t off = t * g.dilation[d] - g.padding[d];
        raw += (((off % g.stride[d]) + g.stride[d]) % g.stride[d]) * scale;
        scale *= g.stride[d];
      }
      std::size_t id = 0;
      while (id < seen.size() && seen[id] != raw) ++id;
      if (id == seen.size()) seen.push_back(raw);
      phase[static_cast<std::size_t>(k)] = static_cast<int>(id);
    }
    phase_count = static_cast<int>(seen.size());
    for (int d = 0; d < kMaxRank; ++d) {
      const std::int64_t n = g.coarse_size[d], dil = g.dilation[d];
      lo[d].resize(static_cast<std::size_t>(n));
      hi[d].resize(static_cast<std::size_t>(n));
      first[d].resize(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        // taps t with 0 <= i*s - p + t*dil <= F-1
        const std::int64_t base = i * g.stride[d] - g.padding[d];
        const std::int64_t l = std::max<std::int64_t>(0, ceil_div(-base, dil));
        const std::int64_t h =
            std::min<std::int64_t>(g.kernel_size[d], floor_div(g.fine_size[d] - 1 - base, dil) + 1);
        lo[d][i] = l;
        hi[d][i] = std::max(l, h);
        first[d][i] = base + l * dil;
      }
    }
  }
};

// The loop every kernel shares: for each coarse pixel q in [q0, q1)
// (flattened over samples, coordinates advanced by counters, no divisions),
// calls begin(q), then tap(q, fine_offset, k) for every tap k in [k0, k1)
// that lands inside the fine grid, where fine_offset is the index of that
// fine pixel's first channel in a sample-major fine array. With
// phase_mod > 1 only taps with phase % phase_mod == phase_rem are visited:
// that is how threads split a scatter without writing the same element.
template <class Begin, class Tap>
inline void for_each_tap(const ConvGeometry& g, const TapTable& taps, std::int64_t q0,
                         std::int64_t q1, std::int64_t k0, std::int64_t k1, int phase_mod,
                         int phase_rem, Begin&& begin, Tap&& tap) {
  const std::int64_t cf = g.fine_channels;
  const std::int64_t P = g.coarse_pixels;
  const std::int64_t* F = g.fine_size;
  const std::int64_t* K = g.kernel_size;
  const std::int64_t C0 = g.coarse_size[0], C1 = g.coarse_size[1], C2 = g.coarse_size[2];
  // Distance in the fine array between consecutive taps along each dimension.
  const std::int64_t tap_step[kMaxRank] = {g.dilation[0] * cf, g.dilation[1] * F[0] * cf,
                                           g.dilation[2] * F[0] * F[1] * cf};
  const bool filter = phase_mod > 1;
  const bool unfiltered = k0 == 0 && k1 == g.kernel_taps && !filter;
  std::int64_t n = q0 / P, pix = q0 - n * P;
  std::int64_t i0 = pix % C0, i1 = (pix / C0) % C1, i2 = pix / (C0 * C1);
  for (std::int64_t q = q0; q < q1; ++q) {
    begin(q);
    const std::int64_t lo0 = taps.lo[0][i0], hi0 = taps.hi[0][i0];
    const std::int64_t lo1 = taps.lo[1][i1], hi1 = taps.hi[1][i1];
    const std::int64_t lo2 = taps.lo[2][i2], hi2 = taps.hi[2][i2];
    if (lo0 < hi0 && lo1 < hi1 && lo2 < hi2) {
      const std::int64_t base =
          n * g.fine_pixels * cf +
          (taps.first[0][i0] + F[0] * (taps.first[1][i1] + F[1] * taps.first[2][i2])) * cf;
      for (std::int64_t t2 = lo2; t2 < hi2; ++t2)
        for (std::int64_t t1 = lo1; t1 < hi1; ++t1) {
          std::int64_t offset = base + (t2 - lo2) * tap_step[2] + (t1 - lo1) * tap_step[1];
          std::int64_t k = lo0 + K[0] * (t1 + K[1] * t2);
          if (unfiltered) {
            for (std::int64_t t0 = lo0; t0 < hi0; ++t0, ++k, offset += tap_step[0])
              tap(q, offset, k);
          } else {
            for (std::int64_t t0 = lo0; t0 < hi0; ++t0, ++k, offset += tap_step[0]) {
              if (k < k0 || k >= k1) continue;
              if (filter && taps.phase[k] % phase_mod != phase_rem) continue;
              tap(q, offset, k);
            }
          }
        }
    }
    if (++i0 == C0) {
      i0 = 0;
      if (++i1 == C1) {
        i1 = 0;
        if (++i2 == C2) {
          i2 = 0;
          ++n;
        }
      }
    }
  }
}

// One dimension of one phase: the fine positions first, first + stride, ...
// (count of them), and the taps reaching them with their coarse offsets:
// fine position first + stride * j is reached by tap taps[i] from coarse
// position j + offsets[i].
struct PhaseAxis {
  std::int64_t first = 0, count = 0;
  std::vector<std::int64_t> taps, offsets;
};

// `taps`: the taps t of dimension d with t * dilation % stride == residue,
// in increasing order.
inline PhaseAxis phase_axis(const ConvGeometry& g, int d, std::int64_t residue,
                            const std::vector<std::int64_t>& taps) {
  const std::int64_t s = g.stride[d], p = g.padding[d], dil = g.dilation[d];
  PhaseAxis axis;
  axis.first = ((residue - p) % s + s) % s;
  axis.count = axis.first < g.fine_size[d] ? (g.fine_size[d] - axis.first + s - 1) / s : 0;
  axis.taps = taps;
  for (std::int64_t t : taps) axis.offsets.push_back((axis.first + p - t * dil) / s);  // exact
  return axis;
}

struct Phase {
  PhaseAxis axis[kMaxRank];
  std::int64_t columns = 0;  // fine pixels of the phase, per sample
  std::int64_t taps = 0;     // taps reaching them
  // their indices in the weight, in the order the products take them
  // (dimension 0 fastest, as the offsets are walked)
  std::vector<std::int64_t> tap_index;
};

// The phases with at least one tap and one fine pixel.
inline std::vector<Phase> phases_of(const ConvGeometry& g) {
  // (each dimension's taps sorted by residue once: searching them for
  // every residue costs stride x kernel size, large for a long kernel)
  std::vector<std::vector<std::int64_t>> by_residue[kMaxRank];
  for (int d = 0; d < kMaxRank; ++d) {
    by_residue[d].resize(static_cast<std::size_t>(g.stride[d]));
    for (std::int64_t t = 0; t < g.kernel_size[d]; ++t)
      by_residue[d][static_cast<std::size_t>(t * g.dilation[d] % g.stride[d])].push_back(t);
  }
  std::vector<Phase> phases;
  for (std::int64_t r0 = 0; r0 < g.stride[0]; ++r0)
    for (std::int64_t r1 = 0; r1 < g.stride[1]; ++r1)
      for (std::int64_t r2 = 0; r2 < g.stride[2]; ++r2) {
        Phase ph;
        const std::int64_t residue[kMaxRank] = {r0, r1, r2};
        ph.columns = ph.taps = 1;
        for (int d = 0; d < kMaxRank; ++d) {
          ph.axis[d] = phase_axis(g, d, residue[d],
                                  by_residue[d][static_cast<std::size_t>(residue[d])]);
          ph.columns *= ph.axis[d].count;
          ph.taps *= static_cast<std::int64_t>(ph.axis[d].taps.size());
        }
        if (ph.columns == 0 || ph.taps == 0) continue;
        // (pixels and taps are numbered column-major, dimension 0 fastest)
        for (std::int64_t t2 : ph.axis[2].taps)
          for (std::int64_t t1 : ph.axis[1].taps)
            for (std::int64_t t0 : ph.axis[0].taps)
              ph.tap_index.push_back(t0 + g.kernel_size[0] * (t1 + g.kernel_size[1] * t2));
        phases.push_back(std::move(ph));
      }
  return phases;
}

// For the fine pixel with index j among a phase's pixels (per sample): calls
// at(ti, pixel) for each of the phase's taps ti, in the order of its
// tap_index, with the coarse pixel the tap reads, or -1 off the image; returns
// the fine pixel's index within a sample.
template <class At>
inline std::int64_t phase_pixel_taps(const ConvGeometry& g, const Phase& phase, std::int64_t j,
                                     At at) {
  const PhaseAxis* ax = phase.axis;
  const std::int64_t j0 = j % ax[0].count, j1 = (j / ax[0].count) % ax[1].count,
                     j2 = j / (ax[0].count * ax[1].count);
  std::int64_t ti = 0;
  for (std::int64_t o2 : ax[2].offsets)
    for (std::int64_t o1 : ax[1].offsets)
      for (std::int64_t o0 : ax[0].offsets) {
        const std::int64_t q0 = j0 + o0, q1 = j1 + o1, q2 = j2 + o2;
        const bool inside = q0 >= 0 && q0 < g.coarse_size[0] && q1 >= 0 && q1 < g.coarse_size[1] &&
                            q2 >= 0 && q2 < g.coarse_size[2];
        at(ti++, inside ? q0 + g.coarse_size[0] * (q1 + g.coarse_size[1] * q2) : -1);
      }
  return ax[0].first + g.stride[0] * j0 +
         g.fine_size[0] *
             (ax[1].first + g.stride[1] * j1 + g.fine_size[1] * (ax[2].first + g.stride[2] * j2));
}

// Calls at(t, pixel) for every tap t (numbered column-major, dimension 0
// fastest) of coarse pixel q (its index within a sample), with the fine pixel
// the tap reads, or -1 off the image (where the implicit products read zeros,
// as PyTorch's im2col does).
template <class At>
inline void fine_pixels_of(const ConvGeometry& g, std::int64_t q, At at) {
  const std::int64_t* C = g.coarse_size;
  const std::int64_t* F = g.fine_size;
  const std::int64_t q0 = q % C[0], q1 = (q / C[0]) % C[1], q2 = q / (C[0] * C[1]);
  std::int64_t t = 0;
  for (std::int64_t t2 = 0; t2 < g.kernel_size[2]; ++t2) {
    const std::int64_t f2 = q2 * g.stride[2] - g.padding[2] + t2 * g.dilation[2];
    for (std::int64_t t1 = 0; t1 < g.kernel_size[1]; ++t1) {
      const std::int64_t f1 = q1 * g.stride[1] - g.padding[1] + t1 * g.dilation[1];
      for (std::int64_t t0 = 0; t0 < g.kernel_size[0]; ++t0, ++t) {
        const std::int64_t f0 = q0 * g.stride[0] - g.padding[0] + t0 * g.dilation[0];
        const bool inside = f0 >= 0 && f0 < F[0] && f1 >= 0 && f1 < F[1] && f2 >= 0 && f2 < F[2];
        at(t, inside ? f0 + F[0] * (f1 + F[1] * f2) : -1);
      }
    }
  }
}

// Consecutive taps of the fastest kernel dimension reach consecutive fine
// pixels where its dilation is 1, and their channels lie back to back where
// a group has them all: taps per run, a divisor of that kernel size, whose
// whole runs fill the deepest slice of at most max_values (the product's
// depth per pass over C), the most taps among equals (1 where runs cannot merge).
inline std::int64_t taps_per_run(const ConvGeometry& g, std::int64_t max_values) {
  if (g.groups != 1 || g.dilation[0] != 1) return 1;
  const std::int64_t cfg = g.fine_channels_per_group;
  const auto slice = [&](std::int64_t m) { return max_values / (m * cfg) * m * cfg; };
  std::int64_t best = 1;
  for (std::int64_t m = 2; m <= g.kernel_size[0] && m * cfg <= max_values; ++m)
    if (g.kernel_size[0] % m == 0 && slice(m) >= slice(best)) best = m;
  return best;
}

}  // namespace detail
}  // namespace convtranspose

#endif
