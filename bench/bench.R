# Times convtranspose on the benchmark suite (whole R calls: argument checks,
# layout changes and allocation included). Writes a TSV of medians.
# Usage: Rscript bench/bench.R [suite.tsv] [out.tsv] [reps]; writes out.tsv
# and out-env.tsv (the package's version, kernel build, threads, commit).
args <- commandArgs(TRUE)
suite_path <- if (length(args) >= 1) args[1] else "../shared/bench-suite.tsv"
out_path <- if (length(args) >= 2) args[2] else "bench/results/convtranspose.tsv"
reps <- if (length(args) >= 3) as.integer(args[3]) else 7L
suppressPackageStartupMessages(library(convtranspose))
threads <- as.integer(Sys.getenv("BENCH_THREADS", "2"))
cvt_set_num_threads(threads)

parse <- function(v) as.integer(strsplit(as.character(v), ",")[[1]])
suite <- utils::read.delim(suite_path, stringsAsFactors = FALSE)
fns <- list(nnf_conv_transpose1d, nnf_conv_transpose2d, nnf_conv_transpose3d)
set.seed(1)
rows <- list()
for (i in seq_len(nrow(suite))) {
  r <- suite[i, ]
  rank <- r$nd
  size <- parse(r$input_size); k <- parse(r$kernel_size)
  x <- array(rnorm(r$batch * r$in_channels * prod(size)), c(r$batch, r$in_channels, size))
  w <- array(rnorm(r$in_channels * r$out_channels / r$groups * prod(k)),
             c(r$in_channels, r$out_channels / r$groups, k))
  b <- rnorm(r$out_channels)
  flops <- 2 * r$batch * r$in_channels * (r$out_channels / r$groups) * prod(k) * prod(size)
  grad <- NULL
  args <- list(stride = parse(r$stride), padding = parse(r$padding),
               output_padding = parse(r$output_padding), groups = r$groups,
               dilation = parse(r$dilation))
  backward_fns <- list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
                       nnf_conv_transpose3d_backward)
  for (direction in c("forward", "backward")) for (dtype in c("float64", "float32")) {
    call <- if (direction == "forward") {
      function() do.call(fns[[rank]], c(list(x, w, b), args, dtype = dtype))
    } else {
      if (is.null(grad)) {
        out <- do.call(fns[[rank]], c(list(x, w, b), args))
        grad <- array(rnorm(length(out)), dim(out))
        rm(out)
      }
      # all three gradients: input, weight and bias
      function() do.call(backward_fns[[rank]], c(list(grad, x, w), args, dtype = dtype))
    }
    # the backward pass does twice the forward's arithmetic (input and weight)
    work <- if (direction == "forward") flops else 2 * flops
    # Warm-up: at least 3 calls and 0.1 s (same rule as bench_torch.py): a
    # fresh process's first large allocations meet a small heap and
    # frequent collections, which a session in use has left behind.
    warm <- 0
    t_warm <- Sys.time()
    while (warm < 3 || (as.numeric(difftime(Sys.time(), t_warm, units = "secs")) < 0.1 &&
                        warm < 100)) {
      result <- call()
      warm <- warm + 1
    }
    # At least `reps` runs and 0.3 s per row (same rule as bench_torch.py),
    # so that sub-millisecond layers get a stable median too.
    # Each result is kept until the next call replaces it, as in a user's
    # loop (`y <- layer(x)`) and in bench_torch.py. A result dropped at once
    # is freed with all the others at R's next collection, glibc then gives
    # that memory back to the system, and the next call takes a page fault
    # for every 4 KB of its result (200 for fcn_depthwise's 0.8 MB).
    # R's collector runs inside some calls (a full collection of a session's
    # heap takes 30-50 ms here, whatever the package does): each call's
    # share of gc.time() is kept, so that the kernel can be judged on the
    # calls that met none (median_no_gc_s) and the collector's share shown.
    times <- numeric(0)
    in_gc <- numeric(0)
    while (length(times) < reps || (sum(times) < 0.3 && length(times) < 500)) {
      g0 <- gc.time()[3]
      t0 <- Sys.time()  # microsecond resolution (proc.time() has only 1 ms)
      result <- call()
      times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
      in_gc <- c(in_gc, gc.time()[3] - g0)
    }
    med <- stats::median(times)
    quiet <- times[in_gc == 0]
    # (the fastest call too: calls that met no collection and no fresh pages)
    rows[[length(rows) + 1]] <- data.frame(name = r$name, direction = direction, dtype = dtype,
                                           median_s = med, gflops = work / med / 1e9,
                                           min_s = min(times), gflops_best = work / min(times) / 1e9,
                                           median_no_gc_s = if (length(quiet)) stats::median(quiet) else NA,
                                           calls = length(times), calls_with_gc = sum(in_gc > 0),
                                           gc_share = sum(in_gc) / sum(times))
    cat(sprintf("%-14s %-8s %-8s %9.2f ms %7.1f GFLOP/s\n", r$name, direction, dtype, 1e3 * med,
                work / med / 1e9))
  }
}
utils::write.table(do.call(rbind, rows), out_path, sep = "\t", quote = FALSE, row.names = FALSE)
utils::write.table(data.frame(convtranspose = as.character(utils::packageVersion("convtranspose")),
                              isa = cvt_kernel_isa(), threads = threads,
                              r = paste(R.version$major, R.version$minor, sep = "."),
                              commit = Sys.getenv("BENCH_COMMIT", "?")),
                   sub("\\.tsv$", "-env.tsv", out_path), sep = "\t", quote = FALSE,
                   row.names = FALSE)
