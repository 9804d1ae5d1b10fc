#!/usr/bin/python3
"""Times PyTorch CPU's conv_transpose, forward and backward, on the benchmark
suite (same rows and FLOP count as bench.R). Usage: bench_torch.py [suite.tsv] [out.tsv] [reps]"""
import csv
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

suite = sys.argv[1] if len(sys.argv) > 1 else "../shared/bench-suite.tsv"
out = sys.argv[2] if len(sys.argv) > 2 else "bench/results/pytorch.tsv"
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 7
torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
torch.manual_seed(1)
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
                rows.append((r["name"], direction, name, med, work / med / 1e9))
                print("%-14s %-8s %-8s %9.2f ms %7.1f GFLOP/s" % (r["name"], direction, name,
                                                                  1e3 * med, work / med / 1e9),
                      flush=True)

with open(out, "w") as f:
    f.write("name\tdirection\tdtype\tmedian_s\tgflops\n")
    for row in rows:
        f.write("%s\t%s\t%s\t%.6g\t%.6g\n" % row)
