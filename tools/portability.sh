#!/bin/sh
# Builds the package as a platform without GCC or OpenMP would (clang++,
# no OpenMP, as with Apple's clang on macOS), and optionally without the
# POSIX-only parts (PORTABILITY_NO_POSIX=1: no ISA libraries loaded, no fork
# detection), into a private library, and runs the test suite there.
# Usage: sh tools/portability.sh   (needs Debian's clang)
set -eu
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null 2>&1 || sh tools/install-deps.sh clang
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
extra=""
[ "${PORTABILITY_NO_POSIX:-0}" = 1 ] && extra="-DCONVTRANSPOSE_NO_POSIX"
cat > "$tmp/Makevars" <<MAKEVARS
CC = clang
CXX = clang++
CXX11 = clang++
CXX14 = clang++
CXX17 = clang++
SHLIB_OPENMP_CFLAGS =
SHLIB_OPENMP_CXXFLAGS =
CXXFLAGS = -O2 -Wall $extra
CXX14FLAGS = -O2 -Wall $extra
CXX17FLAGS = -O2 -Wall $extra
MAKEVARS
mkdir -p "$tmp/lib" "$tmp/src"
# a copy of the tree, so the build leaves this checkout's objects alone
git ls-files -z | xargs -0 -I{} cp --parents {} "$tmp/src/" 2>/dev/null || cp -r . "$tmp/src"
( cd "$tmp/src" && CONVTRANSPOSE_CUDA=0 R_MAKEVARS_USER="$tmp/Makevars" \
    R CMD INSTALL --no-multiarch --library="$tmp/lib" . ) > "$tmp/install.log" 2>&1 || {
  tail -n 40 "$tmp/install.log"
  exit 1
}
grep -q "clang++" "$tmp/install.log" || { echo "portability: the build did not use clang++" >&2; exit 1; }
if [ -n "$extra" ] && ! grep -q -- "$extra" "$tmp/install.log"; then
  echo "portability: the build did not use $extra" >&2
  exit 1
fi
if grep -q -- "-fopenmp" "$tmp/install.log"; then
  echo "portability: the build used OpenMP" >&2
  exit 1
fi
cd tests
R_LIBS="$tmp/lib" Rscript -e '
  library(convtranspose)
  info <- convtranspose:::.ct_openmp_info()
  cat(sprintf("portability build: clang++, OpenMP %s, kernels %s\n",
              if (info[["available"]] == 1L) "on" else "off", cvt_kernel_isa()))
  stopifnot(info[["available"]] == 0L, cvt_get_num_threads() == 1L)'
R_LIBS="$tmp/lib" Rscript testthat.R > "$tmp/tests.log" 2>&1 || true
totals=$(grep -E "\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]" "$tmp/tests.log" | tail -n 1)
echo "portability build tests: ${totals:-none ran}"
case "$totals" in
  *"FAIL 0 "*) ;;
  *) tail -n 60 "$tmp/tests.log"; exit 1 ;;
esac
