# Bringing weights from PyTorch: safetensors files, state dicts, weight
# normalisation. Expected values come from tools/make-fixtures.py (PyTorch).

fixture <- function(name) test_path("fixtures", name)
extdata <- function(name) {
  path <- system.file("extdata", name, package = "convtranspose")
  if (!nzchar(path)) path <- test_path("..", "..", "inst", "extdata", name)
  path
}

test_that("safetensors files written from PyTorch read back with PyTorch's dims and values", {
  got <- cvt_read_safetensors(fixture("tensors.safetensors"))
  want <- dget(fixture("tensors-expected.R"))
  expect_identical(names(got), names(want))
  for (name in names(want)) {
    value <- want[[name]]$value
    storage.mode(value) <- want[[name]]$storage
    expect_identical(got[[name]], value, label = name)
  }
  expect_identical(attr(got, "metadata"),
                   list(format = "pt", source = "tools/make-fixtures.py"))
  # R's index meaning is torch's: w5d[1, 1, 3, 2, 1] is torch's w5d[0, 0, 2, 1, 0]
  expect_identical(dim(got$w5d), c(2L, 1L, 3L, 2L, 2L))
})

test_that("the writer makes the bytes PyTorch's side was checked against, and round-trips", {
  a <- aperm(array((0:23) / 8, c(4, 3, 2)), 3:1)
  tensors <- list(a = a, b = c(1L, -2L, 3L), c = c(TRUE, FALSE), d = a / 3)
  path <- tempfile(fileext = ".safetensors")
  on.exit(unlink(path))
  cvt_write_safetensors(tensors, path, dtype = c(d = "F32"),
                        metadata = list(written_by = "convtranspose"))
  # r-written.safetensors was read by tools/make-fixtures.py from the
  # format's specification, with PyTorch, and held these tensors
  expect_identical(readBin(path, "raw", 1e5),
                   readBin(fixture("r-written.safetensors"), "raw", 1e5))
  back <- cvt_read_safetensors(path)
  expect_identical(back$a, a)
  expect_identical(back$b, array(c(1L, -2L, 3L), 3L))
  expect_identical(back$c, array(c(TRUE, FALSE), 2L))
  expect_equal(back$d, a / 3, tolerance = 1e-7)
  expect_false(identical(back$d, a / 3))  # F32: rounded to single precision
  # every rank, empty tensors, and F32 for all
  many <- list(s = 2.5, v = rnorm(3), m = matrix(rnorm(6), 2),
               e = array(numeric(0), c(0, 4)), w = array(rnorm(2 * 3 * 2 * 2), c(2, 3, 2, 2)))
  cvt_write_safetensors(many, path)
  back <- cvt_read_safetensors(path)
  expect_identical(back$m, many$m)
  expect_identical(back$w, many$w)
  expect_identical(dim(back$e), c(0L, 4L))
  expect_identical(back$s, array(2.5, 1L))
  expect_identical(as.vector(back$v), many$v)
  cvt_write_safetensors(many, path, dtype = "F32")
  expect_equal(cvt_read_safetensors(path)$w, many$w, tolerance = 1e-7)
  # bad arguments
  expect_error(cvt_write_safetensors(list(1, 2), path), class = "convtranspose_argument_error")
  expect_error(cvt_write_safetensors(list(a = "x"), path), class = "convtranspose_argument_error")
  expect_error(cvt_write_safetensors(list(a = 1), path, dtype = "F16"),
               class = "convtranspose_argument_error")
  expect_error(cvt_write_safetensors(list(a = c(TRUE, NA)), path), "NA values",
               class = "convtranspose_argument_error")
})

# A file from raw pieces: the 8-byte header length, the header text, data.
write_raw_safetensors <- function(path, header, data = raw(0), declared = nchar(header, "bytes")) {
  con <- file(path, "wb")
  on.exit(close(con))
  low <- declared %% 2^32
  writeBin(c(as.integer(if (low >= 2^31) low - 2^32 else low), as.integer(declared %/% 2^32)),
           con, size = 4L, endian = "little")
  writeBin(charToRaw(header), con)
  writeBin(data, con)
}

test_that("hostile or broken safetensors files give a classed error and read nothing", {
  path <- tempfile(fileext = ".safetensors")
  on.exit(unlink(path))
  bad <- function(pattern) {
    expect_error(cvt_read_safetensors(path), pattern, class = "convtranspose_format_error")
  }
  eight <- writeBin(rep(1, 8), raw(), size = 8L, endian = "little")
  ok <- '{"x":{"dtype":"F64","shape":[2,4],"data_offsets":[0,64]}}'
  write_raw_safetensors(path, ok, eight)
  expect_identical(dim(cvt_read_safetensors(path)$x), c(2L, 4L))
  writeBin(as.raw(1:5), path)
  bad("shorter than the 8-byte header size")
  write_raw_safetensors(path, ok, eight, declared = 2^40)  # header length past the file
  bad("the header declares")
  entry <- function(name, dtype, shape, begin, end) {
    sprintf('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%s,%s]}', name, dtype, shape,
            begin, end)
  }
  object <- function(...) paste0("{", paste(..., sep = ","), "}")
  hostile <- list(
    c('{"x": {"dtype": "F64", ', "not valid JSON"),
    c("[1, 2, 3]", "not a JSON object"),
    c(object(entry("x", "Q7", "2,4", 0, 64)), "unknown or unsupported dtype \"Q7\""),
    c(object(entry("x", "F64", "2,4", 0, 72)), "go past the end"),
    c(object(entry("x", "F64", "2,5", 0, 64)), "needs 80 bytes"),
    c(object(entry("x", "F64", "4", 0, 32), entry("y", "F64", "4", 24, 56)),
      "tensors 'x' and 'y' overlap"),
    # huge declared sizes are refused from the header alone, before any allocation
    c(object(entry("x", "F64", "100000000000,100000000000", 0, 64)), "needs"),
    c(object(entry("x", "F64", "8000000000000", 0, "64000000000000")), "go past the end"),
    c(object(entry("x", "F64", "-1", 0, 8)), "shape is not a list of non-negative integers"),
    c(object(entry("x", "F64", "1", 8, 0)), "end before they begin"),
    c(object(entry("x", "F64", "1", 0, 8), entry("x", "F64", "1", 8, 16)), "appears twice"))
  for (case in hostile) {
    write_raw_safetensors(path, case[1], eight)
    bad(case[2])
  }
  expect_error(cvt_read_safetensors(tempfile()), class = "convtranspose_argument_error")
})

test_that("cvt_weight_norm() gives PyTorch's weight from weight_g and weight_v", {
  for (case in dget(fixture("weight-norm-pytorch.R"))) {
    got <- cvt_weight_norm(case$g, case$v, dim = case$dim)
    expect_close(got, case$expected, 1e-12)
  }
  v <- array(rnorm(24), c(4, 2, 3))
  expect_error(cvt_weight_norm(1:3, v), "`g` has 3 values", class = "convtranspose_shape_error")
  expect_error(cvt_weight_norm(1:4, v, dim = 4), class = "convtranspose_argument_error")
  expect_error(cvt_weight_norm(1:4, v, dim = NULL), class = "convtranspose_shape_error")
})

test_that("state_dict() and load_state_dict() move parameters by PyTorch's names", {
  set.seed(3)
  m <- nn_conv_transpose2d(4, 6, 3, stride = 2, groups = 2)
  sd <- m$state_dict()
  expect_identical(names(sd), c("weight", "bias"))
  expect_identical(dim(sd$weight), c(4L, 3L, 3L, 3L))
  n <- nn_conv_transpose2d(4, 6, 3, stride = 2, groups = 2)
  expect_false(identical(n$weight, m$weight))
  # a whole model's state dict: the layer's entries by prefix
  model <- list(ups.0.weight = sd$weight, ups.0.bias = sd$bias, ups.1.weight = array(0, c(2, 2)),
                conv_post.bias = 1)
  expect_identical(n$load_state_dict(model, prefix = "ups.0."), n)
  expect_identical(n$weight, m$weight)
  expect_identical(n$bias, m$bias)
  # nothing changes when any entry is wrong
  before <- n$state_dict()
  wrong_bias <- list(weight = sd$weight + 1, bias = 1:5)
  expect_error(n$load_state_dict(wrong_bias), "entry \"bias\" has shape 5",
               class = "convtranspose_shape_error")
  expect_identical(n$state_dict(), before)
  expect_error(n$load_state_dict(list(ups.0.weight = array(0, c(4, 3, 3, 2)),
                                      ups.0.bias = sd$bias), prefix = "ups.0."),
               "\"ups.0.weight\" has shape c\\(4, 3, 3, 2\\)", class = "convtranspose_shape_error")
  expect_error(n$load_state_dict(list(weight = sd$weight)), "no entry \"bias\"",
               class = "convtranspose_shape_error")
  expect_error(n$load_state_dict(list(weight = sd$weight, bias = sd$bias, running_mean = 0)),
               "unexpected entry \"running_mean\"", class = "convtranspose_shape_error")
  expect_error(n$load_state_dict(list(weight = "a", bias = sd$bias)),
               "\"weight\" must be a numeric array", class = "convtranspose_argument_error")
  expect_error(n$load_state_dict(sd$weight), class = "convtranspose_argument_error")
  expect_error(n$load_state_dict(list(weight = sd$weight, bias = sd$bias, extra = 1, extra = 2,
                                      weight = sd$weight), strict = FALSE),
               "entry \"weight\" twice", class = "convtranspose_shape_error")
  expect_identical(n$state_dict(), before)
  # strict = FALSE: what matches is taken, the rest ignored
  n$load_state_dict(list(weight = sd$weight * 2, extra = 1), strict = FALSE)
  expect_identical(n$weight, sd$weight * 2)
  expect_identical(n$bias, before$bias)
  # a module without bias has no bias entry, and refuses one when strict
  nb <- nn_conv_transpose2d(4, 6, 3, groups = 2, bias = FALSE)
  expect_identical(names(nb$state_dict()), "weight")
  expect_error(nb$load_state_dict(sd), "unexpected entry \"bias\"",
               class = "convtranspose_shape_error")
  # convolution modules too
  conv <- nn_conv1d(3, 5, 2)
  other <- nn_conv1d(3, 5, 2)
  other$load_state_dict(conv$state_dict())
  expect_identical(other$parameters, conv$parameters)
  # the module stays a closure over plain R values
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(n, path)
  expect_identical(readRDS(path)$state_dict(), n$state_dict())
})

test_that("reset_parameters() redraws as at creation and to() takes dtype, then device", {
  set.seed(9)
  m <- nn_conv_transpose1d(3, 4, 5, groups = 1)
  first <- m$state_dict()
  m$weight <- m$weight * 0
  set.seed(9)
  expect_identical(m$reset_parameters(), m)
  expect_identical(m$state_dict(), first)
  bound <- sqrt(1 / (4 * 5))
  m$reset_parameters()
  expect_true(all(abs(m$weight) <= bound) && all(abs(m$bias) <= bound))
  expect_false(identical(m$state_dict(), first))
  expect_identical(m$to("float32")$dtype, "float32")
  expect_identical(m$to(dtype = "float64", device = "cpu")$dtype, "float64")
  expect_identical(m$to(device = "cpu")$device, "cpu")
  expect_identical(m$to("cpu")$device, "cpu")   # a device given first is the device
  expect_error(m$to("float16"), class = "convtranspose_argument_error")
  if (!cvt_cuda_is_available()) {
    expect_error(m$to("float32", "cuda"), class = "convtranspose_device_error")
    expect_identical(m$dtype, "float64")  # nothing changed when either is wrong
  }
})

test_that("a DCGAN-style generator saved from PyTorch gives PyTorch's output and gradients", {
  state <- cvt_read_safetensors(extdata("dcgan-generator.safetensors"))
  ref <- cvt_read_safetensors(extdata("dcgan-reference.safetensors"))
  layers <- list(nn_conv_transpose2d(8, 16, 4, 1, 0, bias = FALSE),
                 nn_conv_transpose2d(16, 8, 4, 2, 1),
                 nn_conv_transpose2d(8, 3, 4, 2, 1))
  for (i in seq_along(layers)) layers[[i]]$load_state_dict(state, prefix = sprintf("main.%d.", 2 * (i - 1)))
  relu <- function(x) pmax(x, 0)
  h1 <- layers[[1]](ref$z)
  h2 <- layers[[2]](relu(h1))
  y <- layers[[3]](relu(h2))
  expect_close(y, ref$output, 1e-12)
  # backward by hand through the ReLUs: the gradient of sum(y * grad_output)
  g3 <- layers[[3]]$backward(ref$grad_output, relu(h2))
  g2 <- layers[[2]]$backward(g3$input * (h2 > 0), relu(h1))
  g1 <- layers[[1]]$backward(g2$input * (h1 > 0), ref$z)
  expect_close(g2$weight, ref$`grad_main.2.weight`, 1e-12)
  expect_close(array(g2$bias, length(g2$bias)), ref$`grad_main.2.bias`, 1e-12)
  expect_close(g1$weight, ref$`grad_main.0.weight`, 1e-12)
  expect_null(g1$bias)
})
