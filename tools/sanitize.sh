#!/bin/sh
# Builds convtranspose with AddressSanitizer and UndefinedBehaviorSanitizer
# (gcc) into a temporary library and runs the test suite under them; any
# report fails the run. Usage: sh tools/sanitize.sh   (from the package root)
set -eu
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/Makevars" <<'MAKEVARS'
CXXFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS = -fsanitize=address,undefined
MAKEVARS
mkdir "$work/lib"
# The CPU-only build (CONVTRANSPOSE_CUDA=0): CI's `make check` tests the CUDA
# build where nvcc is found, so both builds are exercised; and ASan's shadow
# memory does not mix with the CUDA runtime.
CONVTRANSPOSE_CUDA=0 R_MAKEVARS_USER="$work/Makevars" R CMD INSTALL --no-test-load --preclean -l "$work/lib" "$root" \
  > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
R CMD INSTALL --preclean "$root" > /dev/null 2>&1 || true  # leave src/ built normally
asan=$(gcc -print-file-name=libasan.so)
# R allocates for good at exit and is not built with the sanitizers: leaks
# are not ours to judge here. Tests that cap the address space (ASan needs a
# huge shadow) or measure RSS (ASan's quarantine) skip themselves.
export CONVTRANSPOSE_SANITIZER=1
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$root/tests"
LD_PRELOAD="$asan" R_LIBS="$work/lib" Rscript -e '
  library(testthat); library(convtranspose)
  r <- as.data.frame(test_dir("testthat", reporter = "summary", stop_on_failure = FALSE))
  cat(sprintf("sanitizers: %d passed, %d failed\n", sum(r$nb) - sum(r$failed), sum(r$failed)))
  if (sum(r$failed) > 0 || any(r$error)) quit(status = 1)
' 2>&1 | tee "$work/test.log" | tail -n 5
status=$?
if grep -qE "ERROR: AddressSanitizer|runtime error:" "$work/test.log"; then
  grep -B2 -A30 -E "ERROR: AddressSanitizer|runtime error:" "$work/test.log" | head -n 60
  exit 1
fi
grep -q "sanitizers: [0-9]* passed, 0 failed" "$work/test.log" || exit 1
exit $status
