# Every native entry point of the glue once under gctorture(TRUE) (a garbage
# collection at every allocation), on small inputs: an R object the glue
# forgot to protect is collected while in use and the results go wrong or R
# crashes. Each result is checked against the same call without gctorture.
# Usage: Rscript tools/gctorture.R [--short]   (--short: the calls straight
# into native code only, for CI)
short <- "--short" %in% commandArgs(TRUE)
suppressPackageStartupMessages(library(convtranspose))
set.seed(3)
x <- array(rnorm(2 * 2 * 3), c(2, 2, 3))
w <- array(rnorm(2 * 2 * 2), c(2, 2, 2))
b <- rnorm(2)
g <- array(rnorm(2 * 2 * 4), c(2, 2, 4))
calls <- list(
  conv_transpose = function() nnf_conv_transpose1d(x, w, b),
  conv_transpose_float32 = function() nnf_conv_transpose1d(x, w, b, dtype = "float32"),
  conv_transpose_backward = function() nnf_conv_transpose1d_backward(g, x, w),
  conv = function() nnf_conv1d(g, w, b),
  conv_backward = function() nnf_conv1d_backward(x, g, w),
  forced_path = function() {
    old <- options(convtranspose.force_path = "gemm_col2im", convtranspose.verbose = TRUE)
    on.exit(options(old))
    suppressMessages(nnf_conv_transpose1d(x, w, b))
  },
  refused_path = function() {
    old <- options(convtranspose.force_path = "direct_scatter")
    on.exit(options(old))
    tryCatch(nnf_conv_transpose1d(x, w, b), convtranspose_error = conditionMessage)
  },
  module = function() {
    m <- nn_conv_transpose1d(2, 2, 2)
    m$load_state_dict(list(weight = w, bias = b))
    list(m$forward(x), m$backward(g, x))
  },
  paths = function() cvt_paths(),
  last_path = function() convtranspose:::.ct_last_path(),
  isa = function() cvt_kernel_isa(),
  threads = function() cvt_get_num_threads(),
  cuda = function() cvt_cuda_is_available(),
  safetensors = function() {
    f <- tempfile(fileext = ".safetensors")
    cvt_write_safetensors(list(w = w), f)
    cvt_read_safetensors(f)
  })
if (short) calls <- calls[c("conv_transpose", "conv_transpose_backward", "refused_path", "paths",
                            "last_path", "isa", "threads")]
expected <- lapply(calls, function(f) f())
failed <- character()
for (name in names(calls)) {
  t0 <- proc.time()[["elapsed"]]
  gctorture(TRUE)
  got <- tryCatch(calls[[name]](), error = function(e) e)
  gctorture(FALSE)
  ok <- identical(got, expected[[name]])
  cat(sprintf("%-26s %-8s %5.1f s\n", name, if (ok) "ok" else "DIFFERS",
              proc.time()[["elapsed"]] - t0))
  if (!ok) failed <- c(failed, name)
}
if (length(failed)) {
  cat("gctorture: results differ under gctorture:", paste(failed, collapse = ", "), "\n")
  quit(status = 1)
}
cat(sprintf("gctorture: %d entry points ok\n", length(calls)))
