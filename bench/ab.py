# Two builds of the kernel libraries, A and B, timed alone (bench/core_bench.cpp,
# no R) on the benchmark suite in alternating fresh processes, with the
# backward pass also split into its two products (BENCH_PARTS=1). For a
# before/after of a change on these machines, whose 2-thread runs have slow
# spells: one thread is steadier, and alternating keeps drift from favouring
# either side.
# Usage (from the package root):
#   python3 bench/ab.py A.so B.so [threads] [rounds] [suite.tsv] > table.md
# A.so, B.so: kernels/convtranspose_avx512.so (or _avx2) of two installs.
import csv
import os
import statistics
import subprocess
import sys
import tempfile

a_lib, b_lib = sys.argv[1], sys.argv[2]
threads = sys.argv[3] if len(sys.argv) > 3 else "1"
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
suite = sys.argv[5] if len(sys.argv) > 5 else (
    "../shared/bench-suite.tsv" if os.path.exists("../shared/bench-suite.tsv")
    else "bench/bench-suite.tsv")

tmp = tempfile.mkdtemp()
binary = os.path.join(tmp, "core_bench")
subprocess.run([os.environ.get("CXX", "g++"), "-O2", "-fopenmp", "-Iinst/include",
                "bench/core_bench.cpp", "-o", binary, "-ldl"], check=True)
env = dict(os.environ, BENCH_PARTS="1", OMP_NUM_THREADS=threads)
times = {}  # (name, direction, dtype) -> {lib: [median ms of each round]}
for r in range(rounds):
    for lib in ((a_lib, b_lib) if r % 2 == 0 else (b_lib, a_lib)):
        out = os.path.join(tmp, "out.tsv")
        subprocess.run([binary, lib, suite, out, threads], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with open(out) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                key = (row["name"], row["direction"], row["dtype"])
                times.setdefault(key, {}).setdefault(lib, []).append(1e3 * float(row["median_s"]))

print(f"A: {a_lib}  \nB: {b_lib}  \n{threads} thread(s), {rounds} alternating rounds; "
      "each figure the median over rounds of a process's median call, ms; A/B above 1: B faster.\n")
print("| layer | direction | dtype | A ms | B ms | A/B |")
print("|---|---|---|---:|---:|---:|")
logs = {}
for (name, direction, dtype), by_lib in times.items():
    a, b = statistics.median(by_lib[a_lib]), statistics.median(by_lib[b_lib])
    print(f"| {name} | {direction} | {dtype} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
    logs.setdefault((direction, dtype), []).append(a / b)
print("\n| direction | dtype | geometric mean A/B | lowest | highest |")
print("|---|---|---:|---:|---:|")
for (direction, dtype), ratios in sorted(logs.items()):
    mean = statistics.geometric_mean(ratios)
    print(f"| {direction} | {dtype} | {mean:.2f} | {min(ratios):.2f} | {max(ratios):.2f} |")
