# Joins bench.R's and bench_torch.py's medians into a markdown table and a
# PNG chart of speedups (PyTorch time / convtranspose time).
# Usage: Rscript bench/report.R [dir]
dir <- if (length(commandArgs(TRUE))) commandArgs(TRUE)[1] else "bench/results"
ours <- utils::read.delim(file.path(dir, "convtranspose.tsv"), stringsAsFactors = FALSE)
theirs <- utils::read.delim(file.path(dir, "pytorch.tsv"), stringsAsFactors = FALSE)
m <- merge(ours, theirs, by = c("name", "direction", "dtype"), suffixes = c("", "_torch"),
           sort = FALSE)
m$speedup <- m$median_s_torch / m$median_s
order <- unique(ours$name)
m <- m[order(match(m$name, order), match(m$direction, c("forward", "backward")),
             -xtfrm(m$dtype)), ]
geo <- function(v) exp(mean(log(v)))
lines <- c(
  sprintf("Benchmark: %s, %s threads each side, medians; speedup = PyTorch time / ours.",
          format(Sys.time(), "%Y-%m-%d"), Sys.getenv("BENCH_THREADS", "2")),
  "",
  "| layer | direction | dtype | convtranspose ms | GFLOP/s | PyTorch ms | GFLOP/s | speedup |",
  "|---|---|---|---:|---:|---:|---:|---:|",
  sprintf("| %s | %s | %s | %.2f | %.1f | %.2f | %.1f | %.2f |", m$name, m$direction, m$dtype,
          1e3 * m$median_s, m$gflops, 1e3 * m$median_s_torch, m$gflops_torch, m$speedup),
  "")
for (dir_ in unique(m$direction)) for (dt in unique(m$dtype)) {
  s <- m$speedup[m$dtype == dt & m$direction == dir_]
  lines <- c(lines, sprintf("- %s %s: geometric-mean speedup %.2fx, min %.2fx, max %.2fx",
                            dir_, dt, geo(s), min(s), max(s)))
}
# The issue's compute-bound layers, as a share of the machine's double
# precision peak (PEAK_GFLOPS, default 240: an FMA loop on the two cores).
peak <- as.numeric(Sys.getenv("PEAK_GFLOPS", "240"))
bound <- c("dcgan_g2", "dcgan_g3", "dcgan_g4", "unet_up3", "unet_up4", "hifigan_up1",
           "hifigan_up3", "dilated", "grouped")
cb <- m[m$name %in% bound & m$dtype == "float64", ]
if (nrow(cb)) {
  # The median call against the fastest: what separates them is R's garbage
  # collections and the page faults of fresh results, not the arithmetic.
  best <- if (is.null(cb$gflops_best)) NA else cb$gflops_best
  lines <- c(lines, "", sprintf(paste0("Compute-bound layers, float64, share of the %g GFLOP/s ",
                                       "double-precision peak (whole R calls; median call and ",
                                       "fastest call):"), peak), "",
             "| layer | direction | GFLOP/s | share of peak | fastest call GFLOP/s | share |",
             "|---|---|---:|---:|---:|---:|",
             sprintf("| %s | %s | %.1f | %.0f%% | %.1f | %.0f%% |", cb$name, cb$direction,
                     cb$gflops, 100 * cb$gflops / peak, best, 100 * best / peak))
}
writeLines(lines, file.path(dir, "report.md"))
writeLines(lines)

grDevices::png(file.path(dir, "speedup.png"), width = 1000, height = 600, res = 110)
groups <- split(m, paste(m$direction, m$dtype))
mat <- do.call(rbind, lapply(groups, function(g) g$speedup[match(order, g$name)]))
colnames(mat) <- order
op <- graphics::par(mar = c(8, 4.5, 3, 1))
graphics::barplot(mat, beside = TRUE, las = 2, log = "y",
                  ylim = c(min(0.5, mat) * 0.9, max(mat) * 3), col = c("grey35", "grey75",
                  "steelblue", "lightblue")[seq_len(nrow(mat))],
                  ylab = "speedup over PyTorch CPU (log scale)",
                  main = "convtranspose vs PyTorch CPU, same machine, same threads")
graphics::abline(h = 1, lty = 2)
graphics::legend("top", horiz = TRUE, bg = "white", legend = rownames(mat), fill = c("grey35", "grey75", "steelblue",
                 "lightblue")[seq_len(nrow(mat))], bty = "n")
graphics::par(op)
invisible(grDevices::dev.off())
