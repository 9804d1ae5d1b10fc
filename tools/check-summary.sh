#!/bin/sh
# Summarises an R CMD check run: prints the check's status and testthat's
# totals as one line "N passed, N failed", and fails on ERROR or WARNING, on
# failed tests, or when no test ran.
# Usage: check-summary.sh <pkg.Rcheck> <exit status of R CMD check>
rcheck=$1
status=${2:-0}
log="$rcheck/00check.log"
[ -f "$log" ] || { echo "no check log at $log"; exit 1; }
grep -E "^Status:" "$log" || true
for f in "$rcheck/tests/testthat.Rout.fail" "$rcheck/tests/testthat.Rout"; do
  if [ -f "$f" ]; then
    out=$f
    break
  fi
done
totals=""
[ -n "${out:-}" ] && totals=$(grep -E "\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]" "$out" | tail -n 1)
if [ -z "$totals" ]; then
  [ -n "${out:-}" ] && tail -n 40 "$out"
  echo "0 passed, 0 failed"
  echo "no testthat totals found: the tests did not run"
  exit 1
fi
failed=$(echo "$totals" | sed -E 's/.*FAIL ([0-9]+).*/\1/')
skipped=$(echo "$totals" | sed -E 's/.*SKIP ([0-9]+).*/\1/')
passed=$(echo "$totals" | sed -E 's/.*PASS ([0-9]+).*/\1/')
[ "$failed" -gt 0 ] && tail -n 60 "$out"
if grep -qE "^Status:.*(ERROR|WARNING)" "$log" || [ "$status" -ne 0 ]; then
  grep -B2 -A12 -E "\.\.\. (ERROR|WARNING)" "$log" | head -n 80
  echo "$passed passed, $failed failed, $skipped skipped"
  echo "R CMD check reported an ERROR or WARNING"
  exit 1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
