// The OpenMP workers as R's process sees them: fork detection and a thread
// pool created with SIGINT blocked (workers.cpp).
#ifndef CONVTRANSPOSE_SRC_WORKERS_H
#define CONVTRANSPOSE_SRC_WORKERS_H

// Whether this is a child forked after the pool was made (one thread then).
bool in_forked_child();

// Makes sure a pool of `threads` workers exists that never takes SIGINT.
void start_workers_without_sigint(int threads);

// The thread count a call may use from this process (1 in a forked child).
inline int usable_threads(int threads) { return in_forked_child() ? 1 : threads; }

#endif
