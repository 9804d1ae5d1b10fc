#!/bin/sh
# Runs the native code under valgrind's memcheck: tools/valgrind-smoke.R
# (every code path, a few minutes), or with --full the whole test suite (an
# hour or more). Any memcheck error fails the run. From the package root, on
# the installed package.
set -eu
valgrind="valgrind --error-exitcode=1 --leak-check=no --track-origins=yes --quiet --suppressions=$(pwd)/tools/valgrind.supp"
export CONVTRANSPOSE_SANITIZER=1  # same skips as under the sanitizers
if [ "${1:-}" = "--full" ]; then
  cd tests
  R -d "$valgrind" --vanilla -e 'library(testthat); library(convtranspose); test_dir("testthat", stop_on_failure = TRUE)'
else
  R -d "$valgrind" --vanilla -f tools/valgrind-smoke.R
fi
echo "valgrind: no memcheck errors"
