#!/bin/sh
# ThreadSanitizer on the CPU core's parallel code (make tsan): Debian's
# clang with LLVM's OpenMP runtime (libomp-dev), whose annotations let TSan
# see OpenMP's barriers and locks (Debian ships no libarcher).
# ignore_noninstrumented_modules=1 is what libomp asks for (it prints so):
# its own uninstrumented bookkeeping (mutexes it initialises in a new
# thread, buffers it frees) is otherwise reported. First the setup's own
# check, under the same options: a planted race must be reported and a
# race-free team must not be; then tools/tsan/driver.cpp, every path of the
# baseline, AVX2 and AVX-512 builds forced on 2 and 3 threads, no report
# allowed (each vector build where this CPU runs it).
set -eu
cd "$(dirname "$0")/../.."
sh tools/install-deps.sh clang libomp-dev libclang-rt-14-dev
CXX=${CXX:-clang++}
out=${TSAN_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/convtranspose-tsan.XXXXXX")}
mkdir -p "$out"
eigen=$(Rscript -e 'cat(system.file("include", package = "RcppEigen"))')
flags="-std=c++14 -O1 -g -fsanitize=thread -fopenmp=libomp"
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 ignore_noninstrumented_modules=1"

$CXX $flags -DPLANTED_RACE tools/tsan/race.cpp -o "$out/race-planted"
$CXX $flags tools/tsan/race.cpp -o "$out/race-free"
if "$out/race-planted" > "$out/race-planted.log" 2>&1; then
  echo "tsan: the planted race was not reported: the setup cannot be trusted" >&2
  exit 1
fi
grep -q "WARNING: ThreadSanitizer: data race" "$out/race-planted.log"
if ! "$out/race-free" > "$out/race-free.log" 2>&1; then
  echo "tsan: a report on the race-free program (false positive):" >&2
  cat "$out/race-free.log" >&2
  exit 1
fi
echo "tsan: setup ok (planted race reported, race-free program quiet)"

avx2="-DCONVTRANSPOSE_SIMD_GEMM -mavx2 -mfma"
avx512="$avx2 -DCONVTRANSPOSE_GEMM_AVX512 -mavx512f -mavx512dq -mavx512bw -mavx512vl"
status=0
for build in baseline avx2 avx512; do
  extra=""
  if [ "$build" = avx2 ]; then
    grep -q avx2 /proc/cpuinfo 2>/dev/null || { echo "tsan: no AVX2 here, skipped"; continue; }
    extra=$avx2
  fi
  if [ "$build" = avx512 ]; then
    grep -q avx512bw /proc/cpuinfo 2>/dev/null || { echo "tsan: no AVX-512 here, skipped"; continue; }
    extra=$avx512
  fi
  # shellcheck disable=SC2086
  $CXX $flags $extra -Iinst/include -I"$eigen" tools/tsan/driver.cpp -o "$out/driver-$build"
  if "$out/driver-$build" > "$out/driver-$build.log" 2>&1; then
    echo "tsan: $build build: $(tail -1 "$out/driver-$build.log"), no report"
  else
    echo "tsan: $build build failed or was reported:" >&2
    grep -A30 "WARNING: ThreadSanitizer\|FAIL" "$out/driver-$build.log" | head -80 >&2
    status=1
  fi
done
exit $status
