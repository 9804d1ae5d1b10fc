# Joins one run of bench/run.sh into bench/results/report.md (every anchor's
# medians, our GFLOP/s and share of the measured peak, the speedups, their
# summary, a plausibility check of the anchors, the run-to-run spread) and
# the chart bench/results/speedup.png. summary.tsv keeps the summary so that
# the next run can be compared with this one (previous-summary.tsv).
# Usage: Rscript bench/report.R [dir] [suite.tsv]
args <- commandArgs(TRUE)
dir <- if (length(args) >= 1) args[1] else "bench/results"
suite <- utils::read.delim(if (length(args) >= 2) args[2] else "bench/bench-suite.tsv",
                           stringsAsFactors = FALSE)
read <- function(f, ...) utils::read.delim(file.path(dir, f), stringsAsFactors = FALSE, ...)
ours <- read("convtranspose.tsv")
torch <- read("pytorch.tsv")
onednn <- read("onednn.tsv")
peak <- read("peak.tsv")
spread <- read("spread.tsv")
# (as text: a short hash such as 90e5423 reads as a number, Inf)
env_ours <- read("convtranspose-env.tsv", colClasses = "character")
env_ours$threads <- as.integer(env_ours$threads)
env_torch <- read("pytorch-env.tsv")
env_onednn <- read("onednn-env.tsv")
core <- if (file.exists(file.path(dir, "core.tsv"))) read("core.tsv") else NULL

key <- c("name", "direction", "dtype")
pick <- function(d, cols, suffix) {
  d <- d[, c(key, cols)]
  names(d)[-(1:3)] <- paste0(cols, suffix)
  d
}
m <- merge(ours, pick(torch, c("median_s", "gflops", "aten_op"), "_torch"), by = key,
           all.x = TRUE, sort = FALSE)
m <- merge(m, pick(onednn[onednn$layout == "blocked", ], c("median_s", "gflops", "impl"),
                   "_blocked"), by = key, all.x = TRUE, sort = FALSE)
m <- merge(m, pick(onednn[onednn$layout == "plain", ], c("median_s", "gflops"), "_plain"),
           by = key, all.x = TRUE, sort = FALSE)
layers <- unique(ours$name)
m <- m[order(match(m$name, layers), match(m$direction, c("forward", "backward")),
             -xtfrm(m$dtype)), ]
m$mflop <- m$gflops * m$median_s * 1e3
# The peak: the higher of the two measurements (start and end of the run),
# so that shares of it are not flattered by a slow moment.
peak_of <- function(dt) max(peak$gflops[peak$dtype == dt])
m$peak <- vapply(m$dtype, peak_of, 0)
m$share <- m$gflops / m$peak
m$vs_torch <- m$median_s_torch / m$median_s
m$median_s_onednn <- pmin(m$median_s_blocked, m$median_s_plain)
m$vs_onednn <- m$median_s_onednn / m$median_s
m$vs_plain <- m$median_s_plain / m$median_s

# Plausibility: an anchor far below the machine's peak on a compute-bound
# layer usually means the anchor was measured wrongly (the reference BLAS,
# a wrong thread setting, a fallback implementation).
compute_bound_mflop <- 100
anchors <- list(PyTorch = "gflops_torch", "oneDNN blocked" = "gflops_blocked",
                "oneDNN plain" = "gflops_plain")
low <- character(0)
best <- character(0)
m$flags <- ""
letters_of <- c(PyTorch = "T", "oneDNN blocked" = "B", "oneDNN plain" = "P")
# what a flagged row's geometry is, for the reader who checks it
prod_of <- function(v) prod(as.integer(strsplit(as.character(v), ",")[[1]]))
geometry <- function(name) {
  r <- suite[suite$name == name, ]
  if (!nrow(r)) return("")
  sprintf("in/out channels per group %d/%d, input pixels a sample %d, taps %d, batch %d",
          r$in_channels / r$groups, r$out_channels / r$groups, prod_of(r$input_size),
          prod_of(r$kernel_size), r$batch)
}
bound <- m$mflop >= compute_bound_mflop
for (a in names(anchors)) {
  g <- m[[anchors[[a]]]]
  hit <- !is.na(g) & bound & g < 0.1 * m$peak
  m$flags[hit] <- paste0(m$flags[hit], letters_of[[a]])
  low <- c(low, sprintf("%s on %s %s %s: %.1f GFLOP/s, %.0f%% of the peak (%s)", a, m$name[hit],
                        m$direction[hit], m$dtype[hit], g[hit], 100 * g[hit] / m$peak[hit],
                        vapply(m$name[hit], geometry, "")))
  for (dt in c("float64", "float32")) {
    ok <- !is.na(g) & bound & m$dtype == dt
    if (!any(ok)) next
    i <- which(ok)[which.max(g[ok] / m$peak[ok])]
    best <- c(best, sprintf("%s %s: %.0f%% of the peak at best (%s %s, %.1f GFLOP/s)", a, dt,
                            100 * g[i] / m$peak[i], m$name[i], m$direction[i], g[i]))
  }
}

geo <- function(v) exp(mean(log(v)))
fmt_ms <- function(s) ifelse(is.na(s), "", sprintf("%.2f", 1e3 * s))
fmt_x <- function(v) ifelse(is.na(v), "", sprintf("%.2f", v))
cpu <- peak$cpu[1]
date <- format(Sys.time(), "%Y-%m-%d")
pk <- function(dt, when) peak$gflops[peak$dtype == dt & peak$when == when]
lines <- c(
  "# Benchmark report", "",
  sprintf("Run of %s, commit %s, on %s; %d threads each side.", date, env_ours$commit[1], cpu,
          env_ours$threads[1]),
  "",
  sprintf(paste0("Measured FMA peak (%s, %d threads; start / end of the run): float64 %.1f / ",
                 "%.1f GFLOP/s, float32 %.1f / %.1f GFLOP/s (one thread: %.1f and %.1f). ",
                 "Shares below are of the higher of each pair."),
          peak$isa[1], peak$threads[1], pk("float64", "start"), pk("float64", "end"),
          pk("float32", "start"), pk("float32", "end"),
          peak$gflops_one_thread[peak$dtype == "float64" & peak$when == "start"],
          peak$gflops_one_thread[peak$dtype == "float32" & peak$when == "start"]),
  "",
  "Sides, each timed as whole calls: warm-up of at least 3 calls and 0.1 s, then the median",
  "of at least 7 calls and 0.3 s, each result kept until the next call replaces it.", "",
  sprintf(paste0("- convtranspose %s (R %s), kernel build `%s`: whole R calls (argument checks, ",
                 "layout changes, allocation of the result included)."),
          env_ours$convtranspose[1], env_ours$r[1], env_ours$isa[1]),
  sprintf(paste0("- PyTorch %s (Debian's python3-torch), CPU, on %s (OpenBLAS kernel %s), ",
                 "`torch.set_num_threads(%d)`, `OMP_WAIT_POLICY=%s` (its best setting on few ",
                 "cores). It runs %s: im2col + BLAS GEMM, in both dtypes."),
          env_torch$torch[1], env_torch$blas[1], env_torch$blas_kernel[1], env_torch$threads[1],
          env_torch$omp_wait_policy[1],
          paste(unique(unlist(strsplit(torch$aten_op, "+", fixed = TRUE))), collapse = ", ")),
  sprintf(paste0("- oneDNN %s's deconvolution (Debian's libdnnl-dev; PyTorch 2.x and R torch ",
                 "run float32 transposed convolutions through it), float32 only, ",
                 "implementations %s. *blocked*: the primitive alone on tensors in its preferred ",
                 "layout (reorders excluded); *plain*: PyTorch's layouts, reorders in and out ",
                 "included (the job convtranspose does). Backward = backward-data + ",
                 "backward-weights with the bias gradient. Checked against a naive loop before ",
                 "timing."),
          env_onednn$onednn[1], paste(unique(onednn$impl), collapse = ", ")),
  "",
  "Speedup = anchor's median / convtranspose's median (above 1: convtranspose is faster);",
  "against oneDNN, its faster figure. Flags: an anchor below 10% of the peak on a layer of",
  sprintf(paste0("%d MFLOP or more (T PyTorch, B oneDNN blocked, P oneDNN plain). The ",
                 "backward pass is all three gradients and counts twice the forward's FLOPs."),
          compute_bound_mflop),
  "",
  paste0("| layer | pass | dtype | MFLOP | convtranspose ms | GFLOP/s | % of peak | PyTorch ms |",
         " vs PyTorch | oneDNN blocked ms | oneDNN plain ms | vs oneDNN | flags |"),
  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  sprintf("| %s | %s | %s | %.0f | %.2f | %.1f | %.0f%% | %s | %s | %s | %s | %s | %s |", m$name,
          m$direction, m$dtype, m$mflop, 1e3 * m$median_s, m$gflops, 100 * m$share,
          fmt_ms(m$median_s_torch), fmt_x(m$vs_torch), fmt_ms(m$median_s_blocked),
          fmt_ms(m$median_s_plain), fmt_x(m$vs_onednn), m$flags),
  "", "## Summary", "",
  "| pass | dtype | anchor | geometric mean | slowest row | rows below 1x |",
  "|---|---|---|---:|---:|---:|")
summary <- NULL
for (d in c("forward", "backward")) for (dt in c("float64", "float32")) {
  s <- m[m$direction == d & m$dtype == dt, ]
  for (a in c("PyTorch", "oneDNN", "oneDNN plain")) {
    v <- switch(a, PyTorch = s$vs_torch, oneDNN = s$vs_onednn, "oneDNN plain" = s$vs_plain)
    ok <- !is.na(v)
    if (!any(ok)) next
    worst <- which.min(ifelse(ok, v, Inf))
    summary <- rbind(summary, data.frame(direction = d, dtype = dt, anchor = a,
                                         geomean = geo(v[ok]), min = v[worst],
                                         slowest = s$name[worst], below = sum(v[ok] < 1),
                                         rows = sum(ok), cpu = cpu, date = date))
  }
}
lines <- c(lines, sprintf("| %s | %s | %s | %.2fx | %.2fx (%s) | %d of %d |", summary$direction,
                          summary$dtype, summary$anchor, summary$geomean, summary$min,
                          summary$slowest, summary$below, summary$rows))
lines <- c(lines, "", "## Plausibility of the anchors", "",
           sprintf(paste0("Each anchor's best row of %d MFLOP or more, per dtype (a setup fault, ",
                          "such as the reference BLAS or one thread, would hold every row down):"),
                   compute_bound_mflop), "", paste0("- ", best), "",
           if (length(low)) {
             c(sprintf(paste0("Rows of %d MFLOP or more where an anchor ran below 10%% of the ",
                              "measured peak: each asks for a check of how it was measured ",
                              "before its ratio is quoted. PyTorch 1.13 runs one GEMM of depth ",
                              "in_channels / groups per sample followed by col2im, so few input ",
                              "channels or pixels per sample (a matrix-vector product for one ",
                              "pixel) keep it far below the peak on any BLAS."),
                       compute_bound_mflop), "", paste0("- ", low))
           } else {
             sprintf(paste0("No anchor ran below 10%% of the measured peak on the %d rows of ",
                            "%d MFLOP or more."), sum(bound), compute_bound_mflop)
           })

# R's collector: rows where it ran inside timed calls, the calls that met
# none (bench.R's median_no_gc_s), and the kernel alone (core_bench.cpp).
if ("gc_share" %in% names(m)) {
  m$median_s_core <- if (!is.null(core) && nrow(core))
    core$median_s[match(paste(m$name, m$direction, m$dtype),
                        paste(core$name, core$direction, core$dtype))] else NA
  no_gc <- ifelse(is.na(m$median_no_gc_s), m$median_s, m$median_no_gc_s)
  hit <- m[!is.na(m$gc_share) & m$gc_share > 0.05, ]
  ratio_line <- function(label, t) {
    f <- function(d, dt, anchor) {
      v <- anchor[m$direction == d & m$dtype == dt] / t[m$direction == d & m$dtype == dt]
      geo(v[!is.na(v)])
    }
    sprintf(paste0("- %s: float32 against oneDNN, geometric mean %.2fx forward and %.2fx ",
                   "backward; float64 against PyTorch %.2fx and %.2fx."), label,
            f("forward", "float32", m$median_s_onednn), f("backward", "float32", m$median_s_onednn),
            f("forward", "float64", m$median_s_torch), f("backward", "float64", m$median_s_torch))
  }
  lines <- c(lines, "", "## R's garbage collector and fresh memory", "",
             paste0("Every call allocates its result (up to 54 MB here). Two costs of R, not of ",
                    "the kernel, follow: R's collector, and the page faults of memory glibc ",
                    "maps afresh for every block over 32 MB (the loop below shows both). ",
                    "Rows where the collector took over 5% of the timed calls:"), "",
             "| layer | pass | dtype | median ms | median without a collection ms | fastest ms | kernel alone ms | calls with a collection | collector's share |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|",
             sprintf("| %s | %s | %s | %.2f | %s | %.2f | %s | %d of %d | %.0f%% |", hit$name,
                     hit$direction, hit$dtype, 1e3 * hit$median_s, fmt_ms(hit$median_no_gc_s),
                     1e3 * hit$min_s, fmt_ms(hit$median_s_core), hit$calls_with_gc, hit$calls,
                     100 * hit$gc_share), "",
             "The ratios of the summary, recomputed:", "",
             ratio_line("whole R calls, calls without a collection", no_gc),
             if (!all(is.na(m$median_s_core))) ratio_line("the kernel alone, no R", m$median_s_core),
             "",
             paste0("What a user can do (README, section Speed): `R_GC_MEM_GROW=3` makes ",
                    "collections rarer; `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4294967296` ",
                    "lets glibc keep freed results for the next ones instead of mapping them ",
                    "afresh."))
}
if (file.exists(file.path(dir, "gc-loop.tsv"))) {
  loop <- read("gc-loop.tsv")
  lines <- c(lines, "", "### A loop of large results under those settings", "",
             paste0("`bench/gc-loop.R`, each environment in a fresh process: 30 calls of ",
                    "unet_up4's float32 forward (`y <- layer(x)`, 32 MB results) and of plain R's ",
                    "`y <- numeric(4194304)`; medians in ms."), "",
             "| environment | loop | calls with a collection | median | median without a collection | median with one |",
             "|---|---|---:|---:|---:|---:|",
             sprintf("| %s | %s | %d of %d | %.1f | %s | %s |", loop$environment, loop$loop,
                     loop$calls_with_gc, loop$calls, 1e3 * loop$median_s,
                     ifelse(is.na(loop$median_no_gc_s), "", sprintf("%.1f", 1e3 * loop$median_no_gc_s)),
                     ifelse(is.na(loop$median_gc_s), "", sprintf("%.1f", 1e3 * loop$median_gc_s))))
}

# Run-to-run spread: the same rows in fresh processes.
if (nrow(spread)) {
  side_names <- c(ours = "convtranspose", torch = "PyTorch", onednn_blocked = "oneDNN blocked",
                  onednn_plain = "oneDNN plain")
  groups <- split(spread, spread[, c("side", "name", "direction", "dtype")], drop = TRUE)
  verdict <- function(v) {
    v <- sort(v)
    if (max(v) / min(v) <= 1.15) return("steady")
    gaps <- v[-1] / v[-length(v)]
    i <- which.max(gaps)
    two_groups <- gaps[i] > 1.25 && v[i] / v[1] <= 1.15 && v[length(v)] / v[i + 1] <= 1.15
    if (!two_groups) return("unsteady")
    # a group of one run is an outlier, two groups of two or more a bimodal row
    if (i == 1 || i == length(v) - 1) "one outlier" else "bimodal"
  }
  rows <- do.call(rbind, lapply(groups, function(g) {
    data.frame(side = side_names[[g$side[1]]], name = g$name[1], direction = g$direction[1],
               dtype = g$dtype[1], ms = paste(sprintf("%.2f", 1e3 * g$median_s), collapse = ", "),
               spread = max(g$median_s) / min(g$median_s) - 1, verdict = verdict(g$median_s))
  }))
  rows <- rows[order(match(rows$name, layers), match(rows$direction, c("forward", "backward")),
                     -xtfrm(rows$dtype), match(rows$side, side_names)), ]
  lines <- c(lines, "", "## Run-to-run spread", "",
             sprintf(paste0("Each row below ran again in %d fresh processes per side, the sides ",
                            "in turn; medians in ms in run order. Spread = slowest / fastest - 1; ",
                            "steady within 15%%; bimodal when the runs fall in two tight groups of ",
                            "two or more, more than 25%% apart; one outlier when one run stands ",
                            "that far from the others."), max(spread$run)), "",
             "| layer | pass | dtype | side | medians (ms) | spread | verdict |",
             "|---|---|---|---|---|---:|---|",
             sprintf("| %s | %s | %s | %s | %s | %.0f%% | %s |", rows$name, rows$direction,
                     rows$dtype, rows$side, rows$ms, 100 * rows$spread, rows$verdict))
}

# Against the previous run, when make bench kept its summary.
prev_file <- file.path(dir, "previous-summary.tsv")
if (file.exists(prev_file)) {
  prev <- utils::read.delim(prev_file, stringsAsFactors = FALSE)
  both <- merge(summary, prev, by = c("direction", "dtype", "anchor"), suffixes = c("", "_prev"))
  if (nrow(both)) {
    both <- both[order(match(both$direction, c("forward", "backward")), -xtfrm(both$dtype),
                       match(both$anchor, c("PyTorch", "oneDNN", "oneDNN plain"))), ]
    change <- both$geomean / both$geomean_prev - 1
    lines <- c(lines, "", "## Against the previous run", "",
               sprintf("Previous run: %s on %s%s.", both$date_prev[1], both$cpu_prev[1],
                       if (both$cpu_prev[1] != cpu) " (another CPU: not comparable)" else ""), "",
               "| pass | dtype | anchor | previous geometric mean | this run | change |",
               "|---|---|---|---:|---:|---:|",
               sprintf("| %s | %s | %s | %.2fx | %.2fx | %+.0f%% |", both$direction, both$dtype,
                       both$anchor, both$geomean_prev, both$geomean, 100 * change))
  }
}
writeLines(lines, file.path(dir, "report.md"))
utils::write.table(summary, file.path(dir, "summary.tsv"), sep = "\t", quote = FALSE,
                   row.names = FALSE)
writeLines(lines)

# The chart: speedups against each anchor, log scale.
grDevices::png(file.path(dir, "speedup.png"), width = 1100, height = 900, res = 110)
op <- graphics::par(mfrow = c(2, 1), mar = c(7.5, 5.5, 3, 1), mgp = c(4, 0.7, 0))
chart <- function(rows, value, fills, title) {
  groups <- split(rows, paste(rows$direction, rows$dtype))
  groups <- groups[intersect(c("forward float64", "forward float32", "backward float64",
                               "backward float32"), names(groups))]
  mat <- do.call(rbind, lapply(groups, function(g) g[[value]][match(layers, g$name)]))
  colnames(mat) <- layers
  rng <- range(mat, na.rm = TRUE)
  graphics::barplot(mat, beside = TRUE, las = 2, log = "y", cex.names = 0.85,
                    ylim = c(min(0.5, rng[1]) * 0.6, max(2, rng[2]) * 2.5),
                    col = fills[seq_len(nrow(mat))], ylab = "speedup (log scale)", main = title,
                    cex.main = 0.95, yaxt = "n")
  ticks <- c(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
  graphics::axis(2, at = ticks, labels = paste0(as.character(ticks), "x"),
                 las = 1, cex.axis = 0.85)
  graphics::abline(h = 1, lty = 2)
  graphics::legend("top", horiz = TRUE, bg = "white", legend = rownames(mat),
                   fill = fills[seq_len(nrow(mat))], bty = "n", cex = 0.85)
}
chart(m, "vs_torch", c("grey35", "grey75", "steelblue", "lightblue"),
      sprintf("convtranspose vs PyTorch %s CPU on OpenBLAS, %s, %d threads", env_torch$torch[1],
              cpu, env_ours$threads[1]))
chart(m[m$dtype == "float32", ], "vs_onednn", c("grey75", "lightblue"),
      sprintf("convtranspose vs oneDNN %s deconvolution (float32; its faster layout)",
              env_onednn$onednn[1]))
graphics::par(op)
invisible(grDevices::dev.off())
