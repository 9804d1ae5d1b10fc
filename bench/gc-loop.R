# A user's loop that keeps one large result per call (`y <- layer(x)`):
# U-Net's last up-sampling (unet_up4), float32 forward, 30 calls, and the
# same loop in plain R (`y <- numeric(4194304)`, 32 MB), each call marked by
# whether R's collector ran in it (gc.time()). bench/run.sh runs it under
# the environments the README names; one row per loop.
# Usage: Rscript bench/gc-loop.R label out.tsv
args <- commandArgs(TRUE)
label <- args[1]
suppressPackageStartupMessages(library(convtranspose))
cvt_set_num_threads(as.integer(Sys.getenv("BENCH_THREADS", "2")))
set.seed(1)
x <- array(rnorm(128 * 128 * 128), c(1, 128, 128, 128))
w <- array(rnorm(128 * 64 * 4), c(128, 64, 2, 2))
loops <- list(
  unet_up4_float32 = function() nnf_conv_transpose2d(x, w, stride = 2, dtype = "float32"),
  plain_r_numeric = function() numeric(4194304))
rows <- lapply(names(loops), function(name) {
  f <- loops[[name]]
  y <- f()
  t <- g <- numeric(30)
  for (i in seq_along(t)) {
    g0 <- gc.time()[3]
    t0 <- Sys.time()
    y <- f()
    t[i] <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
    g[i] <- gc.time()[3] - g0
  }
  med <- function(v) if (length(v)) stats::median(v) else NA
  data.frame(environment = label, loop = name, calls = length(t), calls_with_gc = sum(g > 0),
             median_s = stats::median(t), median_no_gc_s = med(t[g == 0]),
             median_gc_s = med(t[g > 0]))
})
utils::write.table(do.call(rbind, rows), args[2], sep = "\t", quote = FALSE, row.names = FALSE)
