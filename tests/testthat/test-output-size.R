# output_size in the module call: every size from the minimum (computed with
# dilation) to the minimum + stride - 1 is reachable, nothing outside it.

test_that("every reachable output_size works over sizes, strides and dilations 1..4", {
  set.seed(1)
  for (rank in 1:2) for (s in 1:4) for (d in 1:4) for (k in 1:4) for (p in 0:2) {
    in_size <- sample(1:5, rank, TRUE)
    min_size <- (in_size - 1) * s - 2 * p + d * (k - 1) + 1
    if (any(min_size < 1)) next
    m <- module_fn(rank)(2, 2, k, stride = s, padding = p, dilation = d)
    x <- array(rnorm(2 * prod(in_size)), c(1, 2, in_size))
    for (extra in 0:(s - 1)) {
      target <- min_size + extra
      y <- m(x, output_size = target)
      expect_identical(dim(y), as.integer(c(1, 2, target)))
      # the same as asking for the implied output_padding explicitly
      expect_equal(y, transpose_fn(rank)(x, m$weight, m$bias, stride = s, padding = p,
                                         output_padding = extra, dilation = d))
    }
    expect_error(m(x, output_size = min_size - 1), "between", class = "convtranspose_shape_error")
    expect_error(m(x, output_size = min_size + s), "between", class = "convtranspose_shape_error")
  }
})

test_that("the range takes dilation into account (R torch's helper does not)", {
  m <- nn_conv_transpose1d(1, 1, 3, stride = 2, dilation = 2)
  x <- array(rnorm(4), c(1, 1, 4))
  # minimum with dilation: 3 * 2 + 2 * 2 + 1 = 11; without it would be 9
  expect_identical(dim(m(x, output_size = 11)), c(1L, 1L, 11L))
  expect_identical(dim(m(x, output_size = 12)), c(1L, 1L, 12L))
  expect_error(m(x, output_size = 9), "between 11 and 12, not 9",
               class = "convtranspose_shape_error")
  expect_close(m(x, output_size = 12),
               reference_conv_transpose(x, m$weight, m$bias, 2, 0, 1, 1, 2), 1e-12)
})

test_that("output_size may be the full dim of the wanted output, batched or unbatched", {
  set.seed(2)
  m <- nn_conv_transpose2d(3, 5, 3, stride = 2, padding = 1)
  x <- array(rnorm(2 * 3 * 6 * 6), c(2, 3, 6, 6))
  expect_identical(dim(m(x, output_size = c(2, 5, 12, 11))), c(2L, 5L, 12L, 11L))
  # batch and channel entries are ignored, as in PyTorch (e.g. dim() of a skip connection)
  expect_identical(dim(m(x, output_size = c(7, 64, 12, 12))), c(2L, 5L, 12L, 12L))
  xu <- x[1, , , ]
  expect_identical(dim(m(xu, output_size = c(5, 12, 12))), c(5L, 12L, 12L))
  expect_equal(m(xu, output_size = c(12, 12)), m(x, output_size = c(12, 12))[1, , , ])
  expect_error(m(xu, output_size = c(2, 5, 12, 12)), "must be 2 integers .* or 3",
               class = "convtranspose_argument_error")
})

test_that("output_size overrides the module's output_padding", {
  m <- nn_conv_transpose1d(1, 1, 3, stride = 3, output_padding = 2)
  x <- array(rnorm(5), c(1, 1, 5))
  expect_identical(dim(m(x)), c(1L, 1L, 17L))
  expect_identical(dim(m(x, output_size = 15)), c(1L, 1L, 15L))
})
