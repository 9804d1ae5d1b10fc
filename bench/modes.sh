#!/bin/sh
# The two speeds of a 2-thread run on these virtual machines, without R:
# rounds of fresh processes, each timing the FMA peak (bench/peak.cpp),
# the package's kernel alone (bench/core_bench.cpp) and oneDNN
# (bench/onednn_bench.cpp) on one layer's float32 pass, then the same on
# one thread.
# Usage: sh bench/modes.sh [layer] [rounds] [pass]
#   (defaults dcgan_g2, 12, input_gradient; pass: forward, backward,
#   input_gradient or weight_gradient)
# Prints a line a round; DESIGN.md says what it showed.
set -eu
layer=${1:-dcgan_g2}
rounds=${2:-12}
pass=${3:-input_gradient}
rscript=${RSCRIPT:-Rscript}
cxx=${CXX:-g++}
suite=$(ls ../shared/bench-suite.tsv 2>/dev/null || echo bench/bench-suite.tsv)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cxx" -O2 -fopenmp bench/peak.cpp -o "$tmp/peak"
"$cxx" -O2 -fopenmp bench/onednn_bench.cpp -o "$tmp/onednn_bench" -ldnnl
"$cxx" -O2 -fopenmp -Iinst/include bench/core_bench.cpp -o "$tmp/core_bench" -ldl
lib=$("$rscript" -e 'cat(system.file("kernels", paste0("convtranspose_", convtranspose::cvt_kernel_isa(), ".so"), package = "convtranspose"))')
{ head -n 1 "$suite"; grep "^$layer	" "$suite"; } > "$tmp/row.tsv"
# (columns of core_bench's and onednn_bench's tables: median ms of the
# pass in float32, oneDNN on its own layouts)
ours_ms() { awk -F'\t' -v p="$pass" '$2 == p && $3 == "float32" { printf "%.2f", 1e3 * $4 }' "$1"; }
onednn_ms() { awk -F'\t' -v p="$pass" '$2 == p && $4 == "blocked" { printf "%.2f", 1e3 * $5 }' "$1"; }
# (peak.cpp prints the team's rate, then one thread's)
peak_of() { awk -F'\t' -v col=$(( $2 == 1 ? 6 : 5 )) '$3 == "float32" { printf "%.0f", $col }' "$1"; }
echo "round threads peak_float32_gflops convtranspose_ms onednn_ms   ($layer $pass float32, median of each process)"
for threads in 2 1; do
  r=1
  while [ "$r" -le "$rounds" ]; do
    "$tmp/peak" > "$tmp/peak.tsv"
    BENCH_PARTS=1 OMP_NUM_THREADS=$threads "$tmp/core_bench" "$lib" "$tmp/row.tsv" "$tmp/ours.tsv" "$threads" > /dev/null
    BENCH_PARTS=1 OMP_NUM_THREADS=$threads "$tmp/onednn_bench" "$tmp/row.tsv" "$tmp/onednn.tsv" "$threads" > /dev/null 2>&1
    echo "$r $threads $(peak_of "$tmp/peak.tsv" "$threads") $(ours_ms "$tmp/ours.tsv") $(onednn_ms "$tmp/onednn.tsv")"
    r=$((r + 1))
  done
done
awk -F'\t' 'NR == 2 { print "cpu: " $1 }' "$tmp/peak.tsv"
