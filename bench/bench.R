# Times convtranspose on the benchmark suite (whole R calls: argument checks,
# layout changes and allocation included). Writes a TSV of medians.
# Usage: Rscript bench/bench.R [suite.tsv] [out.tsv] [reps]
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
  for (dtype in c("float64", "float32")) {
    call <- function() fns[[rank]](x, w, b, stride = parse(r$stride), padding = parse(r$padding),
                                   output_padding = parse(r$output_padding), groups = r$groups,
                                   dilation = parse(r$dilation), dtype = dtype)
    invisible(call())  # warm-up
    # At least `reps` runs and 0.3 s per row (same rule as bench_torch.py),
    # so that sub-millisecond layers get a stable median too.
    times <- numeric(0)
    while (length(times) < reps || (sum(times) < 0.3 && length(times) < 500)) {
      t0 <- Sys.time()  # microsecond resolution (proc.time() has only 1 ms)
      invisible(call())
      times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
    }
    med <- stats::median(times)
    rows[[length(rows) + 1]] <- data.frame(name = r$name, direction = "forward", dtype = dtype,
                                           median_s = med, gflops = flops / med / 1e9)
    cat(sprintf("%-14s %-8s %9.2f ms %7.1f GFLOP/s\n", r$name, dtype, 1e3 * med,
                flops / med / 1e9))
  }
}
utils::write.table(do.call(rbind, rows), out_path, sep = "\t", quote = FALSE, row.names = FALSE)
