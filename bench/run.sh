#!/bin/sh
# Runs the benchmark row by row, convtranspose then PyTorch on each layer,
# so that the two sides of a row are timed a minute apart at most: these
# machines are shared and their speed drifts over a run of the whole suite,
# which would otherwise move whole blocks of ratios.
# Usage: sh bench/run.sh suite.tsv results-dir
set -eu
suite=$1
out=$2
rscript=${RSCRIPT:-Rscript}
python=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
header=$(head -n 1 "$suite")
rows=$(awk 'END { print NR - 1 }' "$suite")  # (also counts a last line without newline)
i=1
while [ "$i" -le "$rows" ]; do
  row=$(sed -n "$((i + 1))p" "$suite")
  if [ -n "$row" ]; then
    printf '%s\n%s\n' "$header" "$row" > "$tmp/suite-$i.tsv"
    "$rscript" bench/bench.R "$tmp/suite-$i.tsv" "$tmp/ours-$i.tsv"
    "$python" bench/bench_torch.py "$tmp/suite-$i.tsv" "$tmp/torch-$i.tsv"
  fi
  i=$((i + 1))
done
# one table per side: the first file's header, every file's rows
for side in ours torch; do
  first=1
  i=1
  while [ "$i" -le "$rows" ]; do
    if [ -f "$tmp/$side-$i.tsv" ]; then
      if [ "$first" = 1 ]; then cat "$tmp/$side-$i.tsv"; first=0; else tail -n +2 "$tmp/$side-$i.tsv"; fi
    fi
    i=$((i + 1))
  done > "$tmp/$side.tsv"
done
mkdir -p "$out"
cp "$tmp/ours.tsv" "$out/convtranspose.tsv"
cp "$tmp/torch.tsv" "$out/pytorch.tsv"
