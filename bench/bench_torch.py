#!/usr/bin/python3
"""Times PyTorch CPU's conv_transpose, forward and backward, on the benchmark
suite (same rows and FLOP count as bench.R). Debian's PyTorch 1.13 runs
these as im2col + BLAS GEMM, so it refuses to time on the reference BLAS and
checks the BLAS it loaded on an exact product first.
Usage: bench_torch.py [suite.tsv] [out.tsv] [reps]; writes out.tsv and
out-env.tsv (the BLAS, its kernel, the threads and wait policy)."""
import csv
import ctypes
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

suite = sys.argv[1] if len(sys.argv) > 1 else "../shared/bench-suite.tsv"
out = sys.argv[2] if len(sys.argv) > 2 else "bench/results/pytorch.tsv"
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 7
threads = int(os.environ.get("BENCH_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(1)


def blas_in_use():
    """The BLAS libraries this process mapped, and OpenBLAS's kernel name."""
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            name = os.path.basename(path)
            if "blas" in name or "mkl" in name or "blis" in name:
                paths.add(os.path.realpath(path))
    core = ""
    for path in sorted(paths):
        try:
            get = ctypes.CDLL(path).openblas_get_corename
            get.restype = ctypes.c_char_p
            core = get().decode()
            break
        except (OSError, AttributeError):
            pass
    return sorted(paths), core


torch.mm(torch.ones(64, 64, dtype=torch.float64), torch.ones(64, 64, dtype=torch.float64))
blas_paths, blas_core = blas_in_use()
optimised = [p for p in blas_paths if "openblas" in p or "mkl" in p or "blis" in p]
if not optimised:
    sys.exit("bench_torch.py: PyTorch loaded the reference BLAS (%s); its conv_transpose "
             "would be 5-27x slower than with OpenBLAS and the comparison meaningless. "
             "Install libopenblas0-pthread (update-alternatives --config "
             "libblas.so.3-x86_64-linux-gnu to choose it)." % ", ".join(blas_paths))
# The GEMM behind conv_transpose, checked on an exact product (small integers:
# every sum is exact in both precisions) against PyTorch's own integer product.
a = torch.randint(-8, 9, (301, 257))
b = torch.randint(-8, 9, (257, 129))
exact = torch.mm(a, b)
for dt in (torch.float64, torch.float32):
    if not torch.equal(torch.mm(a.to(dt), b.to(dt)), exact.to(dt)):
        sys.exit("bench_torch.py: the BLAS (%s, kernel %s) computes a wrong %s product; "
                 "refusing to time it" % (optimised[0], blas_core or "?", dt))


def aten_ops(fn):
    """The aten operators one call runs, to report which kernel PyTorch used."""
    with torch.autograd.profiler.profile() as prof:
        fn()
    keep = ("conv", "mkldnn", "gemm", "addmm", "mm")
    return [e.name for e in prof.function_events if any(k in e.name for k in keep)]
fns = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def ints(s):
    return [int(v) for v in s.split(",")]


rows = []
with open(suite) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        nd, g = int(r["nd"]), int(r["groups"])
        size, k = ints(r["input_size"]), ints(r["kernel_size"])
        n, cin, cout = int(r["batch"]), int(r["in_channels"]), int(r["out_channels"])
        flops = 2 * n * cin * (cout // g)
        for v in k + size:
            flops *= v
        stride, padding = ints(r["stride"]), ints(r["padding"])
        output_padding, dilation = ints(r["output_padding"]), ints(r["dilation"])
        for direction in ("forward", "backward"):
            for dtype, name in ((torch.float64, "float64"), (torch.float32, "float32")):
                x = torch.randn(n, cin, *size, dtype=dtype)
                w = torch.randn(cin, cout // g, *k, dtype=dtype)
                b = torch.randn(cout, dtype=dtype)
                with torch.no_grad():
                    y = fns[nd](x, w, b, stride, padding, output_padding, g, dilation)
                go = torch.randn_like(y)

                def forward():
                    with torch.no_grad():
                        return fns[nd](x, w, b, stride, padding, output_padding, g, dilation)

                def backward():
                    # what autograd runs for this layer: input, weight and
                    # bias gradients in one call
                    return torch.ops.aten.convolution_backward(
                        go, x, w, [cout], stride, padding, dilation, True, output_padding, g,
                        [True, True, True])

                call = forward if direction == "forward" else backward
                work = flops if direction == "forward" else 2 * flops
                # warm-up: at least 3 calls and 0.1 s (same rule as bench.R)
                warm, t_warm = 0, time.perf_counter()
                while warm < 3 or (time.perf_counter() - t_warm < 0.1 and warm < 100):
                    result = call()
                    warm += 1
                times = []
                # at least `reps` runs and 0.3 s per row (same rule as bench.R)
                while len(times) < reps or (sum(times) < 0.3 and len(times) < 500):
                    t0 = time.perf_counter()
                    result = call()  # kept until the next call, as in bench.R
                    times.append(time.perf_counter() - t0)
                med = statistics.median(times)
                ops = [o for o in aten_ops(call) if "slow" in o or "mkldnn" in o or
                       "convolution_backward" in o or "thnn" in o]
                rows.append((r["name"], direction, name, med, work / med / 1e9, min(times),
                             "+".join(dict.fromkeys(ops)) or "?"))
                print("%-14s %-8s %-8s %9.2f ms %7.1f GFLOP/s" % (r["name"], direction, name,
                                                                  1e3 * med, work / med / 1e9),
                      flush=True)

with open(out, "w") as f:
    f.write("name\tdirection\tdtype\tmedian_s\tgflops\tmin_s\taten_op\n")
    for row in rows:
        f.write("%s\t%s\t%s\t%.6g\t%.6g\t%.6g\t%s\n" % row)
with open(os.path.splitext(out)[0] + "-env.tsv", "w") as f:
    f.write("torch\tblas\tblas_kernel\tthreads\tomp_wait_policy\n")
    f.write("%s\t%s\t%s\t%d\t%s\n" % (torch.__version__, optimised[0], blas_core or "?", threads,
                                      os.environ.get("OMP_WAIT_POLICY", "(default)")))
