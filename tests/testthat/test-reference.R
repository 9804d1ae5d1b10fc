# Random small configurations against the slow reference of helper-reference.R.

test_that("the slow reference itself agrees with PyTorch", {
  for (case in dget(test_path("fixtures", "forward-random.R"))) {
    ref <- reference_conv_transpose(case$input, case$weight, case$bias, case$stride,
                                    case$padding, case$output_padding, case$groups,
                                    case$dilation)
    expect_close(ref, case$expected, 1e-12)
  }
})

test_that("random configurations of 1d/2d/3d match the reference to 1e-12", {
  set.seed(42)
  for (i in 1:300) {
    cfg <- random_config(rank = c(1, 2, 3)[(i - 1) %% 3 + 1])
    data <- config_data(cfg)
    got <- transpose_fn(cfg$rank)(data$input, data$weight, data$bias, stride = cfg$s,
                                  padding = cfg$p, output_padding = cfg$op,
                                  groups = cfg$groups, dilation = cfg$d)
    ref <- reference_conv_transpose(data$input, data$weight, data$bias, cfg$s, cfg$p,
                                    cfg$op, cfg$groups, cfg$d)
    expect_close(got, ref, 1e-12)
  }
})

test_that("float32 stays within 1e-5 of the double reference", {
  set.seed(7)
  for (i in 1:60) {
    cfg <- random_config()
    data <- config_data(cfg)
    got <- transpose_fn(cfg$rank)(data$input, data$weight, data$bias, stride = cfg$s,
                                  padding = cfg$p, output_padding = cfg$op,
                                  groups = cfg$groups, dilation = cfg$d, dtype = "float32")
    ref <- reference_conv_transpose(data$input, data$weight, data$bias, cfg$s, cfg$p,
                                    cfg$op, cfg$groups, cfg$d)
    expect_true(is.double(got))
    expect_close(got, ref, 1e-5)
  }
})

test_that("larger layers (several tiles, many threads' work) match the reference", {
  set.seed(3)
  # Big enough that the column buffer is tiled over pixels and over taps.
  x <- array(rnorm(2 * 24 * 20 * 20), c(2, 24, 20, 20))
  w <- array(rnorm(24 * 40 * 5 * 5), c(24, 40, 5, 5))
  b <- rnorm(40)
  expect_close(nnf_conv_transpose2d(x, w, b, stride = 3, padding = 2, output_padding = 1),
               reference_conv_transpose(x, w, b, 3, 2, 1), 1e-12)
  x <- array(rnorm(1 * 6 * 40), c(1, 6, 40))
  w <- array(rnorm(6 * 2 * 700), c(6, 2, 700))
  expect_close(nnf_conv_transpose1d(x, w, stride = 128, padding = 3),
               reference_conv_transpose(x, w, NULL, 128, 3), 1e-12)
})

test_that("integer and logical input is taken as double", {
  x <- array(1:12, c(1, 2, 6))
  w <- array(c(TRUE, FALSE, TRUE, TRUE), c(2, 1, 2))
  expect_close(nnf_conv_transpose1d(x, w, stride = 2),
               reference_conv_transpose(array(as.double(1:12), c(1, 2, 6)),
                                        array(c(1, 0, 1, 1), c(2, 1, 2)), NULL, 2), 1e-15)
})

test_that("a zero batch gives an empty result of the right shape", {
  x <- array(numeric(0), c(0, 3, 5, 4))
  w <- array(rnorm(3 * 2 * 3 * 3), c(3, 2, 3, 3))
  y <- nnf_conv_transpose2d(x, w, rnorm(2), stride = 2)
  expect_identical(dim(y), c(0L, 2L, 11L, 9L))
  expect_true(is.double(y))
})

test_that("unbatched input gives unbatched output equal to the batched one", {
  set.seed(5)
  x <- array(rnorm(3 * 4 * 5 * 2), c(3, 4, 5, 2))
  w <- array(rnorm(3 * 2 * 2 * 3 * 2), c(3, 2, 2, 3, 2))
  y1 <- nnf_conv_transpose3d(x, w, stride = c(1, 2, 1), dilation = c(2, 1, 1))
  y2 <- nnf_conv_transpose3d(array(x, c(1, dim(x))), w, stride = c(1, 2, 1),
                             dilation = c(2, 1, 1))
  expect_identical(dim(y1), dim(y2)[-1])
  expect_equal(as.vector(y1), as.vector(y2))
})

test_that("NA, NaN and Inf propagate as IEEE arithmetic does", {
  x <- array(c(1, NaN, 3, 4), c(1, 1, 4))
  w <- array(c(1, 1), c(1, 1, 2))
  y <- nnf_conv_transpose1d(x, w)
  expect_equal(y[1, 1, ], c(1, NaN, NaN, 7, 4))
  y <- nnf_conv_transpose1d(array(c(1, Inf, 1), c(1, 1, 3)), array(0, c(1, 1, 1)), bias = 2)
  expect_equal(y[1, 1, ], c(2, NaN, 2))  # Inf * 0 is NaN, as in PyTorch
  y <- nnf_conv_transpose1d(array(1, c(1, 1, 2)), array(1, c(1, 1, 1)), bias = NA)
  expect_true(all(is.na(y)))
})

test_that("results do not depend on the number of threads", {
  set.seed(11)
  x <- array(rnorm(3 * 16 * 9 * 9), c(3, 16, 9, 9))
  w <- array(rnorm(16 * 12 * 4 * 4), c(16, 12, 4, 4))
  old <- cvt_set_num_threads(1)
  on.exit(cvt_set_num_threads(NULL))
  one <- nnf_conv_transpose2d(x, w, stride = 2, padding = 1)
  cvt_set_num_threads(2)
  two <- nnf_conv_transpose2d(x, w, stride = 2, padding = 1)
  expect_equal(one, two, tolerance = 1e-13)
})

test_that("every multi-threaded code path matches the reference", {
  # Each layer is above the work threshold at which threads are used
  # (4 MFLOP: 2 * batch * C_out/g * taps * pixels * C_in/g * groups).
  on.exit(cvt_set_num_threads(NULL))
  cvt_set_num_threads(2)
  set.seed(13)
  check <- function(x, w, b, ...) {
    expect_close(nnf_conv_transpose2d(x, w, b, ...),
                 reference_conv_transpose(x, w, b, ...), 1e-12)
  }
  # one input channel per group: direct kernel, threads split by stride phase
  check(array(rnorm(16 * 16 * 8 * 8), c(16, 16, 8, 8)), array(rnorm(16 * 8 * 16), c(16, 8, 4, 4)),
        rnorm(128), stride = 2, padding = 1, groups = 16)
  # ... and split by groups (stride 1: a single phase)
  check(array(rnorm(32 * 16 * 8 * 8), c(32, 16, 8, 8)), array(rnorm(16 * 8 * 9), c(16, 8, 3, 3)),
        NULL, stride = 1, padding = 1, groups = 16, dilation = 2)
  # a single input channel and several output channels (groups = 1)
  check(array(rnorm(48 * 1 * 12 * 12), c(48, 1, 12, 12)), array(rnorm(24 * 16), c(1, 24, 4, 4)),
        rnorm(24), stride = 2)
  # one input channel, pixels in several interrupt-checked blocks (1e7 / (2 * C_out * taps))
  check(array(rnorm(4 * 1 * 16 * 16), c(4, 1, 16, 16)), array(rnorm(256 * 64), c(1, 256, 8, 8)),
        rnorm(256), stride = 3, padding = 2)
  # small groups with several input channels each
  check(array(rnorm(16 * 8 * 16 * 16), c(16, 8, 16, 16)), array(rnorm(8 * 8 * 9), c(8, 8, 3, 3)),
        rnorm(32), stride = 1, groups = 4)
})

test_that("NaN and Inf propagate through gradients and convolutions as IEEE arithmetic does", {
  x <- array(c(1, NaN, 3, Inf), c(1, 1, 4))
  w <- array(c(1, 0), c(1, 1, 2))
  g <- nnf_conv_transpose1d_backward(array(1, c(1, 1, 5)), x, w)
  expect_equal(g$input[1, 1, ], c(1, 1, 1, 1))           # gradient wrt x does not involve x
  expect_true(is.nan(g$weight[1, 1, 1]))                  # it sums x
  y <- nnf_conv1d(array(c(1, 2, Inf, 4), c(1, 1, 4)), array(c(0, 1), c(1, 1, 2)), bias = 1)
  expect_equal(y[1, 1, ], c(3, Inf, NaN))                 # Inf * 0 is NaN (as PyTorch gives)
  y <- nnf_conv2d(array(1, c(1, 1, 3, 3)), array(1, c(2, 1, 1, 1)), bias = c(NaN, -Inf))
  expect_true(all(is.nan(y[1, 1, , ])))
  expect_true(all(y[1, 2, , ] == -Inf))
})

test_that("a NaN or Inf meeting zero padding gives NaN on every path, as IEEE (and PyTorch) do", {
  x <- array(1, c(1, 3, 4, 4))
  w <- array(1, c(3, 1, 3, 3))
  w[2, 1, 1, 1] <- NaN                     # channel 2's top-left tap
  # depthwise (direct kernel) and grouped-GEMM convolution alike: every output
  # of channel 2 meets the NaN tap, on real input or on padding (0 * NaN)
  for (groups in c(3, 1)) {
    ww <- if (groups == 3) w else array(c(w), c(1, 3, 3, 3))
    y <- nnf_conv2d(x, ww, padding = 1, groups = groups)
    if (groups == 3) expect_true(all(is.nan(y[1, 2, , ])))
    expect_false(any(is.nan(y[1, if (groups == 3) c(1, 3) else integer(0), , ])))
  }
  # the weight gradient of a depthwise transposed convolution: an Inf in the
  # input meets zero-padded taps of grad_output
  x <- array(1, c(1, 2, 3, 3)); x[1, 1, 1, 1] <- Inf
  g <- nnf_conv_transpose2d_backward(array(1, c(1, 2, 3, 3)), x, array(1, c(2, 1, 3, 3)),
                                     padding = 1, groups = 2)
  expect_true(all(is.nan(g$weight[1, 1, , ]) | is.infinite(g$weight[1, 1, , ])))
  expect_true(all(is.finite(g$weight[2, 1, , ])))
})

test_that("batches processed in several layout chunks equal whole-batch results", {
  set.seed(77)
  for (i in 1:40) {
    cfg <- random_config()
    cfg$batch <- sample(3:7, 1)
    cfg$unbatched <- FALSE
    data <- config_data(cfg)
    f <- transpose_fn(cfg$rank)
    back <- get(sprintf("nnf_conv_transpose%dd_backward", cfg$rank))
    args <- list(stride = cfg$s, padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
                 dilation = cfg$d, dtype = sample(c("float64", "float32"), 1))
    run <- function() {
      y <- do.call(f, c(list(data$input, data$weight, data$bias), args))
      grad <- array(seq_along(y) %% 7 - 3, dim(y))
      c(list(y = y), do.call(back, c(list(grad, data$input, data$weight), args)))
    }
    whole <- run()
    # chunks of one or two samples (the option is read at each call)
    old <- options(convtranspose.layout_chunk_bytes = sample(c(1, 2 * 8 * length(data$input) /
                                                                   cfg$batch), 1))
    chunked <- run()
    options(old)
    tol <- if (args$dtype == "float32") 1e-6 else 1e-12
    for (name in c("y", "input", "weight")) expect_close(chunked[[name]], whole[[name]], tol)
    expect_equal(chunked$bias, whole$bias, tolerance = tol)
  }
  old <- options(convtranspose.layout_chunk_bytes = "big")
  on.exit(options(old))
  expect_error(nnf_conv_transpose1d(array(1, c(2, 1, 3)), array(1, c(1, 1, 2))),
               "layout_chunk_bytes", class = "convtranspose_argument_error")
})

test_that("a non-finite value anywhere in a large weight keeps zero rows off its taps", {
  # Over 2^20 weight values (the finiteness check then runs on the team, in
  # blocks, the last one partial); the products by stride phase would
  # multiply the taps that fall off the input by zero rows, 0 * Inf = NaN
  # where PyTorch, which skips those taps, gives finite values.
  cin <- 520; cout <- 510
  for (bad in c(Inf, NaN)) for (batch in c(1, 8)) for (dtype in c("float64", "float32")) {
    w <- array(0.01, c(cin, cout, 4))
    w[cin, cout, 4] <- bad  # the last value: tap 3 reaches outputs 2i + 2 only
    x <- array(1, c(batch, cin, 3))
    y <- nnf_conv_transpose1d(x, w, stride = 2, padding = 1, dtype = dtype)
    expect_equal(dim(y), c(batch, cout, 6))
    hit <- y[, cout, c(3, 5)]
    if (is.nan(bad)) expect_true(all(is.nan(hit))) else expect_true(all(hit == Inf))
    expect_true(all(is.finite(y[, cout, c(1, 2, 4, 6)])))
    expect_true(all(is.finite(y[, -cout, ])))
  }
})

test_that("a result of 32 MB or more, touched first by one thread, is computed in full", {
  # 8 x 2 x 512 x 512 doubles = 32 MiB: the glue writes a byte of each of its
  # pages before the kernels run (layout.hpp, touch_fresh_pages). Kernel 2,
  # stride 2: the taps do not overlap, so every output is one sum over the
  # two input channels, worked out here with whole-array arithmetic.
  set.seed(48)
  x <- array(rnorm(8 * 2 * 256 * 256), c(8, 2, 256, 256))
  w <- array(rnorm(2 * 2 * 2 * 2), c(2, 2, 2, 2))
  b <- rnorm(2)
  old <- cvt_set_num_threads(NULL)
  on.exit(cvt_set_num_threads(old))
  for (threads in 1:2) {
    cvt_set_num_threads(threads)
    y <- nnf_conv_transpose2d(x, w, b, stride = 2)
    expect_equal(dim(y), c(8, 2, 512, 512))
    for (o in 1:2) for (a in 1:2) for (bb in 1:2) {
      expected <- x[, 1, , ] * w[1, o, a, bb] + x[, 2, , ] * w[2, o, a, bb] + b[o]
      expect_equal(y[, o, seq(a, 512, 2), seq(bb, 512, 2)], expected, tolerance = 1e-12)
    }
  }
})
