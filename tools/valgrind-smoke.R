# Every native code path once, small enough for valgrind (tools/valgrind.sh).
library(convtranspose)
set.seed(1)
a <- function(...) array(rnorm(prod(c(...))), c(...))
for (threads in c(1, 2)) {
  cvt_set_num_threads(threads)
  for (dtype in c("float64", "float32")) {
    # scatter GEMM (tiled over taps), gather GEMM, weight gradient by taps
    x <- a(2, 8, 6, 6); w <- a(8, 4, 3, 3)
    y <- nnf_conv_transpose2d(x, w, rnorm(4), stride = 2, padding = 1, output_padding = 1, dtype = dtype)
    g <- nnf_conv_transpose2d_backward(y, x, w, stride = 2, padding = 1, output_padding = 1, dtype = dtype)
    # huge 1-d kernel: tiles over taps
    x <- a(1, 4, 20); w <- a(4, 16, 300)
    y <- nnf_conv_transpose1d(x, w, stride = 128, dtype = dtype)
    g <- nnf_conv_transpose1d_backward(y, x, w, stride = 128, dtype = dtype)
    # depthwise: direct kernels; group-parallel GEMM; 1x1 partial sums
    x <- a(16, 8, 8, 8); w <- a(8, 2, 4, 4)
    y <- nnf_conv_transpose2d(x, w, stride = 2, groups = 8, dtype = dtype)
    g <- nnf_conv_transpose2d_backward(y, x, w, stride = 2, groups = 8, dtype = dtype)
    x <- a(16, 8, 16, 16); w <- a(8, 8, 3, 3)
    y <- nnf_conv_transpose2d(x, w, groups = 4, dtype = dtype)
    x <- a(8, 32, 12, 12); w <- a(32, 16, 1, 1)
    y <- nnf_conv_transpose2d(x, w, dtype = dtype)
    g <- nnf_conv_transpose2d_backward(y, x, w, dtype = dtype)
    # 3-d, unbatched, zero batch
    y <- nnf_conv_transpose3d(a(2, 3, 3, 3), a(2, 2, 2, 2, 2), stride = 2, dilation = c(1, 2, 1), dtype = dtype)
    y <- nnf_conv_transpose1d(array(0, c(0, 2, 4)), a(2, 3, 2), dtype = dtype)
    # convolutions with every padding mode
    for (mode in c("zeros", "reflect", "replicate", "circular")) {
      m <- nn_conv2d(4, 6, 3, stride = 2, padding = 2, groups = 2, padding_mode = mode, dtype = dtype)
      x <- a(2, 4, 7, 7)
      g <- m$backward(m(x), x)
    }
  }
}
# errors raised from the core's own checks and from R
try(nnf_conv_transpose2d(a(1, 2, 3, 3), a(2, 2, 3, 3), stride = 0), silent = TRUE)
try(nnf_conv_transpose2d(a(1, 2, 3, 3), a(2, 2, 3, 3), stride = 1e6), silent = TRUE)
# the CUDA glue: availability, and a call that runs on a GPU where there is
# one or is refused where there is none
print(cvt_cuda_is_available())
try(nnf_conv_transpose2d(a(1, 2, 3, 3), a(2, 2, 3, 3), device = "cuda"), silent = TRUE)
cat("valgrind smoke: done\n")
