# One test per error rule: each is a classed condition raised with the user's
# call, before native code runs.
x1 <- array(rnorm(2 * 4 * 5), c(2, 4, 5))
w1 <- array(rnorm(4 * 3 * 3), c(4, 3, 3))
x2 <- array(rnorm(1 * 4 * 5 * 5), c(1, 4, 5, 5))
w2 <- array(rnorm(4 * 3 * 3 * 3), c(4, 3, 3, 3))

test_that("errors are classed and name the user's call", {
  e <- tryCatch(nnf_conv_transpose2d(x2, w2, stride = c(2, 2, 2)), error = identity)
  expect_s3_class(e, "convtranspose_argument_error")
  expect_s3_class(e, "convtranspose_error")
  expect_identical(conditionCall(e)[[1]], quote(nnf_conv_transpose2d))
  m <- nn_conv_transpose2d(4, 3, 3)
  e <- tryCatch(m(x1), error = identity)
  expect_s3_class(e, "convtranspose_shape_error")
  expect_identical(conditionCall(e)[[1]], quote(m))
  e <- tryCatch(nn_conv_transpose1d(4, 3, 0), error = identity)
  expect_identical(conditionCall(e)[[1]], quote(nn_conv_transpose1d))
})

test_that("groups must be a positive integer", {
  for (g in list(0, -1, 1.5, NA, "2", c(1, 2), NULL, Inf)) {
    expect_error(nnf_conv_transpose1d(x1, w1, groups = g), "`groups` must be a single positive",
                 class = "convtranspose_argument_error")
    expect_error(nn_conv_transpose1d(4, 4, 3, groups = g), class = "convtranspose_argument_error")
  }
})

test_that("channels must be divisible by groups", {
  expect_error(nn_conv_transpose2d(3, 4, 3, groups = 2), "in_channels.*divisible",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 3, 3, groups = 2), "out_channels.*divisible",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(x1, w1, groups = 3), "not divisible by groups = 3",
               class = "convtranspose_shape_error")
})

test_that("padding_mode other than 'zeros' is refused at construction", {
  for (mode in c("reflect", "replicate", "circular"))
    expect_error(nn_conv_transpose2d(4, 4, 3, padding_mode = mode),
                 "Only 'zeros' padding mode is supported for transposed convolution",
                 class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 4, 3, padding_mode = "mirror"), "must be one of",
               class = "convtranspose_argument_error")
})

test_that("kernel_size, stride and dilation must be positive", {
  expect_error(nn_conv_transpose2d(4, 4, 0), "`kernel_size` must be",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 4, c(3, -1)), "`kernel_size`",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose2d(x2, w2, stride = 0), "`stride` must be .*positive",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose2d(x2, w2, dilation = c(1, 0)), "`dilation`",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose2d(x2, array(0, c(4, 3, 0, 3))), "empty dimension",
               class = "convtranspose_shape_error")
})

test_that("padding and output_padding must not be negative", {
  expect_error(nnf_conv_transpose1d(x1, w1, padding = -1), "`padding` must be .*non-negative",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 4, 3, output_padding = c(0, -1)), "`output_padding`",
               class = "convtranspose_argument_error")
})

test_that("output_padding must be smaller than either stride or dilation", {
  expect_error(nnf_conv_transpose1d(x1, w1, stride = 2, output_padding = 2),
               "output_padding = 2, stride = 2 and dilation = 1",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 4, 3, stride = c(3, 1), output_padding = c(1, 1)),
               "in dimension 2", class = "convtranspose_argument_error")
  # smaller than dilation but not stride: legal
  expect_identical(dim(nnf_conv_transpose1d(x1, w1, output_padding = 1, dilation = 2)),
                   c(2L, 3L, 10L))
})

test_that("an output smaller than 1 is refused, quoting the sizes", {
  expect_error(nnf_conv_transpose2d(array(1, c(1, 4, 1, 1)), w2, padding = 2),
               "input size per channel c\\(1, 1\\).*output size per channel is c\\(-1, -1\\)",
               class = "convtranspose_shape_error")
})

test_that("the input must have the function's rank, batched or not", {
  expect_error(nnf_conv_transpose2d(array(1, c(4, 5)), w2), "must have 4 dimensions .* or 3",
               class = "convtranspose_shape_error")
  expect_error(nnf_conv_transpose1d(array(1, c(1, 1, 4, 1, 1)), w1),
               class = "convtranspose_shape_error")
})

test_that("input channels must equal dim(weight)[1]", {
  expect_error(nnf_conv_transpose1d(array(1, c(2, 3, 5)), w1),
               "has 3 channels .* expects 4", class = "convtranspose_shape_error")
  expect_error(nnf_conv_transpose1d(array(1, c(3, 5)), w1), "has 3 channels",
               class = "convtranspose_shape_error")
})

test_that("the weight must have the function's rank", {
  expect_error(nnf_conv_transpose2d(x2, w1), "`weight` must have 4 dimensions",
               class = "convtranspose_shape_error")
})

test_that("the bias must have out_channels values", {
  expect_error(nnf_conv_transpose1d(x1, w1, bias = rnorm(2)), "length out_channels = 3",
               class = "convtranspose_shape_error")
  expect_error(nnf_conv_transpose1d(x1, w1, bias = "a"), class = "convtranspose_shape_error")
  expect_error(nnf_conv_transpose1d(x1, w1, bias = matrix(1, 3, 3)),
               class = "convtranspose_shape_error")
})

test_that("inputs and weights must be numeric arrays", {
  for (bad in list(1:10, "a", list(1, 2), NULL, array("a", c(1, 4, 5)),
                   array(1i, c(1, 4, 5)), data.frame(a = 1), function(x) x))
    expect_error(nnf_conv_transpose1d(bad, w1), "`input` must be a numeric array",
                 class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(x1, rnorm(36)), "`weight` must be a numeric array",
               class = "convtranspose_argument_error")
})

test_that("size arguments of the wrong length, NA, non-integer or character are refused", {
  bad_values <- list(c(2, 2), c(1, 2, 3, 4), NA, NaN, Inf, 1.5, "2", TRUE, list(2),
                     numeric(0), NULL, 1i)
  for (v in bad_values) {
    expect_error(nnf_conv_transpose1d(x1, w1, stride = v), "`stride` must be a single integer",
                 class = "convtranspose_argument_error")
  }
  expect_error(nnf_conv_transpose2d(x2, w2, padding = c(1, 1, 1)), "(length 3)",
               class = "convtranspose_argument_error", fixed = TRUE)
  expect_error(nnf_conv_transpose3d(array(1, c(1, 4, 2, 2, 2)), array(1, c(4, 1, 1, 1, 1)),
                                    dilation = c(1, 1)),
               "a vector of 3 integers", class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4.5, 4, 3), "`in_channels` must be a single positive",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 0, 3), "`out_channels`",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(4, 4, 3, bias = NA), "`bias` must be TRUE or FALSE",
               class = "convtranspose_argument_error")
})

test_that("output_size of the wrong length or out of range is refused, naming the range", {
  m <- nn_conv_transpose2d(4, 3, 3, stride = 2, padding = 1)
  expect_error(m(x2, output_size = c(9, 9, 9)), "must be 2 integers .* or 4",
               class = "convtranspose_argument_error")
  expect_error(m(x2, output_size = c(11, NA)), class = "convtranspose_argument_error")
  expect_error(m(x2, output_size = c(9, 11)), "between 9 and 10, not 11",
               class = "convtranspose_shape_error")
  expect_error(m(x2, output_size = c(8, 9)), "in dimension 1 .* between 9 and 10, not 8",
               class = "convtranspose_shape_error")
})

test_that("results too large to represent or allocate are refused before allocating", {
  x <- array(1, c(1, 1, 2, 2, 2))
  w <- array(1, c(1, 1, 1, 1, 1))
  expect_error(nnf_conv_transpose3d(x, w, stride = 1e9), "more than an R array can hold",
               class = "convtranspose_size_error")
  expect_error(nnf_conv_transpose1d(array(1, c(1, 1, 3)), array(1, c(1, 1, 1)), stride = 2e9),
               "beyond R's limit", class = "convtranspose_size_error")
  expect_error(nnf_conv_transpose2d(array(1, c(1, 1, 2, 2)), array(1, c(1, 1, 1, 1)),
                                    stride = 1e6), "need 7.3 TB", class = "convtranspose_size_error")
  withr_options <- options(convtranspose.max_memory = 1000)
  on.exit(options(withr_options))
  expect_error(nnf_conv_transpose1d(x1, w1, stride = 20), "convtranspose.max_memory",
               class = "convtranspose_size_error")
})

test_that("unknown devices and dtypes are refused", {
  expect_error(nnf_conv_transpose1d(x1, w1, device = "tpu"), "`device` must be",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(x1, w1, device = "cuda:x"), "`device` must be",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(x1, w1, dtype = "int32"), "`dtype` must be",
               class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(x1, w1, dtype = c("float32", "float64")),
               class = "convtranspose_argument_error")
  # a device that cannot exist on any machine
  expect_error(nnf_conv_transpose1d(x1, w1, device = "cuda:4096"),
               class = "convtranspose_device_error")
})

test_that("CUDA is refused with a device error where none can be used", {
  skip_if(cvt_cuda_is_available(), "a CUDA device is available (test-cuda.R covers it)")
  why <- if (convtranspose:::cuda_info()$built) "no CUDA GPU or driver" else "no CUDA support"
  expect_error(nnf_conv_transpose1d(x1, w1, device = "cuda"), why,
               class = "convtranspose_device_error")
  expect_error(nn_conv_transpose1d(4, 4, 3, device = "cuda:1"), why,
               class = "convtranspose_device_error")
  old <- options(convtranspose.device = "cuda")
  on.exit(options(old))
  expect_error(nnf_conv_transpose1d(x1, w1), class = "convtranspose_device_error")
  expect_identical(dim(nnf_conv_transpose1d(x1, w1, device = "cpu")), c(2L, 3L, 7L))
})

test_that("the dtype option is read at each call", {
  old <- options(convtranspose.dtype = "float32")
  on.exit(options(old))
  single <- nnf_conv_transpose1d(x1, w1)
  double <- nnf_conv_transpose1d(x1, w1, dtype = "float64")
  expect_false(identical(single, double))
  expect_close(single, double, 1e-5)
})

test_that("messages show a long value's first entries and its length, not a made-up range", {
  m <- nn_conv_transpose1d(2, 3, 3)
  expect_error(m(1:10), "c\\(1, 2, 3, 4, 5, 6, \\.\\.\\.\\) \\(length 10\\)",
               class = "convtranspose_argument_error")
  expect_error(nn_conv_transpose2d(2, 3, 3, stride = c(2, 2, 2, 2, 2, 2, 2)),
               "c\\(2, 2, 2, 2, 2, 2, \\.\\.\\.\\) \\(length 7\\)",
               class = "convtranspose_argument_error")
})
