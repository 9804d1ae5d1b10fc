test_that("the documentation's examples run with R arrays", {
  m <- nn_conv_transpose2d(16, 33, 3, stride = 2)
  expect_s3_class(m, "nn_conv_transpose2d")
  m <- nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))
  output <- m(array(rnorm(20 * 16 * 50 * 100), c(20, 16, 50, 100)))
  expect_identical(dim(output), c(20L, 33L, 93L, 100L))
  m <- nn_conv_transpose1d(32, 16, 2)
  expect_identical(dim(m(array(rnorm(10 * 32 * 2), c(10, 32, 2)))), c(10L, 16L, 3L))
})

test_that("weights and bias have torch's shapes and U(-sqrt(k), sqrt(k)) initialisation", {
  set.seed(1)
  m <- nn_conv_transpose2d(40, 60, c(2, 3), groups = 2)
  expect_identical(dim(m$weight), c(40L, 30L, 2L, 3L))
  expect_length(m$bias, 60)
  bound <- sqrt(2 / (60 * 6))
  expect_true(all(abs(m$weight) <= bound))
  expect_gt(max(abs(m$weight)), 0.99 * bound)    # 7200 draws fill the interval
  expect_lt(abs(mean(m$weight)), 0.05 * bound)
  expect_true(all(abs(m$bias) <= bound))
  set.seed(1)
  again <- nn_conv_transpose2d(40, 60, c(2, 3), groups = 2)
  expect_identical(again$weight, m$weight)
  expect_identical(again$bias, m$bias)
  expect_null(nn_conv_transpose3d(2, 2, 2, bias = FALSE)$bias)
})

test_that("the module computes the functional form with its own parameters", {
  set.seed(2)
  m <- nn_conv_transpose3d(4, 6, c(2, 3, 2), stride = c(2, 1, 3), padding = c(0, 1, 1),
                           output_padding = c(1, 0, 2), groups = 2, dilation = c(1, 2, 1))
  x <- array(rnorm(2 * 4 * 3 * 4 * 2), c(2, 4, 3, 4, 2))
  y <- m(x)
  expect_identical(y, nnf_conv_transpose3d(x, m$weight, m$bias, stride = c(2, 1, 3),
                                           padding = c(0, 1, 1), output_padding = c(1, 0, 2),
                                           groups = 2, dilation = c(1, 2, 1)))
  expect_close(y, reference_conv_transpose(x, m$weight, m$bias, c(2, 1, 3), c(0, 1, 1),
                                           c(1, 0, 2), 2, c(1, 2, 1)), 1e-12)
  expect_identical(m$forward(x), y)
})

test_that("hyperparameters are readable and read-only", {
  m <- nn_conv_transpose2d(4, 6, 3, stride = c(2, 1), padding = 1, groups = 2, dilation = 2)
  expect_identical(m$in_channels, 4L)
  expect_identical(m$out_channels, 6L)
  expect_identical(m$kernel_size, c(3L, 3L))
  expect_identical(m$stride, c(2L, 1L))
  expect_identical(m$padding, c(1L, 1L))
  expect_identical(m$output_padding, c(0L, 0L))
  expect_identical(m$groups, 2L)
  expect_identical(m$dilation, c(2L, 2L))
  expect_identical(m$padding_mode, "zeros")
  expect_identical(m$device, "cpu")
  expect_identical(m$dtype, "float64")
  expect_identical(m[["groups"]], 2L)
  expect_named(m$parameters, c("weight", "bias"))
  expect_true(all(c("weight", "bias", "stride", "forward") %in% names(m)))
  expect_error(m$stride <- 3, "cannot be set", class = "convtranspose_argument_error")
  expect_error(m$nonsense, "has no field `nonsense`", class = "convtranspose_argument_error")
})

test_that("weight and bias can be replaced, with their shapes checked", {
  m <- nn_conv_transpose1d(2, 3, 2)
  m$weight <- array(1, c(2, 3, 2))
  m$bias <- c(1, 2, 3)
  y <- m(array(1, c(1, 2, 2)))
  expect_equal(y[1, , ], rbind(c(3, 5, 3), c(4, 6, 4), c(5, 7, 5)))
  m[["bias"]] <- NULL
  expect_null(m$bias)
  m$weight <- array(1L, c(2, 3, 2))  # integers are taken as double
  expect_true(is.double(m$weight))
  expect_error(m$weight <- array(1, c(3, 2, 2)), "must have dim c\\(2, 3, 2\\)",
               class = "convtranspose_shape_error")
  expect_error(m$weight <- "a", class = "convtranspose_argument_error")
  expect_error(m$bias <- 1:2, "length 3", class = "convtranspose_shape_error")
})

test_that("print shows the class, non-default hyperparameters and the parameter count", {
  m <- nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))
  expect_output(print(m), "An `nn_conv_transpose2d` module")
  expect_output(print(m),
                "nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))",
                fixed = TRUE)
  expect_output(print(m), "Parameters: 7,953", fixed = TRUE)
  m <- nn_conv_transpose1d(4, 4, 3, groups = 2, bias = FALSE, dilation = 2, dtype = "float32")
  expect_output(print(m), "groups = 2, dilation = 2, bias = FALSE, dtype = \"float32\"",
                fixed = TRUE)
  expect_identical(format(nn_conv_transpose3d(1, 1, 2)), "nn_conv_transpose3d(1, 1, 2)")
})

test_that("a module survives saveRDS()/readRDS() with its weights", {
  m <- nn_conv_transpose2d(3, 2, 2, stride = 2)
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(m, path)
  m2 <- readRDS(path)
  x <- array(rnorm(3 * 4 * 4), c(1, 3, 4, 4))
  expect_identical(m2$weight, m$weight)
  expect_identical(m2(x), m(x))
})

test_that("a float32 module computes in single precision", {
  set.seed(3)
  m <- nn_conv_transpose2d(8, 8, 3, stride = 2, dtype = "float32")
  x <- array(rnorm(2 * 8 * 5 * 5), c(2, 8, 5, 5))
  ref <- nnf_conv_transpose2d(x, m$weight, m$bias, stride = 2)
  expect_false(identical(m(x), ref))
  expect_close(m(x), ref, 1e-5)
})
