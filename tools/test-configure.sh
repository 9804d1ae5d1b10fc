#!/bin/sh
# Checks where configure's cuDNN search ends, on fake CUDA and cuDNN trees
# in a temporary folder (no GPU or real cuDNN needed): the classic layout,
# PyTorch's pip wheel (libcudnn.so.9 without the libcudnn.so link), Debian's
# multiarch layout, and none. Usage: sh tools/test-configure.sh
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a CUDA toolkit that is only good enough for the search
mkdir -p "$tmp/cuda/bin" "$tmp/cuda/lib64" "$tmp/cuda/include"
printf '#!/bin/sh\necho "release 13.0"\n' > "$tmp/cuda/bin/nvcc"
chmod +x "$tmp/cuda/bin/nvcc"
touch "$tmp/cuda/lib64/libcudart.so"
failures=0
probe() {  # probe NAME EXPECTED_INCLUDE EXPECTED_LIBRARY [VAR=VALUE...]
  name=$1 want_inc=$2 want_lib=$3
  shift 3
  got=$(env -u CUDNN_HOME "$@" CUDA_HOME="$tmp/cuda" NVCC="$tmp/cuda/bin/nvcc" \
    PATH="/usr/bin:/bin" CONVTRANSPOSE_CONFIGURE_PROBE=1 sh ./configure)
  inc=$(echo "$got" | sed -n 's/^cudnn_include=//p')
  lib=$(echo "$got" | sed -n 's/^cudnn_library=//p')
  if [ "$inc" = "$want_inc" ] && [ "$lib" = "$want_lib" ]; then
    echo "ok: $name"
  else
    echo "FAILED: $name: found '$inc' and '$lib', wanted '$want_inc' and '$want_lib'"
    failures=$((failures + 1))
  fi
}
# classic: include/cudnn.h + lib64/libcudnn.so
mkdir -p "$tmp/classic/include" "$tmp/classic/lib64"
touch "$tmp/classic/include/cudnn.h" "$tmp/classic/lib64/libcudnn.so"
probe "classic layout" "$tmp/classic/include" "$tmp/classic/lib64/libcudnn.so" \
  CUDNN_HOME="$tmp/classic"
# PyTorch's wheel: nvidia/cudnn/{include,lib}, libcudnn.so.9 only
mkdir -p "$tmp/wheel/nvidia/cudnn/include" "$tmp/wheel/nvidia/cudnn/lib"
touch "$tmp/wheel/nvidia/cudnn/include/cudnn.h" "$tmp/wheel/nvidia/cudnn/lib/libcudnn.so.9"
probe "pip wheel, given as CUDNN_HOME" "$tmp/wheel/nvidia/cudnn/include" \
  "$tmp/wheel/nvidia/cudnn/lib/libcudnn.so.9" CUDNN_HOME="$tmp/wheel/nvidia/cudnn"
# ... and found through Python (a fake nvidia.cudnn package on PYTHONPATH),
# where the machine has a Python
if PATH=/usr/bin:/bin command -v python3 >/dev/null 2>&1; then
  touch "$tmp/wheel/nvidia/__init__.py"
  probe "pip wheel, found by importing nvidia.cudnn" "$tmp/wheel/nvidia/cudnn/include" \
    "$tmp/wheel/nvidia/cudnn/lib/libcudnn.so.9" PYTHONPATH="$tmp/wheel"
  rm "$tmp/wheel/nvidia/__init__.py"
fi
# multiarch: include/x86_64-linux-gnu/cudnn.h + lib/x86_64-linux-gnu/libcudnn.so.9
mkdir -p "$tmp/multi/include/x86_64-linux-gnu" "$tmp/multi/lib/x86_64-linux-gnu"
touch "$tmp/multi/include/x86_64-linux-gnu/cudnn.h" "$tmp/multi/lib/x86_64-linux-gnu/libcudnn.so.9"
if [ "$(uname -m)" = x86_64 ]; then
  probe "multiarch layout" "$tmp/multi/include/x86_64-linux-gnu" \
    "$tmp/multi/lib/x86_64-linux-gnu/libcudnn.so.9" CUDNN_HOME="$tmp/multi"
fi
# none: the search ends empty (configure then builds for the CPU and says why)
if [ ! -f /usr/include/cudnn.h ] && [ ! -f /usr/local/include/cudnn.h ] &&
   [ ! -f /usr/include/x86_64-linux-gnu/cudnn.h ] &&
   ! PATH=/usr/bin:/bin python3 -c 'import nvidia.cudnn' >/dev/null 2>&1; then
  probe "no cuDNN" "" "" CUDNN_HOME="$tmp/nothing"
fi
[ "$failures" -eq 0 ] || exit 1
