// Whether values are finite, as the paths that skip products with zeros ask.
//
// The direct kernels skip taps that fall outside the fine grid, where the
// GEMM paths multiply by explicit zeros; the two agree unless the factor is
// NaN or infinite (0 * Inf = NaN). So such a path (or skip) is taken only
// when every value that would meet such a zero is finite.
#ifndef CONVTRANSPOSE_FINITE_HPP
#define CONVTRANSPOSE_FINITE_HPP

#include <algorithm>
#include <cstdint>
#include <vector>

#include "parallel.hpp"
#include "tuning.hpp"

namespace convtranspose {
namespace detail {

// n values, checked in T, the type the kernel computes in (a double beyond
// float's range is Inf in float). Branch-free, x - x being NaN exactly for
// NaN and +-Inf, so that it vectorises; summed in kLanes independent lanes,
// since one running sum waits on the adder's latency at every vector (the
// packing calls this on every row of a weight).
template <class T, class V>
bool finite_as(const V* values, std::int64_t n) {
  constexpr int kLanes = 32;
  T lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const V* v = values + i;
    CONVTRANSPOSE_SIMD
    for (int l = 0; l < kLanes; ++l) lanes[l] += static_cast<T>(v[l]) - static_cast<T>(v[l]);
  }
  T sum = 0;
  for (; i < n; ++i) sum += static_cast<T>(values[i]) - static_cast<T>(values[i]);
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  return sum == sum;
}

// The same over an array of any size (a layer's weight can be tens of
// megabytes), in blocks on the team.
template <class T, class V>
bool all_finite_as(const V* values, std::int64_t n, int num_threads = 1) {
  constexpr std::int64_t kBlock = 4096;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<unsigned char> block_finite(static_cast<std::size_t>(blocks));
  unsigned char* const flags = block_finite.data();
  parallel_for(blocks, num_threads, n >= tuning::kFiniteParallelFrom,
               [=](std::int64_t first, std::int64_t last) {
                 for (std::int64_t b = first; b < last; ++b)
                   flags[b] = finite_as<T>(values + b * kBlock, std::min(kBlock, n - b * kBlock));
               });
  for (unsigned char ok : block_finite)
    if (!ok) return false;
  return true;
}

}  // namespace detail
}  // namespace convtranspose

#endif
