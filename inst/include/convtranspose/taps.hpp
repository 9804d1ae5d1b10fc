// Tap tables shared by both directions of the convolution (scatter and
// gather): which kernel taps of a coarse pixel land inside the fine grid.
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

}  // namespace detail
}  // namespace convtranspose

#endif
