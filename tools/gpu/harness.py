#!/usr/bin/env python3
"""GPU harness for convtranspose's CUDA backend, without R (tools/gpu/README.md).

Loads libconvtranspose_harness.so (CMakeLists.txt: src/cuda + the CPU core)
through ctypes, with arrays in R's layout (numpy Fortran order), and
  1. checks the harness itself: CPU core vs PyTorch on the CPU;
  2. checks CUDA against the CPU core on random configurations: three
     operations x both layers x float64 (1e-10) / float32 with TF32 off (1e-4),
     and CUDA's transposed forward against PyTorch's on the GPU;
  3. times our CUDA kernels against PyTorch's conv_transpose*d on the same GPU
     over the benchmark suite with the batch scaled up (data already on the
     GPU), and the whole call from host arrays.
Writes a markdown report. Usage:
  harness.py --lib build/libconvtranspose_harness.so --suite bench/bench-suite.tsv \
             --out report.md [--checks N] [--batch-scale K] [--cpu-only]
"""
import argparse
import csv
import ctypes
import datetime
import math
import platform
import random
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

COARSE_TO_FINE, FINE_TO_COARSE, WEIGHT_GRADIENT = 1, 2, 3
I64 = ctypes.c_int64
DOUBLE_P = ctypes.POINTER(ctypes.c_double)


class Options(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("single_precision", ctypes.c_int),
                ("deterministic", ctypes.c_int), ("benchmark", ctypes.c_int),
                ("allow_tf32", ctypes.c_int)]


class Library:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.geometry_bytes = self.lib.convtranspose_geometry_bytes()
        self.lib.convtranspose_cuda_build_info.restype = ctypes.c_char_p

    def resolve(self, transposed, cfg):
        rank = cfg["rank"]
        arr = lambda v: (I64 * 3)(*(list(v) + [0] * (3 - len(v))))
        geometry = ctypes.create_string_buffer(self.geometry_bytes)
        message = ctypes.create_string_buffer(512)
        code = self.lib.convtranspose_resolve(
            int(transposed), rank, I64(cfg["batch"]), I64(cfg["cin"]), I64(cfg["cout"]),
            I64(cfg["groups"]), arr(cfg["size"]), arr(cfg["k"]), arr(cfg["s"]), arr(cfg["p"]),
            arr(cfg.get("pr", cfg["p"])), arr(cfg.get("op", [0] * rank)), arr(cfg["d"]),
            geometry, message, 512)
        if code != 0:
            raise ValueError(message.value.decode())
        counts = (I64 * 11)()
        self.lib.convtranspose_geometry_counts(geometry, counts)
        return geometry, list(counts)

    def cpu_run(self, op, single, geometry, first, second, bias, out, threads=4):
        message = ctypes.create_string_buffer(512)
        code = self.lib.convtranspose_cpu_run(op, int(single), geometry, ptr(first), ptr(second),
                                              ptr(bias), ptr(out), threads, message, 512)
        if code != 0:
            raise RuntimeError("CPU core: " + message.value.decode())

    def cuda_run(self, op, options, geometry, first, second, bias, out):
        message = ctypes.create_string_buffer(512)
        code = self.lib.convtranspose_cuda_run(op, geometry, ptr(first), ptr(second), ptr(bias),
                                               ptr(out), ctypes.byref(options), message, 512)
        if code != 0:
            raise RuntimeError("CUDA backend (status %d): %s" % (code, message.value.decode()))

    def cuda_time(self, op, options, geometry, repeats):
        ms, path = ctypes.c_double(), ctypes.c_int()
        message = ctypes.create_string_buffer(512)
        code = self.lib.convtranspose_cuda_time_operation(op, geometry, ctypes.byref(options),
                                                          repeats, ctypes.byref(ms),
                                                          ctypes.byref(path), message, 512)
        if code != 0:
            raise RuntimeError("CUDA backend (status %d): %s" % (code, message.value.decode()))
        return ms.value, {1: "cuDNN", 2: "own kernel"}[path.value]

    def last_paths(self):
        """What the last CUDA call of each operation ran: {op: (path, algorithm, math, reason)}."""
        out = {}
        for op in (COARSE_TO_FINE, FINE_TO_COARSE, WEIGHT_GRADIENT):
            path = ctypes.c_int()
            texts = [ctypes.create_string_buffer(256) for _ in range(3)]
            if self.lib.convtranspose_cuda_last_path(op, ctypes.byref(path), *texts, 256):
                out[op] = ({1: "cuDNN", 2: "own kernel"}[path.value],) + tuple(
                    t.value.decode() for t in texts)
        return out

    def cuda_memory(self, device=0):
        in_use, cached = ctypes.c_double(), ctypes.c_double()
        message = ctypes.create_string_buffer(512)
        self.lib.convtranspose_cuda_memory(device, ctypes.byref(in_use), ctypes.byref(cached),
                                           message, 512)
        return in_use.value, cached.value


def ptr(a):
    return None if a is None else a.ctypes.data_as(DOUBLE_P)


def r_array(shape, rng):
    """A random double array in R's layout (column-major)."""
    return np.asfortranarray(rng.standard_normal(shape))


def r_empty(shape):
    return np.empty(shape, dtype=np.float64, order="F")


def rel_error(actual, expected):
    if expected.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(expected))))
    return float(np.max(np.abs(actual - expected))) / scale


def random_config(rng, rank=None):
    rank = rank or rng.choice([1, 2, 3])
    while True:
        g = rng.choice([1, 1, 2, 3])
        cfg = dict(rank=rank, groups=g, cin=g * rng.randint(1, 3), cout=g * rng.randint(1, 3),
                   k=[rng.randint(1, 4) for _ in range(rank)],
                   s=[rng.randint(1, 3) for _ in range(rank)],
                   d=[rng.randint(1, 3) for _ in range(rank)],
                   p=[rng.randint(0, 3) for _ in range(rank)],
                   size=[rng.randint(1, 4 if rank == 3 else 7) for _ in range(rank)],
                   batch=rng.choice([1, 1, 2, 3, 5]))
        cfg["op"] = [rng.randint(0, max(cfg["s"][i], cfg["d"][i]) - 1) for i in range(rank)]
        out = [(cfg["size"][i] - 1) * cfg["s"][i] - 2 * cfg["p"][i] +
               cfg["d"][i] * (cfg["k"][i] - 1) + cfg["op"][i] + 1 for i in range(rank)]
        if all(o >= 1 for o in out):
            return cfg


def operation_arrays(lib, transposed, cfg, rng):
    """Resolved geometry and R-layout arrays for the three operations."""
    geometry, counts = lib.resolve(transposed, cfg)
    rank = cfg["rank"]
    cc, cf = counts[3], counts[4]
    coarse_size, fine_size = counts[5:5 + rank], counts[5 + rank:5 + 2 * rank]
    n = cfg["batch"]
    coarse = r_array([n, cc] + coarse_size, rng)
    fine = r_array([n, cf] + fine_size, rng)
    weight = r_array([cc, cf // cfg["groups"]] + cfg["k"], rng)
    return geometry, coarse, fine, weight, rng.standard_normal(cf), rng.standard_normal(cc)


def check_against_torch(lib, run, device, checks, rng, nrng):
    """Our transposed forward (`run`: the CPU core or CUDA) against PyTorch's
    on `device`, float64: the worst relative error."""
    worst = 0.0
    for _ in range(checks):
        cfg = random_config(rng)
        geometry, coarse, fine, weight, bias_fine, _ = operation_arrays(lib, True, cfg, nrng)
        out = r_empty(fine.shape)
        run(geometry, coarse, weight, bias_fine, out)
        fn = [None, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d][cfg["rank"]]
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)
        expected = fn(t(coarse), t(weight), t(bias_fine), cfg["s"], cfg["p"], cfg["op"],
                      cfg["groups"], cfg["d"]).cpu().numpy()
        worst = max(worst, rel_error(out, expected))
    return worst


OP_NAMES = {COARSE_TO_FINE: "coarse_to_fine", FINE_TO_COARSE: "fine_to_coarse",
            WEIGHT_GRADIENT: "weight_gradient"}


def check_cuda_against_cpu(lib, checks, rng, nrng):
    """CUDA against the CPU core, both dtypes, in the default, deterministic
    and benchmark modes; counts which path ran each operation."""
    rows = []
    modes = (("", 0, 0, checks), (", deterministic", 1, 0, max(1, checks // 4)),
             (", benchmark", 0, 1, max(1, checks // 4)))
    for (single, tol), (mode, deterministic, benchmark, n_checks) in [
            (a, b) for b in modes for a in ((False, 1e-10), (True, 1e-4))]:
        options = Options(0, int(single), deterministic, benchmark, 0)  # TF32 off in float32
        worst, failures, paths = 0.0, [], {}
        for i in range(n_checks):
            cfg = random_config(rng)
            transposed = i % 2 == 0
            if not transposed:
                # convolutions: sometimes one more padding on the right ("same")
                cfg = dict(cfg, op=[0] * cfg["rank"],
                           pr=[p + rng.choice([0, 0, 1]) for p in cfg["p"]])
                cfg["size"] = [max(sz, (k - 1) * d + 1) for sz, k, d in
                               zip(cfg["size"], cfg["k"], cfg["d"])]
            try:
                geometry, coarse, fine, weight, bias_fine, bias_coarse = operation_arrays(
                    lib, transposed, cfg, nrng)
            except ValueError:
                continue
            cases = ((COARSE_TO_FINE, coarse, weight, bias_fine, fine.shape),
                     (FINE_TO_COARSE, fine, weight, bias_coarse, coarse.shape),
                     (WEIGHT_GRADIENT, coarse, fine, None, weight.shape))
            for op, first, second, bias, shape in cases:
                expected, actual = r_empty(shape), r_empty(shape)
                lib.cpu_run(op, single, geometry, first, second, bias, expected)
                lib.cuda_run(op, options, geometry, first, second, bias, actual)
                if deterministic:  # the same bits again
                    again = r_empty(shape)
                    lib.cuda_run(op, options, geometry, first, second, bias, again)
                    if not np.array_equal(again, actual):
                        failures.append((op, cfg, float("nan")))
                ran = lib.last_paths().get(op)
                if ran:
                    key = (OP_NAMES[op], ran[0], ran[3] if ran[0] != "cuDNN" else "")
                    paths[key] = paths.get(key, 0) + 1
                err = rel_error(actual, expected)
                worst = max(worst, err)
                if not err <= tol:
                    failures.append((op, cfg, err))
        rows.append(("%s%s" % ("float32 (TF32 off)" if single else "float64", mode), n_checks,
                     tol, worst, len(failures), failures[:3], paths))
    return rows


def check_edges(lib, nrng):
    """A call beyond the 8 MB staging buffers, and batch 0: lines for the
    report and whether they passed."""
    lines, ok = [], True
    cfg = dict(rank=2, batch=6, cin=64, cout=32, groups=1, size=[48, 48], k=[4, 4], s=[2, 2],
               p=[1, 1], op=[0, 0], d=[1, 1])  # 7 MB in, 28 MB out (doubles)
    geometry, coarse, fine, weight, bias_fine, _ = operation_arrays(lib, True, cfg, nrng)
    expected, actual = r_empty(fine.shape), r_empty(fine.shape)
    lib.cpu_run(COARSE_TO_FINE, False, geometry, coarse, weight, bias_fine, expected)
    lib.cuda_run(COARSE_TO_FINE, Options(0, 0, 0, 0, 0), geometry, coarse, weight, bias_fine,
                 actual)
    err = rel_error(actual, expected)
    ok = ok and err <= 1e-10
    lines.append("- a call of %.0f MB out, beyond the 8 MB staging buffers: relative error %.2e"
                 % (fine.nbytes / 2 ** 20, err))
    cfg0 = dict(cfg, batch=0)
    geometry, coarse, fine, weight, bias_fine, _ = operation_arrays(lib, True, cfg0, nrng)
    out = r_empty(weight.shape)
    out.fill(np.nan)
    lib.cuda_run(WEIGHT_GRADIENT, Options(0, 0, 0, 0, 0), geometry, coarse, fine, None, out)
    zero = bool(np.all(out == 0))
    ok = ok and zero
    lines.append("- batch 0: the weight gradient is %s" % ("all zeros (ok)" if zero else "NOT ZERO"))
    return lines, ok


def ints(text):
    return [int(v) for v in text.split(",")]


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def torch_kernel_ms(fn, repeats):
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / repeats


def time_suite(lib, suite, batch_scale, repeats, nrng):
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default, and ours
    rows = []
    with open(suite) as f:
        layers = list(csv.DictReader(f, delimiter="\t"))
    for r in layers:
        rank = int(r["nd"])
        cfg = dict(rank=rank, batch=int(r["batch"]) * batch_scale, cin=int(r["in_channels"]),
                   cout=int(r["out_channels"]), groups=int(r["groups"]), size=ints(r["input_size"]),
                   k=ints(r["kernel_size"]), s=ints(r["stride"]), p=ints(r["padding"]),
                   op=ints(r["output_padding"]), d=ints(r["dilation"]))
        geometry, counts = lib.resolve(True, cfg)
        flops = 2 * cfg["batch"] * cfg["cin"] * (cfg["cout"] // cfg["groups"]) * \
            math.prod(cfg["k"]) * math.prod(cfg["size"])
        fn = [None, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d][rank]
        for single in (True, False):
            dtype = torch.float32 if single else torch.float64
            options = Options(0, int(single), 0, 0, 1)
            ours_ms, path = lib.cuda_time(COARSE_TO_FINE, options, geometry, repeats)
            ran = lib.last_paths().get(COARSE_TO_FINE)
            if ran:
                path = "%s: %s, %s math" % (ran[0], ran[1], ran[2]) if ran[0] == "cuDNN" else \
                    "%s (%s)" % (ran[0], ran[3])
            x = torch.randn(cfg["batch"], cfg["cin"], *cfg["size"], dtype=dtype, device="cuda")
            w = torch.randn(cfg["cin"], cfg["cout"] // cfg["groups"], *cfg["k"], dtype=dtype,
                            device="cuda")
            call = lambda: fn(x, w, None, cfg["s"], cfg["p"], cfg["op"], cfg["groups"], cfg["d"])
            with torch.no_grad():
                torch_ms = torch_kernel_ms(call, repeats)
            # whole calls from host arrays (R layout for us, C order for PyTorch)
            coarse = r_array([cfg["batch"], cfg["cin"]] + cfg["size"], nrng)
            weight = r_array([cfg["cin"], cfg["cout"] // cfg["groups"]] + cfg["k"], nrng)
            out = r_empty([cfg["batch"], cfg["cout"]] + counts[5 + rank:5 + 2 * rank])
            ours_whole = median_ms(lambda: lib.cuda_run(COARSE_TO_FINE, options, geometry, coarse,
                                                        weight, None, out), max(3, repeats // 4))
            xc, wc = np.ascontiguousarray(coarse), np.ascontiguousarray(weight)

            def torch_whole():
                with torch.no_grad():
                    y = fn(torch.from_numpy(xc).to("cuda", dtype), torch.from_numpy(wc).to("cuda", dtype),
                           None, cfg["s"], cfg["p"], cfg["op"], cfg["groups"], cfg["d"])
                    return y.double().cpu().numpy()
            torch_whole()
            torch_whole_ms = median_ms(torch_whole, max(3, repeats // 4))
            rows.append(dict(name=r["name"], dtype="float32" if single else "float64",
                             batch=cfg["batch"], path=path, ours=ours_ms, torch=torch_ms,
                             ratio=ours_ms / torch_ms, tflops=flops / ours_ms / 1e9,
                             ours_whole=ours_whole, torch_whole=torch_whole_ms))
            del x, w
            torch.cuda.empty_cache()
            print("%-14s %s  ours %.3f ms (%s)  torch %.3f ms  ratio %.2f  whole %.1f / %.1f ms" % (
                r["name"], rows[-1]["dtype"], ours_ms, path, torch_ms, ours_ms / torch_ms,
                ours_whole, torch_whole_ms), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--suite", default="bench/bench-suite.tsv")
    ap.add_argument("--out", default="gpu-report.md")
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--batch-scale", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--cpu-only", action="store_true", help="check the harness itself only")
    args = ap.parse_args()
    lib = Library(args.lib)
    rng, nrng = random.Random(1), np.random.default_rng(1)
    lines = ["# convtranspose CUDA backend: GPU harness report", "",
             "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "- host: %s, Python %s, PyTorch %s, NumPy %s" % (platform.node(), platform.python_version(),
                                                              torch.__version__, np.__version__),
             "- backend: %s" % lib.lib.convtranspose_cuda_build_info().decode()]
    cpu_err = check_against_torch(
        lib, lambda *a: lib.cpu_run(COARSE_TO_FINE, False, *a), "cpu", 50, rng, nrng)
    lines += ["", "## Harness self-check", "",
              "CPU core vs PyTorch CPU, transposed forward, 50 random configurations: worst "
              "relative error %.2e (%s)." % (cpu_err, "ok" if cpu_err < 1e-10 else "FAIL")]
    ok = cpu_err < 1e-10
    # (whatever happens, the report is written with what was found so far)
    try:
        if not args.cpu_only:
            count = ctypes.c_int()
            message = ctypes.create_string_buffer(512)
            lib.lib.convtranspose_cuda_device_count(ctypes.byref(count), message, 512)
            if count.value == 0:
                sys.exit("no CUDA device: " + message.value.decode())
            lines.insert(3, "- GPU: %s (%d device(s)), driver CUDA %s" % (
                torch.cuda.get_device_name(0), count.value, torch.version.cuda))
            lines += ["", "## CUDA vs the CPU core", "",
                      "Random configurations (rank 1-3, groups, dilation, output_padding, asymmetric "
                      "conv padding), each run as the three operations (transposed forward = "
                      "backward-data, conv forward, weight gradient).", "",
                      "| precision | configurations | tolerance | worst relative error | failures |",
                      "|---|---|---|---|---|"]
            all_paths = {}
            for name, n, tol, worst, nfail, examples, paths in check_cuda_against_cpu(
                    lib, args.checks, rng, nrng):
                lines.append("| %s | %d | %.0e | %.2e | %d |" % (name, n, tol, worst, nfail))
                for ex in examples:
                    lines.append("  - failure: operation %d, %s, error %.3g" % ex)
                ok = ok and nfail == 0
                for key, count in paths.items():
                    all_paths[key] = all_paths.get(key, 0) + count
            lines += ["", "Which code ran (all modes; for our kernels, why cuDNN did not):", ""]
            for (op, path, reason), count in sorted(all_paths.items()):
                lines.append("- %s: %s, %d calls%s" % (op, path, count,
                                                      " (%s)" % reason if reason else ""))
            edge_lines, edges_ok = check_edges(lib, nrng)
            lines += ["", "Edges:", ""] + edge_lines
            ok = ok and edges_ok
            torch_err = check_against_torch(
                lib, lambda *a: lib.cuda_run(COARSE_TO_FINE, Options(0, 0, 0, 0, 1), *a), "cuda", 50,
                rng, nrng)
            lines += ["", "CUDA transposed forward vs PyTorch on the GPU (float64), 50 random "
                      "configurations: worst relative error %.2e." % torch_err]
            ok = ok and torch_err < 1e-10
            before = lib.cuda_memory()
            geometry, coarse, fine, weight, bias_fine, _ = operation_arrays(
                lib, True, random_config(rng, 2), nrng)
            out = r_empty(fine.shape)
            for _ in range(1000):
                lib.cuda_run(COARSE_TO_FINE, Options(0, 0, 0, 0, 1), geometry, coarse, weight,
                             bias_fine, out)
            after = lib.cuda_memory()
            lines.append("Device memory in use before / after 1000 calls: %.0f / %.0f bytes." %
                         (before[0], after[0]))
            rows = time_suite(lib, args.suite, args.batch_scale, args.repeats, nrng)
            lines += ["", "## Timing: transposed forward, batch x %d, against PyTorch on this GPU" %
                      args.batch_scale, "",
                      "Kernel: data already on the GPU in cuDNN's layout, mean of %d runs after a "
                      "warm-up, CUDA events, cudnn.benchmark off, TF32 allowed for float32 (both "
                      "sides). Whole call: host arrays in, host arrays out (ours from R's layout "
                      "through pinned staging; PyTorch's from C-order NumPy), median." % args.repeats, "",
                      "| layer | dtype | batch | path | ours ms | PyTorch ms | ours / PyTorch | "
                      "TFLOP/s | whole call ours ms | whole call PyTorch ms |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for r in rows:
                lines.append("| %s | %s | %d | %s | %.3f | %.3f | %.2f | %.1f | %.1f | %.1f |" % (
                    r["name"], r["dtype"], r["batch"], r["path"], r["ours"], r["torch"], r["ratio"],
                    r["tflops"], r["ours_whole"], r["torch_whole"]))
            for dtype in ("float32", "float64"):
                ratios = [r["ratio"] for r in rows if r["dtype"] == dtype]
                if not ratios:  # a trimmed suite
                    continue
                within = sum(1 for v in ratios if v <= 1.2)
                lines.append("")
                lines.append("%s: geometric mean ours / PyTorch %.2f, %d of %d layers within 1.2x." % (
                    dtype, math.exp(sum(math.log(v) for v in ratios) / len(ratios)), within, len(ratios)))
    except Exception as e:  # noqa: BLE001 - reported, then the run fails
        ok = False
        lines += ["", "ABORTED: %s: %s" % (type(e).__name__, e)]
    lines += ["", "Result: %s" % ("all checks passed" if ok else "CHECKS FAILED")]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
