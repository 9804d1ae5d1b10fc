// Running independent work items on the calling thread's OpenMP team.
#ifndef CONVTRANSPOSE_PARALLEL_HPP
#define CONVTRANSPOSE_PARALLEL_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "options.hpp"
#include "status.hpp"

// Vectorises the loop that follows, whose arrays do not overlap (an OpenMP
// simd directive: without it, GCC at R's -O2 leaves loops over pointers
// that might alias scalar; without OpenMP the loop is left to the compiler).
#ifdef _OPENMP
#define CONVTRANSPOSE_SIMD _Pragma("omp simd")
#define CONVTRANSPOSE_PRAGMA(text) _Pragma(#text)
// (the same for a loop that adds into `sum`)
#define CONVTRANSPOSE_SIMD_SUM(sum) CONVTRANSPOSE_PRAGMA(omp simd reduction(+ : sum))
#else
#define CONVTRANSPOSE_SIMD
#define CONVTRANSPOSE_SIMD_SUM(sum)
#endif

namespace convtranspose {
namespace detail {

// A work item of one group's product: its indices [begin, end) (columns,
// or row groups).
struct GroupBlock {
  std::int64_t grp, begin, end;
};

// [0, count) of each of `groups` groups in blocks of `block`.
inline std::vector<GroupBlock> group_blocks(std::int64_t groups, std::int64_t count,
                                            std::int64_t block) {
  std::vector<GroupBlock> items;
  for (std::int64_t grp = 0; grp < groups; ++grp)
    for (std::int64_t b = 0; b < count; b += block)
      items.push_back({grp, b, std::min(count, b + block)});
  return items;
}

// Runs `count` independent work items of about `flops_per_item` each on the
// threads, in rounds of about 4e8 flops (a few milliseconds) with the
// interrupt check between rounds on this thread: long enough that the
// threads' waits at the end of a round stay small, short enough for a prompt
// Ctrl-C. Less than `team_from` flops in all run on this thread alone (a
// team's start and barrier cost more). `work(item, scratch)` gets a
// per-thread Scratch to reuse.
template <class Scratch, class Work>
Status run_items(std::size_t count, double flops_per_item, const ComputeOptions& options, Work work,
                 double team_from = 4e6) {
  const int nt = std::max(1, options.num_threads);
  const int team = flops_per_item * static_cast<double>(count) < team_from ? 1 : nt;
  const std::size_t round =
      static_cast<std::size_t>(std::max<double>(4.0 * team, 4e8 / std::max(1.0, flops_per_item)));
  for (std::size_t i0 = 0; i0 < count; i0 += round) {
    if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
    const std::size_t i1 = std::min(count, i0 + round);
    bool failed = false;
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
    {
      Scratch scratch;
#ifdef _OPENMP
#pragma omp for schedule(dynamic)
#endif
      for (std::size_t i = i0; i < i1; ++i) {
        try {
          work(i, scratch);
        } catch (...) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
          failed = true;
        }
      }
    }
    if (failed) return Status::error(StatusCode::out_of_memory, "out of memory");
  }
  return Status::success();
}

}  // namespace detail
}  // namespace convtranspose

#endif
