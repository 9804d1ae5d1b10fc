#!/bin/sh
# The one command to run on a GPU machine (no R there): with `.gpu-deps`
# carried (tools/gpu/README.md: Eigen, the relocatable R of r-runtime.sh,
# cuDNN headers if the machine lacks them), in at most 9 minutes:
#   1. the package's testthat GPU tests, in the relocatable R;
#   2. the native harness (run.sh): CUDA vs the CPU core in both dtypes and
#      every mode, vs PyTorch on the GPU, memory over 1000 calls, timing;
#   3. compute-sanitizer's memcheck on sanitize-cuda.R (every CUDA path).
# Everything it prints also goes to files under $OUT (else
# tools/gpu/results/check-<date>/), 8 at most.
# Usage: OUT=$OUT sh tools/gpu/device-check.sh
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-tools/gpu/results/check-$(date -u +%Y%m%d-%H%M)}
mkdir -p "$out"
deps=$(pwd)/.gpu-deps
status=0

step() {  # step NAME SECONDS COMMAND...: runs it with a time limit, logs its result
  name=$1 limit=$2
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@"
  rc=$?
  echo "| $name | $([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)") | $(( $(date +%s) - start )) s |" >> "$out/summary.md"
  [ $rc -eq 0 ] || status=1
}

main() {
  printf '# device-check %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" > "$out/summary.md"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> "$out/summary.md" 2>&1
  printf '\n| step | result | time |\n|---|---|---|\n' >> "$out/summary.md"
  # PyTorch's cuDNN wheel: the library the package and the harness run with
  cudnn_lib=$(python3 -c 'import nvidia.cudnn as c, os; print(os.path.join(list(c.__path__)[0], "lib"))' 2>/dev/null || true)
  export LD_LIBRARY_PATH="${cudnn_lib:+$cudnn_lib:}${LD_LIBRARY_PATH:-}"
  [ -d "$deps/eigen" ] && export EIGEN_DIR="$deps/eigen"
  [ -z "$cudnn_lib" ] && [ -d "$deps/cudnn/include" ] && export CUDNN_HOME="$deps/cudnn"

  rrun=""
  if [ -f "$deps/r-runtime.tar.xz" ]; then
    rm -rf /tmp/cvt-r && mkdir -p /tmp/cvt-r
    tar -xJf "$deps/r-runtime.tar.xz" -C /tmp/cvt-r && rrun=/tmp/cvt-r/r-runtime/bin/R-run
  fi
  if [ -n "$rrun" ]; then
    echo "== 1. testthat GPU tests in the relocatable R"
    step "R: test-cuda.R (and the module and weight tests)" 150 "$rrun" --vanilla -e '
      library(testthat); library(convtranspose)
      stopifnot(cvt_cuda_is_available())
      r <- as.data.frame(test_dir("tests/testthat", filter = "cuda|module|weights",
                                  reporter = "summary", stop_on_failure = FALSE,
                                  load_package = "installed"))
      cat(sprintf("R GPU tests: %d expectations, %d failed, %d skipped\n", sum(r$nb),
                  sum(r$failed), sum(r$skipped)))
      quit(status = as.integer(sum(r$failed) > 0 || any(r$error)))' > "$out/r-tests.log" 2>&1
    tail -n 5 "$out/r-tests.log"
  else
    echo "| R tests | SKIPPED: no .gpu-deps/r-runtime.tar.xz (sh tools/gpu/r-runtime.sh) | |" >> "$out/summary.md"
    status=1
  fi

  echo "== 2. the native harness"
  export OUT="$out"
  step "harness (run.sh)" 330 sh tools/gpu/run.sh --checks 120 --batch-scale 8 --repeats 10 \
    > "$out/harness.log" 2>&1
  tail -n 12 "$out/harness.log"

  if [ -n "$rrun" ]; then
    echo "== 3. compute-sanitizer memcheck on every CUDA path"
    sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
    if [ -n "$sanitizer" ]; then
      step "compute-sanitizer memcheck" 120 "$sanitizer" --tool memcheck --error-exitcode 3 \
        --target-processes all "$rrun" --vanilla \
        -f tools/gpu/sanitize-cuda.R > "$out/sanitizer.log" 2>&1
      tail -n 8 "$out/sanitizer.log"
    else
      echo "| compute-sanitizer | SKIPPED: not found | |" >> "$out/summary.md"
    fi
  fi
  cat "$out/summary.md"
  return $status
}

main 2>&1 | tee "$out/device-check.log"
grep -q "FAILED\|SKIPPED" "$out/summary.md" && exit 1
exit 0
