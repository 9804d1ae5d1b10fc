# The fast build of the kernels this CPU loads (AVX-512 or AVX2, where this
# CPU and build have it) against the baseline build, on random
# configurations of every operation.
test_that("the AVX-512 / AVX2 build agrees with the baseline build", {
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

# On an AVX-512 CPU the AVX2 build runs when CONVTRANSPOSE_ISA asks for it
# (read at every call).
test_that("the AVX2 build, asked for per call, agrees with the baseline build", {
  skip_if(cvt_kernel_isa() != "avx512", "the AVX2 build is what runs here (tested above)")
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  set.seed(43)
  x <- array(rnorm(3 * 24 * 9 * 7), c(3, 24, 9, 7))
  w <- array(rnorm(24 * 10 * 3 * 4), c(24, 10, 3, 4))
  g <- array(rnorm(3 * 20 * 18 * 14), c(3, 20, 18, 14))
  run <- function(isa) {
    Sys.setenv(CONVTRANSPOSE_ISA = isa)
    expect_identical(cvt_kernel_isa(), isa)
    list(y = nnf_conv_transpose2d(x, w, stride = 2, padding = 1, output_padding = c(1, 0),
                                  groups = 2),
         b = nnf_conv_transpose2d_backward(g, x, w, stride = 2, padding = 1,
                                           output_padding = c(1, 0), groups = 2))
  }
  avx2 <- run("avx2")
  base <- run("baseline")
  expect_close(avx2$y, base$y, 1e-12)
  expect_close(avx2$b$input, base$b$input, 1e-12)
  expect_close(avx2$b$weight, base$b$weight, 1e-12)
  # an unknown or empty value means the best build
  Sys.setenv(CONVTRANSPOSE_ISA = "")
  expect_identical(cvt_kernel_isa(), "avx512")
  Sys.setenv(CONVTRANSPOSE_ISA = "sse9")
  expect_identical(cvt_kernel_isa(), "avx512")
})

# run() with the fast build and with the baseline build, from the same seed.
fast_and_baseline <- function(run, seed) {
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  Sys.unsetenv("CONVTRANSPOSE_ISA")
  set.seed(seed)
  fast <- run()
  Sys.setenv(CONVTRANSPOSE_ISA = "baseline")
  set.seed(seed)
  list(fast = fast, base = run())
}

# Wider layers, where the AVX2 and AVX-512 builds multiply by stride phase in place
# (phase_gemm.hpp): random geometries against the baseline build.
test_that("the stride-phase products agree with the baseline build", {
  skip_if(cvt_kernel_isa() == "baseline", "no AVX2 build or CPU here")
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  set.seed(44)
  for (i in 1:30) {
    rank <- sample(1:3, 1)
    groups <- sample(c(1, 1, 2, 3), 1)
    cin <- groups * sample(2:12, 1)
    cout <- groups * sample(c(8, 16, 17, 33), 1)
    k <- sample(1:5, rank, TRUE); s <- sample(1:4, rank, TRUE); d <- sample(1:2, rank, TRUE)
    p <- vapply(seq_len(rank), function(j) sample(0:(d[j] * (k[j] - 1)), 1), 0)
    size <- sample(if (rank == 3) 2:5 else 3:12, rank, TRUE)
    op <- vapply(seq_len(rank), function(j) sample(0:(max(s[j], d[j]) - 1), 1), 0)
    out <- (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    if (any(out < 1)) next
    n <- sample(1:3, 1)
    x <- array(rnorm(n * cin * prod(size)), c(n, cin, size))
    w <- array(rnorm(cin * cout / groups * prod(k)), c(cin, cout / groups, k))
    b <- rnorm(cout)
    f <- transpose_fn(rank)
    args <- list(x, w, b, stride = s, padding = p, output_padding = op, groups = groups,
                 dilation = d)
    back <- get(sprintf("nnf_conv_transpose%dd_backward", rank))
    wc <- array(rnorm(groups * 5 * cout / groups * 2^rank), c(groups * 5, cout / groups, rep(2, rank)))
    conv <- get(sprintf("nnf_conv%dd", rank))
    for (dtype in c("float64", "float32")) {
      tol <- if (dtype == "float32") 1e-5 else 1e-12
      # forward (phase products), backward (in-place gather for the input
      # gradient), and a convolution's forward (the same gather)
      run <- function() {
        y <- do.call(f, c(args, dtype = dtype))
        grad <- array(rnorm(length(y)), dim(y))
        list(y = y, input = do.call(back, c(list(grad, x, w), args[-(1:3)], dtype = dtype))$input,
             conv = conv(y, wc, stride = sample(1:2, 1), padding = 1, groups = groups,
                         dtype = dtype))
      }
      r <- fast_and_baseline(run, i)
      for (name in names(r$fast)) expect_close(r$fast[[name]], r$base[[name]], tol)
    }
  }
})

# Single samples with many channels: the stride-phase and implicit products
# (gemm.hpp's indirect_gemm, which reads the input in place) over several
# blocks of 128 rows, with a partial last block, in both precisions.
test_that("single samples with many channels agree with the baseline build", {
  skip_if(cvt_kernel_isa() == "baseline", "no AVX2 build or CPU here")
  for (dtype in c("float64", "float32")) {
    tol <- if (dtype == "float32") 1e-5 else 1e-12
    run <- function() {
      x <- array(rnorm(1 * 150 * 5 * 4), c(1, 150, 5, 4))
      w <- array(rnorm(150 * 270 * 3 * 3), c(150, 270, 3, 3))
      y <- nnf_conv_transpose2d(x, w, rnorm(270), stride = 2, padding = 1, dtype = dtype)
      g <- nnf_conv_transpose2d_backward(array(rnorm(length(y)), dim(y)), x, w, stride = 2,
                                         padding = 1, dtype = dtype)
      list(y = y, input = g$input, weight = g$weight)
    }
    r <- fast_and_baseline(run, 46)
    for (name in names(r$fast)) expect_close(r$fast[[name]], r$base[[name]], tol)
  }
})

# Batches of 8 samples or more, where the AVX2 and AVX-512 builds multiply on R's
# layout itself, the batch as the vector dimension, in groups of 8 samples
# with a partial last one (batch_gemm.hpp): every operation of both layers
# against the baseline build, with groups, dilation, output_padding, phases
# no tap reaches, and pixels off the image.
test_that("the products on R's layout (batches of 8 or more) agree with the baseline build", {
  skip_if(cvt_kernel_isa() == "baseline", "no AVX2 build or CPU here")
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  set.seed(45)
  for (i in 1:36) {
    rank <- sample(1:3, 1)
    groups <- sample(c(1, 1, 2, 3), 1)
    cin <- groups * sample(c(2:6, 9, 17), 1)
    cout <- groups * sample(c(4, 5, 13), 1)
    k <- sample(1:4, rank, TRUE); s <- sample(1:4, rank, TRUE); d <- sample(1:2, rank, TRUE)
    p <- vapply(seq_len(rank), function(j) sample(0:(d[j] * (k[j] - 1)), 1), 0)
    # every fourth case large enough for the weight gradient's own kernel
    # (at least 1024 summed terms)
    big <- i %% 4 == 0
    size <- if (big) c(400, 20, 7)[rank] + sample(0:3, rank, TRUE) else
      sample(if (rank == 3) 2:4 else 3:7, rank, TRUE)
    op <- vapply(seq_len(rank), function(j) sample(0:(max(s[j], d[j]) - 1), 1), 0)
    out <- (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    if (any(out < 1)) next
    n <- sample(c(8, 12, 13, 16, 20, 24), 1)  # 12, 13, 20: a partial last group
    x <- array(rnorm(n * cin * prod(size)), c(n, cin, size))
    w <- array(rnorm(cin * cout / groups * prod(k)), c(cin, cout / groups, k))
    b <- if (runif(1) < 0.7) rnorm(cout) else NULL
    bc <- rnorm(cin)  # the convolution's bias
    hyper <- list(stride = s, padding = p, output_padding = op, groups = groups, dilation = d)
    back <- get(sprintf("nnf_conv_transpose%dd_backward", rank))
    conv <- get(sprintf("nnf_conv%dd", rank))
    conv_back <- get(sprintf("nnf_conv%dd_backward", rank))
    for (dtype in c("float64", "float32")) {
      tol <- if (dtype == "float32") 1e-5 else 1e-12
      run <- function() {
        y <- do.call(transpose_fn(rank), c(list(x, w, b), hyper, dtype = dtype))
        grad <- array(rnorm(length(y)), dim(y))
        g <- do.call(back, c(list(grad, x, w), hyper, dtype = dtype))
        # a convolution with this weight, on y
        cy <- conv(y, w, if (is.null(b)) NULL else bc, stride = s, padding = p, groups = groups,
                   dilation = d, dtype = dtype)
        cg <- conv_back(array(rnorm(length(cy)), dim(cy)), y, w, stride = s, padding = p,
                        groups = groups, dilation = d, dtype = dtype)
        list(y = y, input = g$input, weight = g$weight, conv = cy, conv_input = cg$input,
             conv_weight = cg$weight)
      }
      r <- fast_and_baseline(run, i)
      for (name in names(r$fast)) expect_close(r$fast[[name]], r$base[[name]], tol)
    }
  }
  # A small image under a large weight (5 MB, larger than the caches the
  # packed slices are sized for), as in dcgan_g2; its input gradient packs
  # the weight a slice of rows at a time (10 slices). Then the same with 2
  # groups, a partial group of samples and a partial last slice (640 rows).
  shapes <- list(list(n = 8, cin = 256, cout = 160, groups = 1),
                 list(n = 12, cin = 128, cout = 80, groups = 2))
  for (sh in shapes) {
    x <- array(rnorm(sh$n * sh$cin * 3 * 2), c(sh$n, sh$cin, 3, 2))
    w <- array(rnorm(sh$cin * sh$cout / sh$groups * 16), c(sh$cin, sh$cout / sh$groups, 4, 4))
    b <- rnorm(sh$cout)
    run <- function() {
      hyper <- list(stride = 2, padding = 1, groups = sh$groups)
      y <- do.call(nnf_conv_transpose2d, c(list(x, w, b), hyper))
      grad <- array(rnorm(length(y)), dim(y))
      g <- do.call(nnf_conv_transpose2d_backward, c(list(grad, x, w), hyper))
      g32 <- do.call(nnf_conv_transpose2d_backward, c(list(grad, x, w), hyper, dtype = "float32"))
      list(y = y, input = g$input, weight = g$weight, input32 = g32$input,
           y32 = do.call(nnf_conv_transpose2d, c(list(x, w, b), hyper, dtype = "float32")))
    }
    r <- fast_and_baseline(run, 46)
    for (name in c("y", "input", "weight")) expect_close(r$fast[[name]], r$base[[name]], 1e-12)
    expect_close(r$fast$y32, r$base$y, 1e-5)
    expect_close(r$fast$input32, r$base$input, 1e-5)
  }
})

test_that("a partial group of samples never reads the next channel's values", {
  # Batch 12: each (channel, pixel) has a group of 8 samples and one of 4,
  # whose other 4 lanes lie on the next channel's first samples. An Inf there
  # must stay in its own sample and channel (0 * Inf would spread NaN).
  set.seed(47)
  x <- array(rnorm(12 * 6 * 20 * 20), c(12, 6, 20, 20))
  w <- array(rnorm(6 * 8 * 4 * 4), c(6, 8, 4, 4))
  x[2, 3, , ] <- Inf  # sample 2 of channel 3: lanes past channel 2's partial group
  for (dtype in c("float64", "float32")) {
    y <- nnf_conv_transpose2d(x, w, stride = 2, padding = 1, dtype = dtype)
    expect_true(all(is.finite(y[-2, , , ])))
    grad <- array(rnorm(length(y)), dim(y))
    grad[2, 4, , ] <- Inf  # the same for the fine side
    g <- nnf_conv_transpose2d_backward(grad, x, w, stride = 2, padding = 1, dtype = dtype)
    expect_true(all(is.finite(g$weight[-3, -4, , ])))
    expect_true(all(is.finite(g$input[-2, , , ])))
  }
})

# The weight gradient of batches the sample-major kernels take (fewer than 8
# samples), where the AVX2 and AVX-512 builds multiply the coarse and fine pixels in
# place (row_pointer_gemm): rows of the weight past a whole block of 16
# (double) or 32 (float), column panels of 12, 8 and 4 within a tap, taps off
# the image, more pixels than one 256-deep slice, groups, and one tap (the
# threads then sum pixel shares), on one and two threads.
test_that("the in-place weight gradient of small batches agrees with the baseline build", {
  skip_if(cvt_kernel_isa() == "baseline", "no AVX2 build or CPU here")
  old <- cvt_set_num_threads(NULL)
  on.exit(cvt_set_num_threads(old), add = TRUE)
  cases <- list(
    list(rank = 2, batch = 1, cin = 21, cout = 20, groups = 1, size = c(20, 19), k = c(3, 3),
         s = 2, p = 1, d = 1),
    list(rank = 2, batch = 3, cin = 36, cout = 24, groups = 2, size = c(9, 11), k = c(2, 3),
         s = 1, p = 2, d = 2),
    list(rank = 3, batch = 2, cin = 40, cout = 32, groups = 1, size = c(5, 6, 7), k = c(2, 2, 2),
         s = 2, p = 0, d = 1),
    list(rank = 1, batch = 1, cin = 33, cout = 16, groups = 1, size = 700, k = 5, s = 3, p = 2,
         d = 1),
    list(rank = 2, batch = 2, cin = 17, cout = 8, groups = 1, size = c(30, 30), k = c(1, 1),
         s = 1, p = 0, d = 1))
  for (threads in 1:2) {
    cvt_set_num_threads(threads)
    for (case in cases) for (dtype in c("float64", "float32")) {
      run <- function() {
        x <- array(rnorm(case$batch * case$cin * prod(case$size)),
                   c(case$batch, case$cin, case$size))
        w <- array(rnorm(case$cin * case$cout / case$groups * prod(case$k)),
                   c(case$cin, case$cout / case$groups, case$k))
        f <- list(nnf_conv_transpose1d, nnf_conv_transpose2d, nnf_conv_transpose3d)[[case$rank]]
        b <- list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
                  nnf_conv_transpose3d_backward)[[case$rank]]
        args <- list(stride = case$s, padding = case$p, groups = case$groups, dilation = case$d)
        y <- do.call(f, c(list(x, w), args))
        grad <- array(rnorm(length(y)), dim(y))
        do.call(b, c(list(grad, x, w), args, dtype = dtype))$weight
      }
      r <- fast_and_baseline(run, 48)
      expect_close(r$fast, r$base, if (dtype == "float32") 1e-5 else 1e-12)
    }
  }
})
