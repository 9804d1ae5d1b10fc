// The OpenMP worker pool and R's process: libgomp's pool does not survive
// fork() (a child of parallel::mclapply that enters a parallel region with
// more than one thread waits forever), and SIGINT must reach R's thread,
// where the core's interrupt check runs. POSIX-only; elsewhere (or with
// CONVTRANSPOSE_NO_POSIX, to test that fallback) both are no-ops.
#include "workers.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if (defined(__unix__) || defined(__APPLE__)) && !defined(CONVTRANSPOSE_NO_POSIX)
#define CONVTRANSPOSE_POSIX 1
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#endif

#ifdef CONVTRANSPOSE_POSIX
namespace {
pid_t pool_owner = 0;  // the process that created the pool
}  // namespace

bool in_forked_child() { return pool_owner != 0 && getpid() != pool_owner; }
#else
bool in_forked_child() { return false; }
#endif

// Worker threads inherit the signal mask of the thread that creates them,
// so the pool is created once with SIGINT blocked, then the mask restored.
void start_workers_without_sigint(int threads) {
#if defined(_OPENMP) && defined(CONVTRANSPOSE_POSIX)
  static int started = 0;
  if (started >= threads || in_forked_child()) return;
  sigset_t block, previous;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &block, &previous) != 0) return;
#pragma omp parallel num_threads(threads)
  { (void)0; }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  started = threads;
  pool_owner = getpid();
#else
  (void)threads;
#endif
}
