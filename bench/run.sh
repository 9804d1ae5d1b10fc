#!/bin/sh
# Runs the benchmark in one go: the machine's FMA peak; then row by row
# convtranspose, PyTorch (on OpenBLAS) and oneDNN back to back, so that the
# sides of a row are timed a minute apart at most (these machines' speed
# drifts over a run); then a few rows again in fresh processes for the
# run-to-run spread; then the peak again.
# Usage: sh bench/run.sh suite.tsv results-dir
set -eu
suite=$1
out=$2
threads=${BENCH_THREADS:-2}
rscript=${RSCRIPT:-Rscript}
python=${PYTHON:-/usr/bin/python3}
cxx=${CXX:-g++}
spread_rows=${BENCH_SPREAD_ROWS:-"fcn8_up8 dcgan_g3 unet_up4"}
spread_runs=${BENCH_SPREAD_RUNS:-4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$cxx" -O2 -fopenmp bench/peak.cpp -o "$tmp/peak"
"$cxx" -O2 -fopenmp bench/onednn_bench.cpp -o "$tmp/onednn_bench" -ldnnl

commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
# (a tree with changes to what is measured says so; results and charts aside)
git diff --quiet HEAD -- . ':!bench/results' ':!vignettes/speedup.png' 2>/dev/null ||
  commit="$commit+changes"
ours() { BENCH_THREADS=$threads BENCH_COMMIT=$commit "$rscript" bench/bench.R "$1" "$2"; }
# PyTorch at its best thread setting on few cores: OpenMP threads that sleep
# instead of spinning while OpenBLAS's own threads run each GEMM. Some
# machines here set OPENBLAS_CORETYPE to an old kernel for old OpenBLAS
# builds; bench_torch.py checks the kernel OpenBLAS picks itself on an exact
# product before timing.
torch() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE \
    OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" BENCH_THREADS="$threads" \
    "$python" bench/bench_torch.py "$1" "$2"
}
onednn() { OMP_NUM_THREADS=$threads "$tmp/onednn_bench" "$1" "$2" "$threads"; }

# one suite file per row, with the header
header=$(head -n 1 "$suite")
rows=$(awk 'END { print NR - 1 }' "$suite")  # (also counts a last line without newline)
i=1
while [ "$i" -le "$rows" ]; do
  row=$(sed -n "$((i + 1))p" "$suite")
  [ -n "$row" ] && printf '%s\n%s\n' "$header" "$row" > "$tmp/suite-$i.tsv"
  i=$((i + 1))
done

"$tmp/peak" "$threads" > "$tmp/peak-start.tsv"
cat "$tmp/peak-start.tsv"
i=1
while [ "$i" -le "$rows" ]; do
  if [ -f "$tmp/suite-$i.tsv" ]; then
    ours "$tmp/suite-$i.tsv" "$tmp/ours-$i.tsv"
    torch "$tmp/suite-$i.tsv" "$tmp/torch-$i.tsv"
    onednn "$tmp/suite-$i.tsv" "$tmp/onednn-$i.tsv"
  fi
  i=$((i + 1))
done

# The spread: each listed row again in fresh processes, the sides in turn.
printf 'side\trun\tname\tdirection\tdtype\tmedian_s\n' > "$tmp/spread.tsv"
for name in $spread_rows; do
  awk -F '\t' -v n="$name" 'NR == 1 || $1 == n' "$suite" > "$tmp/spread-suite.tsv"
  [ "$(wc -l < "$tmp/spread-suite.tsv")" -ge 2 ] || continue
  run=1
  while [ "$run" -le "$spread_runs" ]; do
    ours "$tmp/spread-suite.tsv" "$tmp/s-ours.tsv"
    torch "$tmp/spread-suite.tsv" "$tmp/s-torch.tsv"
    onednn "$tmp/spread-suite.tsv" "$tmp/s-onednn.tsv"
    for side in ours torch onednn; do
      # (oneDNN's rows carry a layout: the side is named with it)
      awk -F '\t' -v s="$side" -v r="$run" 'NR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
        { side = s; if ("layout" in col) side = s "_" $col["layout"]
          print side "\t" r "\t" $1 "\t" $2 "\t" $3 "\t" $col["median_s"] }' \
        "$tmp/s-$side.tsv" >> "$tmp/spread.tsv"
    done
    run=$((run + 1))
  done
done
# The kernel alone (bench/core_bench.cpp): the installed ISA library's core
# on the whole suite without R, outputs reused, beside R's whole calls.
lib=$("$rscript" -e 'cat(system.file("kernels", paste0("convtranspose_", convtranspose::cvt_kernel_isa(), ".so"), package = "convtranspose"))')
printf 'name\tdirection\tdtype\tmedian_s\tmin_s\n' > "$tmp/core.tsv"
if [ -n "$lib" ] && "$cxx" -O2 -fopenmp -Iinst/include bench/core_bench.cpp -o "$tmp/core_bench" -ldl; then
  OMP_NUM_THREADS=$threads "$tmp/core_bench" "$lib" "$suite" "$tmp/core.tsv" "$threads" > /dev/null
fi

# Large results in a loop (README, Speed): R's collector and glibc's fresh
# pages under the settings a user can change, each in a fresh process.
first=1
for env_set in "defaults" "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4294967296" \
               "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4294967296 R_GC_MEM_GROW=3"; do
  settings=$( [ "$env_set" = defaults ] || echo "$env_set" )
  env $settings BENCH_THREADS=$threads "$rscript" bench/gc-loop.R "$env_set" "$tmp/loop.tsv"
  if [ "$first" = 1 ]; then cat "$tmp/loop.tsv"; first=0; else tail -n +2 "$tmp/loop.tsv"; fi
done > "$tmp/gc-loop.tsv"

"$tmp/peak" "$threads" > "$tmp/peak-end.tsv"
cat "$tmp/peak-end.tsv"

# one table per side: the first file's header, every file's rows
for side in ours torch onednn; do
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
cp "$tmp/torch-1-env.tsv" "$out/pytorch-env.tsv"
cp "$tmp/ours-1-env.tsv" "$out/convtranspose-env.tsv"
cp "$tmp/onednn.tsv" "$out/onednn.tsv"
cp "$tmp/onednn-1-env.tsv" "$out/onednn-env.tsv"
cp "$tmp/spread.tsv" "$out/spread.tsv"
cp "$tmp/core.tsv" "$out/core.tsv"
cp "$tmp/gc-loop.tsv" "$out/gc-loop.tsv"
{ cat "$tmp/peak-start.tsv"; tail -n +2 "$tmp/peak-end.tsv"; } | awk -F '\t' -v OFS='\t' \
  'NR == 1 { print $0, "when"; next } { print $0, (NR <= 3 ? "start" : "end") }' > "$out/peak.tsv"
