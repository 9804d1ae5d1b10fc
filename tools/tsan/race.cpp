// The sanitizer setup's own check (tools/tsan/run.sh): with PLANTED_RACE two
// threads of an OpenMP team add to one counter without synchronisation,
// which ThreadSanitizer must report; without it each thread writes its own
// slot, then a barrier, and reductions on teams of changing sizes, which
// it must not.
#include <omp.h>

#include <cstdio>
#include <initializer_list>

int main() {
  long total = 0;
  long slots[8] = {0};
#pragma omp parallel num_threads(2)
  {
    const int tid = omp_get_thread_num();
    for (int i = 0; i < 100000; ++i) {
#ifdef PLANTED_RACE
      total += i;
#else
      slots[tid] += i;
#endif
    }
#pragma omp barrier
#pragma omp single
    for (int t = 0; t < 8; ++t) total += slots[t];
  }
  // teams of changing sizes, as the kernels make (1, 3 and 2 threads)
  long sum = 0;
  for (int team : {1, 3, 2, 3}) {
#pragma omp parallel for num_threads(team) reduction(+ : sum)
    for (int i = 0; i < 1000; ++i) sum += i;
  }
  // the constructs the kernels use: dynamic schedules, atomic flags
  long items[64] = {0};
  bool failed = false;
  for (int team : {2, 3}) {
#pragma omp parallel num_threads(team)
    {
#pragma omp for schedule(dynamic)
      for (int i = 0; i < 64; ++i) {
        items[i] += i;
        if (i == 99) {
#pragma omp atomic write
          failed = true;
        }
      }
    }
  }
  std::printf("%ld %ld %ld %d\n", total, sum, items[63], failed ? 1 : 0);
  return 0;
}
