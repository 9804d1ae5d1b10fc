#!/bin/sh
# Builds the GPU harness and runs it (on a machine with an NVIDIA GPU, nvcc,
# CMake, PyTorch and NumPy; no R needed). From the repository root:
#   sh tools/gpu/run.sh [harness.py options]
# The report goes to $OUT/gpu-report.md when OUT is set, else to
# tools/gpu/results/<date>-<gpu>.md. Eigen comes from EIGEN_DIR, .gpu-deps/eigen
# (copy RcppEigen's include/Eigen there), or /usr/include/eigen3.
set -eu
build=${BUILD:-/tmp/convtranspose-build-gpu}
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cudnn_args=""
if [ ! -f "$(dirname "$nvcc")/../include/cudnn.h" ]; then
  # PyTorch's pip wheel of cuDNN (nvidia-cudnn-cu*), which has no libcudnn.so link
  root=$(python3 -c 'import nvidia.cudnn as c; print(list(c.__path__)[0])' 2>/dev/null || true)
  if [ -n "$root" ]; then
    lib=$(ls "$root"/lib/libcudnn.so* | head -n 1)
    cudnn_args="-DCUDNN_INCLUDE_DIR=$root/include -DCUDNN_LIBRARY=$lib"
    export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
eigen_args=""
[ -n "${EIGEN_DIR:-}" ] && eigen_args="-DEIGEN_DIR=$EIGEN_DIR"
# shellcheck disable=SC2086
cmake -S tools/gpu -B "$build" -DCMAKE_CUDA_COMPILER="$nvcc" $cudnn_args $eigen_args > "$build.log" 2>&1 ||
  { cat "$build.log"; exit 1; }
cmake --build "$build" -j 8 >> "$build.log" 2>&1 || { tail -n 40 "$build.log"; exit 1; }
if [ -n "${OUT:-}" ]; then
  report="$OUT/gpu-report.md"
else
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 | tr -c 'A-Za-z0-9\n' '-')
  report="tools/gpu/results/$(date -u +%Y-%m-%d)-${gpu:-gpu}.md"
fi
# (the report's folder made first: the harness writes it after all the work)
mkdir -p "$(dirname "$report")"
PYTHONUNBUFFERED=1 python3 tools/gpu/harness.py --lib "$build/libconvtranspose_harness.so" \
  --suite bench/bench-suite.tsv --out "$report" "$@"
