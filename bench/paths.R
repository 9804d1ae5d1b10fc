# Times every kernel path that can run each operation of each suite layer
# (convtranspose.force_path), to see which paths earn their place: a path
# that is not at least 10% faster than every other path somewhere in the
# suite is a candidate for removal. Whole R calls as in bench.R: the forward
# call for coarse_to_fine; the backward call (input and weight gradients)
# with one of its two operations forced, the other choosing as usual.
# Usage: Rscript bench/paths.R [suite.tsv] [out.tsv] [reps]
args <- commandArgs(TRUE)
suite_path <- if (length(args) >= 1) args[1] else "bench/bench-suite.tsv"
out_path <- if (length(args) >= 2) args[2] else "bench/results/paths.tsv"
reps <- if (length(args) >= 3) as.integer(args[3]) else 5L
suppressPackageStartupMessages(library(convtranspose))
cvt_set_num_threads(as.integer(Sys.getenv("BENCH_THREADS", "2")))

parse <- function(v) as.integer(strsplit(as.character(v), ",")[[1]])
suite <- utils::read.delim(suite_path, stringsAsFactors = FALSE)
paths <- cvt_paths()
isa <- cvt_kernel_isa()
paths <- paths[vapply(strsplit(paths$isas, ","), function(v) isa %in% v, TRUE), ]
fns <- list(nnf_conv_transpose1d, nnf_conv_transpose2d, nnf_conv_transpose3d)
backs <- list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
              nnf_conv_transpose3d_backward)

median_time <- function(call) {
  for (i in 1:2) result <- call()
  times <- numeric(0)
  while (length(times) < reps || (sum(times) < 0.2 && length(times) < 100)) {
    t0 <- Sys.time()
    result <- call()
    times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
  }
  stats::median(times)
}

set.seed(1)
rows <- list()
for (i in seq_len(nrow(suite))) {
  r <- suite[i, ]
  size <- parse(r$input_size); k <- parse(r$kernel_size)
  x <- array(rnorm(r$batch * r$in_channels * prod(size)), c(r$batch, r$in_channels, size))
  w <- array(rnorm(r$in_channels * r$out_channels / r$groups * prod(k)),
             c(r$in_channels, r$out_channels / r$groups, k))
  a <- list(stride = parse(r$stride), padding = parse(r$padding),
            output_padding = parse(r$output_padding), groups = r$groups,
            dilation = parse(r$dilation))
  y <- do.call(fns[[r$nd]], c(list(x, w), a))
  grad <- array(rnorm(length(y)), dim(y))
  rm(y)
  for (dtype in c("float64", "float32")) for (op in unique(paths$operation)) {
    call <- if (op == "coarse_to_fine") function() do.call(fns[[r$nd]], c(list(x, w), a, dtype = dtype)) else
      function() do.call(backs[[r$nd]], c(list(grad, x, w), a, dtype = dtype))
    options(convtranspose.force_path = NULL)
    call()
    chosen <- convtranspose:::.ct_last_path(match(op, c("coarse_to_fine", "fine_to_coarse",
                                                       "weight_gradient")))$path
    for (p in paths$path[paths$operation == op & grepl(dtype, paths$dtypes)]) {
      options(convtranspose.force_path = p)
      t <- tryCatch(median_time(call), convtranspose_argument_error = function(e) NA_real_)
      rows[[length(rows) + 1]] <- data.frame(name = r$name, dtype = dtype, operation = op,
                                             path = p, chosen = p == chosen, median_s = t)
      cat(sprintf("%-14s %-8s %-16s %-26s %s %9.2f ms\n", r$name, dtype, op, p,
                  if (p == chosen) "*" else " ", 1e3 * t))
    }
  }
  options(convtranspose.force_path = NULL)
}
out <- do.call(rbind, rows)
utils::write.table(out, out_path, sep = "\t", quote = FALSE, row.names = FALSE)

# Per path: the rows where it ran, and its best margin over the fastest
# other path of the same row (> 1.1: it wins by 10% somewhere).
key <- paste(out$name, out$dtype, out$operation)
margin <- vapply(seq_len(nrow(out)), function(j) {
  if (is.na(out$median_s[j])) return(NA_real_)
  others <- out$median_s[key == key[j] & seq_len(nrow(out)) != j]
  others <- others[!is.na(others)]
  if (!length(others)) return(Inf)
  min(others) / out$median_s[j]
}, 0)
best <- tapply(margin, out$path, function(m) if (all(is.na(m))) NA else max(m, na.rm = TRUE))
runs <- tapply(!is.na(out$median_s), out$path, sum)
chosen <- tapply(out$chosen, out$path, sum)
cat(sprintf("\n%s build, %s\n", isa, Sys.info()[["machine"]]))
cat(sprintf("%-26s %5s %7s %s\n", "path", "rows", "chosen", "best margin over the other paths"))
for (p in paths$path)
  cat(sprintf("%-26s %5d %7d %s\n", p, runs[[p]], chosen[[p]],
              if (is.na(best[[p]])) "-" else sprintf("%.2fx", best[[p]])))
