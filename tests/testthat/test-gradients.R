# Gradients of both layers: against PyTorch's autograd (fixtures) and against
# central finite differences of sum(grad_output * forward).

transpose_backward_fn <- function(rank) {
  list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
       nnf_conv_transpose3d_backward)[[rank]]
}
conv_fn <- function(rank) list(nnf_conv1d, nnf_conv2d, nnf_conv3d)[[rank]]
conv_backward_fn <- function(rank) {
  list(nnf_conv1d_backward, nnf_conv2d_backward, nnf_conv3d_backward)[[rank]]
}
conv_module_fn <- function(rank) list(nn_conv1d, nn_conv2d, nn_conv3d)[[rank]]

expect_gradients <- function(got, case, tol) {
  expect_close(got$input, case$grad_input, tol)
  expect_close(got$weight, case$grad_weight, tol)
  expect_close(array(got$bias, length(got$bias)), array(case$grad_bias, length(case$grad_bias)),
               tol)
}

for (file in c("backward-pytorch.R", "backward-random.R")) {
  cases <- dget(test_path("fixtures", file))
  test_that(sprintf("transposed-convolution gradients match PyTorch autograd: %s", file), {
    for (case in cases) {
      got <- transpose_backward_fn(case$rank)(case$grad_output, case$input, case$weight,
                                              stride = case$stride, padding = case$padding,
                                              output_padding = case$output_padding,
                                              groups = case$groups, dilation = case$dilation)
      expect_gradients(got, case, 1e-12)
      single <- transpose_backward_fn(case$rank)(case$grad_output, case$input, case$weight,
                                                 stride = case$stride, padding = case$padding,
                                                 output_padding = case$output_padding,
                                                 groups = case$groups, dilation = case$dilation,
                                                 dtype = "float32")
      expect_gradients(single, case, 1e-5)
    }
  })
}

test_that("convolution forward and gradients match PyTorch for every padding mode", {
  for (case in dget(test_path("fixtures", "conv-pytorch.R"))) {
    rank <- case$rank
    batched <- length(dim(case$input)) == rank + 2
    cin <- dim(case$input)[if (batched) 2 else 1]
    m <- conv_module_fn(rank)(cin, dim(case$weight)[1], dim(case$weight)[-(1:2)],
                              stride = case$stride, padding = case$padding,
                              dilation = case$dilation, groups = case$groups,
                              bias = !is.null(case$bias), padding_mode = case$padding_mode)
    m$weight <- case$weight
    if (!is.null(case$bias)) m$bias <- case$bias
    expect_close(m(case$input), case$expected, 1e-12)
    got <- m$backward(case$grad_output, case$input)
    expect_close(got$input, case$grad_input, 1e-12)
    expect_close(got$weight, case$grad_weight, 1e-12)
    if (!is.null(case$bias)) expect_close(array(got$bias, length(got$bias)),
                                          array(case$grad_bias, length(case$grad_bias)), 1e-12)
    if (case$padding_mode == "zeros") {
      fwd <- conv_fn(rank)(case$input, case$weight, case$bias, stride = case$stride,
                           padding = case$padding, dilation = case$dilation, groups = case$groups)
      expect_close(fwd, case$expected, 1e-12)
      bwd <- conv_backward_fn(rank)(case$grad_output, case$input, case$weight,
                                    stride = case$stride, padding = case$padding,
                                    dilation = case$dilation, groups = case$groups)
      expect_close(bwd$input, case$grad_input, 1e-12)
      expect_close(bwd$weight, case$grad_weight, 1e-12)
    }
  }
})

# Central differences of f = sum(G * forward(...)) at a few random entries of
# x, w and b. f is linear in each, so the differences are exact up to rounding.
finite_difference_check <- function(forward, backward, x, w, b, G, h = 1e-3) {
  f <- function(x, w, b) sum(G * forward(x, w, b))
  got <- backward(G, x, w)
  for (what in c("input", "weight", "bias")) {
    value <- switch(what, input = x, weight = w, bias = b)
    for (i in sample(length(value), min(4, length(value)))) {
      up <- value; up[i] <- up[i] + h
      down <- value; down[i] <- down[i] - h
      numeric_grad <- switch(what,
        input = (f(up, w, b) - f(down, w, b)) / (2 * h),
        weight = (f(x, up, b) - f(x, down, b)) / (2 * h),
        bias = (f(x, w, up) - f(x, w, down)) / (2 * h))
      expect_lt(abs(got[[what]][i] - numeric_grad), 1e-7 * max(1, abs(numeric_grad)))
    }
  }
}

test_that("transposed-convolution gradients match central finite differences", {
  set.seed(21)
  for (i in 1:45) {
    cfg <- random_config(rank = (i - 1) %% 3 + 1)
    if (cfg$batch == 0) cfg$batch <- 1
    cfg$bias <- TRUE
    data <- config_data(cfg)
    args <- list(stride = cfg$s, padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
                 dilation = cfg$d)
    forward <- function(x, w, b) do.call(transpose_fn(cfg$rank), c(list(x, w, b), args))
    backward <- function(G, x, w) do.call(transpose_backward_fn(cfg$rank), c(list(G, x, w), args))
    y <- forward(data$input, data$weight, data$bias)
    finite_difference_check(forward, backward, data$input, data$weight, data$bias,
                            array(rnorm(length(y)), dim(y)))
  }
})

test_that("convolution gradients match central finite differences, every padding mode", {
  set.seed(22)
  modes <- c("zeros", "reflect", "replicate", "circular")
  for (i in 1:36) {
    rank <- (i - 1) %% 3 + 1
    groups <- sample(1:2, 1)
    cin <- groups * sample(1:2, 1)
    cout <- groups * sample(1:3, 1)
    k <- sample(1:3, rank, TRUE)
    size <- sample(4:6, rank, TRUE)
    stride <- sample(1:2, rank, TRUE)
    padding <- sample(0:2, rank, TRUE)
    dilation <- sample(1:2, rank, TRUE)
    if (any(size + 2 * padding < dilation * (k - 1) + 1)) next
    batched <- runif(1) < 0.7
    x <- array(rnorm(2 * cin * prod(size)), c(if (batched) 2, cin, size))
    m <- conv_module_fn(rank)(cin, cout, k, stride = stride, padding = padding,
                              dilation = dilation, groups = groups,
                              padding_mode = modes[(i - 1) %/% 3 %% 4 + 1])
    forward <- function(x, w, b) { m$weight <- w; m$bias <- b; m(x) }
    backward <- function(G, x, w) { m$weight <- w; m$backward(G, x) }
    w <- m$weight
    b <- m$bias
    y <- forward(x, w, b)
    finite_difference_check(forward, backward, x, w, b, array(rnorm(length(y)), dim(y)))
  }
})

test_that("the module's backward uses its own parameters, honours output_size and changes nothing", {
  set.seed(23)
  m <- nn_conv_transpose2d(3, 4, 3, stride = 2, padding = 1, groups = 1)
  x <- array(rnorm(2 * 3 * 5 * 5), c(2, 3, 5, 5))
  before <- m$parameters
  y <- m(x, output_size = c(10, 10))
  G <- array(rnorm(length(y)), dim(y))
  got <- m$backward(G, x)
  expect_identical(m$parameters, before)
  ref <- nnf_conv_transpose2d_backward(G, x, m$weight, stride = 2, padding = 1, output_padding = 1)
  expect_identical(got, ref)
  expect_identical(dim(got$input), dim(x))
  expect_identical(dim(got$weight), dim(m$weight))
  expect_length(got$bias, 4)
  # unbatched
  got1 <- m$backward(G[1, , , ], x[1, , , ])
  expect_identical(dim(got1$input), dim(x)[-1])
})

test_that("backward refuses a grad_output of the wrong shape", {
  x <- array(rnorm(2 * 3 * 5), c(2, 3, 5))
  w <- array(rnorm(3 * 2 * 3), c(3, 2, 3))
  expect_error(nnf_conv_transpose1d_backward(array(0, c(2, 2, 6)), x, w),
               "must have the dims of the layer's output, c\\(2, 2, 7\\)",
               class = "convtranspose_shape_error")
  expect_error(nnf_conv1d_backward(array(0, c(2, 3, 5)), x, array(1, c(4, 3, 3))),
               class = "convtranspose_shape_error")
  expect_error(nnf_conv1d_backward("a", x, array(1, c(4, 3, 3))),
               class = "convtranspose_argument_error")
})

test_that("convolution arguments are checked like PyTorch's", {
  x <- array(rnorm(1 * 4 * 6 * 6), c(1, 4, 6, 6))
  w <- array(rnorm(6 * 2 * 3 * 3), c(6, 2, 3, 3))
  expect_error(nnf_conv2d(x, w, padding = "same", stride = 2),
               "not supported for strided convolutions", class = "convtranspose_argument_error")
  expect_error(nn_conv2d(4, 6, 3, padding = "same", stride = 2),
               "not supported for strided convolutions", class = "convtranspose_argument_error")
  expect_error(nnf_conv2d(x, w, padding = "full"), "\"valid\", \"same\"",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv2d(x, w, groups = 4), "divisible by groups = 4",
               class = "convtranspose_shape_error")
  expect_error(nnf_conv2d(x, w), "has 4 channels .* expects 2",
               class = "convtranspose_shape_error")
  expect_error(nnf_conv2d(x, array(1, c(2, 4, 9, 9))), "Kernel size can't be greater",
               class = "convtranspose_shape_error")
  expect_error(nn_conv2d(4, 4, 3, padding_mode = "mirror"), "must be one of",
               class = "convtranspose_argument_error")
  m <- nn_conv2d(4, 4, 3, padding = 6, padding_mode = "reflect")
  expect_error(m(x), "padding smaller than the input size", class = "convtranspose_shape_error")
  m <- nn_conv2d(4, 4, 3, padding = 7, padding_mode = "circular")
  expect_error(m(x), "no larger than the input size", class = "convtranspose_shape_error")
  expect_error(nnf_conv2d(x, w, bias = 1:3, groups = 2), "length out_channels = 6",
               class = "convtranspose_shape_error")
  expect_error(nnf_conv2d(x, w, groups = 2, device = "cuda:4096"),
               class = "convtranspose_device_error")
})

test_that("conv modules: init, fields and print", {
  set.seed(24)
  m <- nn_conv2d(40, 60, c(2, 3), groups = 4, padding = "same", padding_mode = "reflect")
  expect_identical(dim(m$weight), c(60L, 10L, 2L, 3L))
  bound <- sqrt(4 / (40 * 6))
  expect_true(all(abs(m$weight) <= bound))
  expect_gt(max(abs(m$weight)), 0.99 * bound)
  expect_identical(m$padding, "same")
  expect_false("output_padding" %in% names(m))
  expect_output(print(m), "nn_conv2d(40, 60, c(2, 3), padding = \"same\", groups = 4, padding_mode = \"reflect\")",
                fixed = TRUE)
  x <- array(rnorm(40 * 5 * 7), c(40, 5, 7))
  expect_identical(dim(m(x)), c(60L, 5L, 7L))
})

test_that("PyTorch's round trip: conv then transposed conv with output_size gives the input's size", {
  w1 <- array(1, c(1, 1, 1))
  count <- 0
  for (h in 13:23) for (w in 13:16) for (k in 2:4) for (d in 1:4) for (s in 1:3) for (p in 0:2) {
    x <- array(0, c(1, 1, h, w))
    if (min(h, w) + 2 * p < d * (k - 1) + 1) next
    weight <- array(1, c(1, 1, k, k))
    y <- nnf_conv2d(x, weight, stride = s, padding = p, dilation = d)
    up <- nn_conv_transpose2d(1, 1, k, stride = s, padding = p, dilation = d, bias = FALSE)
    expect_identical(dim(up(y, output_size = dim(x))), dim(x))
    count <- count + 1
  }
  expect_gt(count, 3000)
})

test_that("the documentation's round-trip example runs as written", {
  input <- array(rnorm(1 * 16 * 12 * 12), c(1, 16, 12, 12))
  downsample <- nn_conv2d(16, 16, 3, stride = 2, padding = 1)
  upsample <- nn_conv_transpose2d(16, 16, 3, stride = 2, padding = 1)
  h <- downsample(input)
  expect_identical(dim(h), c(1L, 16L, 6L, 6L))
  output <- upsample(h, output_size = dim(input))
  expect_identical(dim(output), c(1L, 16L, 12L, 12L))
})

test_that("gradient descent fits a 2x up-sampling filter that recovers volcano", {
  target <- (volcano - mean(volcano)) / sd(volcano)
  small <- target[seq(1, 87, 2), seq(1, 61, 2)]
  x <- array(small, c(1, 1, dim(small)))
  set.seed(1)
  up <- nn_conv_transpose2d(1, 1, 3, stride = 2, padding = 1)
  loss <- numeric(0)
  for (step in 1:100) {
    y <- up(x, output_size = dim(target))
    residual <- y[1, 1, , ] - target
    loss[step] <- mean(residual^2)
    g <- up$backward(array(2 * residual / length(residual), dim(y)), x)
    up$weight <- up$weight - 0.5 * g$weight
    up$bias <- up$bias - 0.5 * g$bias
  }
  expect_lt(loss[100], 0.1 * loss[1])
  expect_true(all(diff(loss[50:100]) <= 1e-12))  # settled, still descending
})

test_that("every multi-threaded backward path matches finite differences", {
  # Large enough for two threads (above 4 MFLOP); the forward these
  # differences use is itself checked against the slow reference.
  on.exit(cvt_set_num_threads(NULL))
  cvt_set_num_threads(2)
  set.seed(25)
  check <- function(rank, x, w, b, ...) {
    forward <- function(x, w, b) transpose_fn(rank)(x, w, b, ...)
    backward <- function(G, x, w) transpose_backward_fn(rank)(G, x, w, ...)
    y <- forward(x, w, b)
    finite_difference_check(forward, backward, x, w, b, array(rnorm(length(y)), dim(y)))
  }
  # weight gradient split over taps; input gradient split over pixels
  check(2, array(rnorm(4 * 32 * 12 * 12), c(4, 32, 12, 12)), array(rnorm(32 * 16 * 16), c(32, 16, 4, 4)),
        rnorm(16), stride = 2, padding = 1)
  # a 1x1 kernel: fewer taps than threads, private partial sums
  check(2, array(rnorm(8 * 64 * 16 * 16), c(8, 64, 16, 16)), array(rnorm(64 * 32), c(64, 32, 1, 1)),
        rnorm(32))
  # a huge 1-d kernel: the column buffer is tiled over taps
  check(1, array(rnorm(2 * 8 * 40), c(2, 8, 40)), array(rnorm(8 * 64 * 256), c(8, 64, 256)),
        rnorm(64), stride = 128, padding = 3)
  # groups
  check(3, array(rnorm(2 * 8 * 6 * 6 * 6), c(2, 8, 6, 6, 6)), array(rnorm(8 * 4 * 27), c(8, 4, 3, 3, 3)),
        rnorm(16), stride = 2, groups = 4)
})

# Every entry of weight gradients on both of their paths, on one thread and
# on two. The sample-major one (batches under 8) gathers its columns in tiles
# of at most 1 MB per thread: the first five layers take several tiles of
# pixels, of taps, and the private partial sums of a 1 x 1 kernel. The one on
# R's layout (batches from 8) packs the input channels in panels of 16
# (transposed 8 samples x 8 channels at a time): the last five have partial
# panels, batches that are not a multiple of 8, two row blocks (over 128
# channels per group), several column blocks, groups and three dimensions.
test_that("weight gradients match the reference everywhere", {
  set.seed(24)
  on.exit(cvt_set_num_threads(NULL))
  cases <- list(
    list(x = c(1, 8, 40, 40), w = c(8, 16, 4, 4), stride = 2, padding = 1),
    list(x = c(3, 6, 33, 31), w = c(6, 20, 3, 3), stride = 1, padding = 1, dilation = 2),
    list(x = c(1, 8, 96, 96), w = c(8, 64, 1, 1)),
    list(x = c(2, 4, 200), w = c(4, 40, 64), stride = 16, padding = 3),
    list(x = c(1, 8, 20, 20), w = c(8, 12, 4, 4), stride = 2, groups = 2),
    list(x = c(16, 40, 6, 5), w = c(40, 7, 3, 3), stride = 2, padding = 1),
    list(x = c(12, 16, 9), w = c(16, 5, 4), stride = 3),
    list(x = c(8, 36, 3, 4, 3), w = c(36, 4, 2, 2, 2), stride = 2, groups = 2),
    list(x = c(20, 130, 4, 4), w = c(130, 10, 2, 2), stride = 2),
    list(x = c(8, 24, 5, 5), w = c(24, 50, 3, 3), padding = 1))
  for (case in cases) {
    rank <- length(case$w) - 2
    x <- array(rnorm(prod(case$x)), case$x)
    w <- array(rnorm(prod(case$w)), case$w)
    args <- list(stride = if (is.null(case$stride)) 1 else case$stride,
                 padding = if (is.null(case$padding)) 0 else case$padding,
                 groups = if (is.null(case$groups)) 1 else case$groups,
                 dilation = if (is.null(case$dilation)) 1 else case$dilation)
    y <- do.call(transpose_fn(rank), c(list(x, w), args))
    G <- array(rnorm(length(y)), dim(y))
    expected <- do.call(reference_weight_gradient, c(list(G, x, case$w[-(1:2)]), args))
    for (threads in 1:2) {
      cvt_set_num_threads(threads)
      for (dtype in c("float64", "float32")) {
        got <- do.call(transpose_backward_fn(rank), c(list(G, x, w), args, dtype = dtype))
        expect_close(got$weight, expected, if (dtype == "float64") 1e-12 else 1e-5)
      }
    }
  }
})

# A weight gradient on R's layout of over 4e9 flops sums its pixels in
# rounds (an interrupt check between them): here 704 pixels, then 320.
test_that("a weight gradient summed in several rounds matches the reference", {
  set.seed(25)
  x <- array(rnorm(8 * 192 * 32 * 32), c(8, 192, 32, 32))
  w <- array(rnorm(192 * 192 * 9), c(192, 192, 3, 3))
  G <- array(rnorm(8 * 192 * 32 * 32), c(8, 192, 32, 32))
  got <- nnf_conv_transpose2d_backward(G, x, w, padding = 1)
  expect_close(got$weight, reference_weight_gradient(G, x, c(3, 3), padding = 1), 1e-12)
})

# Along a dimension with one input position the kernels take the stride as
# the kernel size (compute_geometry in geometry.hpp): a generator's 1 x 1
# first layer. Every output and every gradient entry against the reference,
# the gradients by linearity: d sum(G * y) / d v[i] = sum(G * y(v = unit i)).
test_that("inputs with one position along some dimensions match the reference everywhere", {
  set.seed(23)
  inner <- function(a, b) sum(as.vector(a) * as.vector(b))
  for (i in 1:12) {
    rank <- (i - 1) %% 3 + 1
    single <- if (rank == 1) TRUE else sample(c(TRUE, FALSE), rank, TRUE)
    single[sample(rank, 1)] <- TRUE
    size <- ifelse(single, 1L, sample(2:3, rank, TRUE))
    k <- sample(if (rank == 3) 2:3 else 2:4, rank, TRUE)
    s <- vapply(k, function(kk) sample(seq_len(kk - 1), 1), 0)
    p <- vapply(k, function(kk) sample(0:((kk - 1) %/% 2), 1), 0)
    groups <- sample(1:2, 1)
    cin <- groups * sample(2:3, 1)
    cout <- groups * if (rank == 3) 2L else sample(4:5, 1)
    batch <- c(2L, 8L, 13L, 20L)[(i - 1) %/% 3 + 1]
    out <- (size - 1) * s - 2 * p + (k - 1) + 1
    if (any(out < 1)) next
    x <- array(rnorm(batch * cin * prod(size)), c(batch, cin, size))
    w <- array(rnorm(cin * cout / groups * prod(k)), c(cin, cout / groups, k))
    b <- rnorm(cout)
    args <- list(stride = s, padding = p, groups = groups)
    ref <- function(x, w, b = NULL) do.call(reference_conv_transpose, c(list(x, w, b), args))
    y <- do.call(transpose_fn(rank), c(list(x, w, b), args))
    expect_close(y, ref(x, w, b), 1e-12)
    expect_close(do.call(transpose_fn(rank), c(list(x, w, b), args, dtype = "float32")),
                 ref(x, w, b), 1e-5)
    G <- array(rnorm(length(y)), dim(y))
    got <- do.call(transpose_backward_fn(rank), c(list(G, x, w), args))
    unit <- function(v, j) { v[] <- 0; v[j] <- 1; v }
    want_w <- array(vapply(seq_along(w), function(j) inner(G, ref(x, unit(w, j))), 0), dim(w))
    expect_close(got$weight, want_w, 1e-12)
    # the input gradient, sample by sample: one unit input per channel and position
    per_sample <- cin * prod(size)
    responses <- lapply(seq_len(per_sample), function(j)
      ref(array(unit(numeric(per_sample), j), c(1, cin, size)), w))
    want_x <- array(0, dim(x))
    for (n in seq_len(batch)) {
      Gn <- array(asplit(G, 1)[[n]], dim(G)[-1])
      slots <- n + batch * (seq_len(per_sample) - 1)
      want_x[slots] <- vapply(responses, function(r) inner(Gn, r), 0)
    }
    expect_close(got$input, want_x, 1e-12)
  }
})

test_that("the module's backward takes any output padding the layer allows, as PyTorch does", {
  # output_padding at or above the stride but below the dilation: PyTorch
  # accepts it, and the module's backward must take its own output's shape
  set.seed(41)
  m <- nn_conv_transpose1d(1, 1, 3, output_padding = 1, dilation = 2)
  x <- array(rnorm(5), c(1, 1, 5))
  y <- m(x)
  G <- array(rnorm(length(y)), dim(y))
  expect_identical(m$backward(G, x),
                   nnf_conv_transpose1d_backward(G, x, m$weight, output_padding = 1, dilation = 2))
  m <- nn_conv_transpose2d(2, 3, 3, stride = c(3, 2), output_padding = c(2, 3), dilation = 4)
  x <- array(rnorm(2 * 2 * 4 * 5), c(2, 2, 4, 5))
  y <- m(x)
  G <- array(rnorm(length(y)), dim(y))
  expect_identical(m$backward(G, x),
                   nnf_conv_transpose2d_backward(G, x, m$weight, stride = c(3, 2),
                                                 output_padding = c(2, 3), dilation = 4))
  m <- nn_conv_transpose3d(2, 2, 2, stride = c(1, 2, 1), output_padding = c(2, 1, 0),
                           dilation = c(3, 1, 1))
  x <- array(rnorm(1 * 2 * 3 * 3 * 2), c(1, 2, 3, 3, 2))
  y <- m(x)
  G <- array(rnorm(length(y)), dim(y))
  expect_identical(m$backward(G, x)$weight,
                   nnf_conv_transpose3d_backward(G, x, m$weight, stride = c(1, 2, 1),
                                                 output_padding = c(2, 1, 0),
                                                 dilation = c(3, 1, 1))$weight)
  # a gradient shaped like another reachable output is taken too
  m <- nn_conv_transpose1d(1, 1, 3, dilation = 2)
  x <- array(rnorm(5), c(1, 1, 5))
  G <- array(rnorm(10), c(1, 1, 10))
  expect_identical(m$backward(G, x),
                   nnf_conv_transpose1d_backward(G, x, m$weight, output_padding = 1, dilation = 2))
})

test_that("the module's backward blames grad_output, not output_size, for a wrong shape", {
  m <- nn_conv_transpose1d(2, 3, 3)
  expect_error(m$backward(array(0, c(1, 3, 8)), array(rnorm(8), c(1, 2, 4))),
               "`grad_output` must have the dims of the layer's output, c\\(1, 3, 6\\), not c\\(1, 3, 8\\)",
               class = "convtranspose_shape_error")
  expect_error(m$backward(array(0, c(1, 3, 6)), array(rnorm(12), c(1, 3, 4))),
               "`input` has 3 channels", class = "convtranspose_shape_error")
})

test_that("a module without bias returns NULL for the bias gradient", {
  m <- nn_conv_transpose2d(2, 3, 3, bias = FALSE)
  x <- array(rnorm(2 * 2 * 4 * 4), c(2, 2, 4, 4))
  g <- m$backward(array(1, dim(m(x))), x)
  expect_identical(names(g), c("input", "weight", "bias"))
  expect_null(g$bias)
  # so the documented update works for either kind of module
  m$weight <- m$weight - 0.5 * g$weight
  m$bias <- m$bias - 0.5 * g$bias
  expect_null(m$bias)
  expect_null(nn_conv1d(2, 3, 2, bias = FALSE)$backward(array(1, c(1, 3, 4)),
                                                        array(1, c(1, 2, 5)))$bias)
})

test_that("convolutions of zero input channels give the bias, with gradients of the right shapes", {
  # PyTorch accepts nn.Conv1d(0, 8, 2, stride = 2); by the definition each
  # output is the bias (PyTorch 1.13 itself returns an empty 2 x 0 x 7)
  set.seed(42)
  m <- nn_conv1d(0, 8, 2, stride = 2)
  expect_identical(dim(m$weight), c(8L, 0L, 2L))
  x <- array(0, c(2, 0, 15))
  y <- m(x)
  expect_identical(dim(y), c(2L, 8L, 7L))
  expect_identical(y, array(rep(rep(m$bias, each = 2), times = 7), c(2, 8, 7)))
  G <- array(rnorm(length(y)), dim(y))
  g <- m$backward(G, x)
  expect_identical(dim(g$input), dim(x))
  expect_identical(dim(g$weight), dim(m$weight))
  expect_equal(g$bias, apply(G, 2, sum))
  expect_identical(nn_conv2d(0, 3, 3, bias = FALSE, padding = 1,
                             padding_mode = "reflect")(array(0, c(0, 5, 4))),
                   array(0, c(3, 5, 4)))
  expect_identical(nnf_conv1d(array(0, c(1, 0, 6)), array(0, c(4, 0, 3)), bias = 1:4,
                              dtype = "float32"),
                   array(rep(1:4, times = 4) + 0, c(1, 4, 4)))
  # a transposed convolution of zero input channels stays refused, as in PyTorch
  expect_error(nn_conv_transpose1d(0, 8, 2), class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(array(0, c(1, 0, 6)), array(0, c(0, 2, 3))),
               "empty dimension", class = "convtranspose_shape_error")
})
