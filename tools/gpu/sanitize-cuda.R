# A short R script that runs every path of the CUDA backend once, for
# compute-sanitizer (tools/gpu/device-check.sh): cuDNN's three operations in
# both dtypes, deterministic and benchmark modes, the package's own kernels
# (output_padding >= stride), a call beyond the staging buffers, batch 0.
library(convtranspose)
stopifnot(cvt_cuda_is_available())
set.seed(1)
run <- function(dtype, ...) {
  x <- array(rnorm(2 * 4 * 6 * 5), c(2, 4, 6, 5))
  w <- array(rnorm(4 * 3 * 3 * 2), c(4, 3, 3, 2))
  y <- nnf_conv_transpose2d(x, w, rnorm(3), ..., device = "cuda", dtype = dtype)
  g <- nnf_conv_transpose2d_backward(array(rnorm(length(y)), dim(y)), x, w, ..., device = "cuda",
                                     dtype = dtype)
  c <- nnf_conv2d(x, array(rnorm(5 * 4 * 2 * 2), c(5, 4, 2, 2)), device = "cuda", dtype = dtype)
  invisible(list(y, g, c))
}
for (dtype in c("float64", "float32")) {
  run(dtype, stride = 2, padding = 1)
  options(convtranspose.cudnn_deterministic = TRUE); run(dtype, stride = 2)
  options(convtranspose.cudnn_deterministic = FALSE, convtranspose.cudnn_benchmark = TRUE)
  run(dtype, stride = c(2, 1), dilation = 2); run(dtype, stride = c(2, 1), dilation = 2)
  options(convtranspose.cudnn_benchmark = FALSE)
  run(dtype, stride = 1, padding = 1, output_padding = c(2, 1), dilation = 3)  # our kernels
}
print(cvt_cuda_last_paths())
big <- array(rnorm(6 * 64 * 48 * 48), c(6, 64, 48, 48))  # beyond the 8 MB staging buffers
invisible(nnf_conv_transpose2d(big, array(rnorm(64 * 32 * 16), c(64, 32, 4, 4)), stride = 2,
                               padding = 1, device = "cuda"))
empty <- nnf_conv_transpose2d(array(0, c(0, 4, 6, 5)), array(1, c(4, 3, 3, 2)), device = "cuda")
stopifnot(identical(dim(empty), c(0L, 3L, 8L, 6L)))
cat("sanitize-cuda.R: every CUDA path ran\n")
