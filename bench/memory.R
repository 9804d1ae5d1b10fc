# Working memory of one whole R call per benchmark layer: each layer runs in
# a fresh R process that resets its peak resident memory just before the call
# (writing 5 to /proc/self/clear_refs, Linux >= 4.0), then reads it (VmHWM)
# after; the call's working memory is the peak's growth over the resident
# memory before the call, minus the result's own size. Usage (from the package root):
#   Rscript bench/memory.R [suite.tsv] [out.tsv] [direction]
# direction: forward (default) or backward. R_LIBS picks the installed build.
args <- commandArgs(trailingOnly = TRUE)
suite <- if (length(args) >= 1) args[1] else "bench/bench-suite.tsv"
out <- if (length(args) >= 2) args[2] else "bench/results/memory.tsv"
direction <- if (length(args) >= 3) args[3] else "forward"
rows <- utils::read.delim(suite, stringsAsFactors = FALSE)
ints <- function(s) as.integer(strsplit(as.character(s), ",")[[1]])

child <- '
library(convtranspose)
a <- commandArgs(trailingOnly = TRUE)
ints <- function(s) as.integer(strsplit(s, ",")[[1]])
nd <- as.integer(a[1]); n <- as.integer(a[2]); cin <- as.integer(a[3]); cout <- as.integer(a[4])
size <- ints(a[5]); k <- ints(a[6]); s <- ints(a[7]); p <- ints(a[8]); op <- ints(a[9])
g <- as.integer(a[10]); d <- ints(a[11]); dtype <- a[12]; direction <- a[13]
status <- function(field) {
  line <- grep(paste0("^", field), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) * 1024
}
set.seed(1)
x <- array(rnorm(n * cin * prod(size)), c(n, cin, size))
w <- array(rnorm(cin * cout / g * prod(k)), c(cin, cout / g, k))
f <- get(sprintf("nnf_conv_transpose%dd", nd))
y_dim <- c(n, cout, (size - 1) * s - 2 * p + d * (k - 1) + op + 1)
go <- if (direction == "backward") array(rnorm(prod(y_dim)), y_dim)
invisible(gc())
cat("5", file = "/proc/self/clear_refs")  # peak := current
before <- status("VmRSS")
if (direction == "forward") {
  y <- f(x, w, NULL, s, p, op, g, d, dtype = dtype)
  result <- 8 * length(y)
} else {
  b <- get(sprintf("nnf_conv_transpose%dd_backward", nd))
  r <- b(go, x, w, s, p, op, g, d, dtype = dtype)
  result <- 8 * (length(r$input) + length(r$weight) + length(r$bias))
}
after <- status("VmHWM")
cat(sprintf("%.0f\\t%.0f\\t%.0f\\t%.0f\\n", after - before, result, 8 * length(x), 8 * length(w)))
'
script <- tempfile(fileext = ".R")
writeLines(child, script)
res <- NULL
for (i in seq_len(nrow(rows))) {
  r <- rows[i, ]
  for (dtype in c("float64", "float32")) {
    line <- system2(file.path(R.home("bin"), "Rscript"),
                    c(script, r$nd, r$batch, r$in_channels, r$out_channels, r$input_size,
                      r$kernel_size, r$stride, r$padding, r$output_padding, r$groups, r$dilation,
                      dtype, direction), stdout = TRUE)
    v <- as.numeric(strsplit(tail(line, 1), "\t")[[1]])
    mb <- function(b) round(b / 2^20, 1)
    res <- rbind(res, data.frame(name = r$name, dtype = dtype, direction = direction,
                                 input_mb = mb(v[3]), output_mb = mb(v[2]),
                                 peak_growth_mb = mb(v[1]), working_mb = mb(v[1] - v[2]),
                                 bound_mb = mb(v[2] + 64 * 2^20),
                                 within = v[1] <= v[2] + 64 * 2^20))
  }
}
utils::write.table(res, out, sep = "\t", quote = FALSE, row.names = FALSE)
print(res, row.names = FALSE)
