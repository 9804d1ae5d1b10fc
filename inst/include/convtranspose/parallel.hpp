// Every parallel region of the CPU core: a team of the call's threads
// (ComputeOptions::num_threads, never the global OpenMP state) running
// either per-thread shares (run_team, parallel_pixel_blocks) or independent
// work items (run_items), with failures turned into a Status.
#ifndef CONVTRANSPOSE_PARALLEL_HPP
#define CONVTRANSPOSE_PARALLEL_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "options.hpp"
#include "status.hpp"
#include "tuning.hpp"

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

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// f() with an allocation failure or an exception turned into a Status.
template <class F>
Status guarded(F f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  } catch (const std::exception& e) {
    return Status::error(StatusCode::internal, e.what());
  }
}

// Runs first(tid, size) on a team of `team` threads, then, after a barrier
// and only if no thread failed, second(tid, size).
template <class First, class Second>
Status run_team(int team, First first, Second second) {
  bool failed = false;
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
  {
    const int tid = thread_id(), size = team_size();
    try {
      first(tid, size);
    } catch (...) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
      failed = true;
    }
#ifdef _OPENMP
#pragma omp barrier
#endif
    bool stop;
#ifdef _OPENMP
#pragma omp atomic read
#endif
    stop = failed;
    if (!stop) {
      try {
        second(tid, size);
      } catch (...) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
        failed = true;
      }
    }
  }
  if (failed) return Status::error(StatusCode::out_of_memory, "out of memory in a parallel region");
  return Status::success();
}

template <class Body>
Status run_team(int team, Body body) {
  return run_team(team, body, [](int, int) {});
}

// Runs body(b0, b1, tid, team) over blocks [b0, b1) of the coarse pixels
// [0, Q), each block on a team of `nt` threads, polling the interrupt
// callback on the calling thread between blocks.
template <class Body>
Status parallel_pixel_blocks(std::int64_t Q, std::int64_t block, int nt,
                             const ComputeOptions& options, Body&& body) {
  for (std::int64_t b0 = 0; b0 < Q; b0 += block) {
    if (options.interrupted()) return Status::error(StatusCode::interrupted, "interrupted");
    const std::int64_t b1 = std::min(Q, b0 + block);
    Status s = run_team(nt, [&](int tid, int team) { body(b0, b1, tid, team); });
    if (!s.ok()) return s;
  }
  return Status::success();
}

// The share [q0, q1) of [b0, b1) that thread `tid` of `team` takes.
inline void share(std::int64_t b0, std::int64_t b1, int tid, int team, std::int64_t* q0,
                  std::int64_t* q1) {
  const std::int64_t per = (b1 - b0 + team - 1) / team;
  *q0 = std::min(b1, b0 + tid * per);
  *q1 = std::min(b1, *q0 + per);
}

// Runs body(begin, end) over contiguous shares [begin, end) of [0, count),
// one per thread of a team of `threads` when `use_team` (else the whole
// range on this thread): the loops over plain arrays (layout changes, bias
// fills and sums, the finiteness check). The body loops over its range
// itself, so that its loop is an ordinary one the compiler vectorises. body
// must not throw.
template <class Body>
void parallel_for(std::int64_t count, int threads, bool use_team, Body body) {
  const int team = use_team && count > 1 ? std::max(1, threads) : 1;
  if (team == 1) {
    body(std::int64_t(0), count);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(team)
#endif
  {
    std::int64_t b, e;
    share(0, count, thread_id(), team_size(), &b, &e);
    if (e > b) body(b, e);
  }
}

// Runs `count` independent work items of about `flops_per_item` each on the
// threads, in rounds of about kRoundFlops (a few milliseconds) with the
// interrupt check between rounds on this thread: long enough that the
// threads' waits at the end of a round stay small, short enough for a prompt
// Ctrl-C. Less than `team_from` flops in all run on this thread alone.
// `work(item, scratch)` gets a per-thread Scratch to reuse.
template <class Scratch, class Work>
Status run_items(std::size_t count, double flops_per_item, const ComputeOptions& options, Work work,
                 double team_from = tuning::kTeamFromFlops) {
  const int nt = std::max(1, options.num_threads);
  const int team = flops_per_item * static_cast<double>(count) < team_from ? 1 : nt;
  const std::size_t round = static_cast<std::size_t>(
      std::max<double>(4.0 * team, tuning::kRoundFlops / std::max(1.0, flops_per_item)));
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
