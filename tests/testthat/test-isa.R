# The AVX2 build of the kernels (where this CPU and build have it) against
# the baseline build, on random configurations of every operation.
test_that("the AVX2 build agrees with the baseline build", {
  skip_if(cvt_kernel_isa() == "baseline", "no AVX2 build or CPU here")
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  set.seed(41)
  both <- function(f) {
    Sys.setenv(CONVTRANSPOSE_ISA = "baseline")
    expect_identical(cvt_kernel_isa(), "baseline")
    base <- f()
    Sys.unsetenv("CONVTRANSPOSE_ISA")
    list(base = base, fast = f())
  }
  for (i in 1:40) {
    cfg <- random_config()
    if (cfg$batch == 0) cfg$batch <- 2
    data <- config_data(cfg)
    args <- list(stride = cfg$s, padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
                 dilation = cfg$d)
    r <- both(function() do.call(transpose_fn(cfg$rank), c(list(data$input, data$weight, data$bias), args)))
    expect_close(r$fast, r$base, 1e-12)
    G <- array(rnorm(length(r$base)), dim(r$base))
    back <- list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
                 nnf_conv_transpose3d_backward)[[cfg$rank]]
    g <- both(function() do.call(back, c(list(G, data$input, data$weight), args)))
    expect_close(g$fast$input, g$base$input, 1e-12)
    expect_close(g$fast$weight, g$base$weight, 1e-12)
    s <- both(function() do.call(transpose_fn(cfg$rank),
                                 c(list(data$input, data$weight, data$bias), args, dtype = "float32")))
    expect_close(s$fast, s$base, 1e-5)
  }
  # a large layer, multi-threaded and tiled
  x <- array(rnorm(4 * 64 * 10 * 10), c(4, 64, 10, 10))
  w <- array(rnorm(64 * 32 * 16), c(64, 32, 4, 4))
  r <- both(function() nnf_conv_transpose2d(x, w, stride = 2, padding = 1))
  expect_close(r$fast, r$base, 1e-12)
})
