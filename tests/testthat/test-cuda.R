# The CUDA backend. The first tests run everywhere; the rest need a GPU and
# compare device = "cuda" with the CPU path (itself checked against PyTorch
# and the reference), skipped with a message where no GPU can be used.

skip_without_gpu <- function() {
  info <- convtranspose:::cuda_info()
  why <- if (!isTRUE(info$built)) "this build has no CUDA backend (nvcc/cuDNN absent at install)"
  else paste0("no CUDA device on this machine",
              if (nzchar(info$message)) paste0(" (", info$message, ")") else "")
  skip_if_not(cvt_cuda_is_available(), why)
}

test_that("CUDA availability is reported without errors", {
  available <- cvt_cuda_is_available()
  count <- cvt_cuda_device_count()
  expect_true(is.logical(available) && length(available) == 1L && !is.na(available))
  expect_true(is.integer(count) && length(count) == 1L && count >= 0L)
  expect_identical(available, count > 0L)
})

test_that("m$to() changes where and how a module computes, and checks its arguments", {
  set.seed(3)
  m <- nn_conv_transpose2d(2, 3, 3, stride = 2)
  x <- array(rnorm(2 * 2 * 4 * 4), c(2, 2, 4, 4))
  y64 <- m(x)
  expect_identical(m$to(dtype = "float32"), m)
  expect_identical(m$dtype, "float32")
  expect_match(format(m), "dtype = \"float32\"")
  expect_equal(m(x), y64, tolerance = 1e-5)
  m$to(device = "cpu", dtype = "float64")
  expect_identical(m(x), y64)
  expect_error(m$to(device = "tpu"), class = "convtranspose_argument_error")
  expect_error(m$to(dtype = "int8"), class = "convtranspose_argument_error")
  expect_error(m$to(device = "cuda:4096"), class = "convtranspose_device_error")
  expect_identical(m$device, "cpu")
  expect_true("to" %in% names(m))
})

test_that("the CUDA options are checked at each call", {
  skip_without_gpu()
  old <- options(convtranspose.cudnn_benchmark = NA)
  on.exit(options(old))
  expect_error(nnf_conv_transpose1d(array(1, c(1, 1, 3)), array(1, c(1, 1, 2)), device = "cuda"),
               "convtranspose.cudnn_benchmark", class = "convtranspose_argument_error")
})

# Runs one random configuration on the CPU and on the GPU, forward and
# backward, for both layers, and compares.
compare_with_cpu <- function(cfg, dtype, tol) {
  data <- config_data(cfg)
  f <- transpose_fn(cfg$rank)
  args <- list(stride = cfg$s, padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
               dilation = cfg$d, dtype = dtype)
  run <- function(device) do.call(f, c(list(data$input, data$weight, data$bias), args,
                                       list(device = device)))
  label <- paste(deparse(cfg[c("rank", "groups", "k", "s", "d", "p", "op", "size", "batch",
                               "unbatched")]), collapse = "")
  y_cpu <- run("cpu")
  y_gpu <- run("cuda")
  expect_close(y_gpu, y_cpu, tol)
  back <- get(sprintf("nnf_conv_transpose%dd_backward", cfg$rank))
  grad <- array(rnorm(length(y_cpu)), dim(y_cpu))
  run_back <- function(device) do.call(back, c(list(grad, data$input, data$weight), args,
                                               list(device = device)))
  g_cpu <- run_back("cpu")
  g_gpu <- run_back("cuda")
  expect_close(g_gpu$input, g_cpu$input, tol)
  expect_close(g_gpu$weight, g_cpu$weight, tol)
  expect_close(g_gpu$bias, g_cpu$bias, tol)
  invisible(label)
}

test_that("CUDA agrees with the CPU on random transposed convolutions (float64)", {
  skip_without_gpu()
  set.seed(101)
  for (i in 1:60) compare_with_cpu(random_config(), "float64", 1e-10)
})

test_that("CUDA agrees with the CPU in float32 with TF32 off", {
  skip_without_gpu()
  old <- options(convtranspose.allow_tf32 = FALSE)
  on.exit(options(old))
  set.seed(102)
  for (i in 1:30) compare_with_cpu(random_config(), "float32", 1e-4)
})

test_that("CUDA runs what cuDNN refuses: output_padding >= stride (with dilation)", {
  skip_without_gpu()
  set.seed(103)
  x <- array(rnorm(2 * 3 * 5 * 4), c(2, 3, 5, 4))
  w <- array(rnorm(3 * 2 * 3 * 2), c(3, 2, 3, 2))
  args <- list(x, w, rnorm(2), stride = 1, padding = 1, output_padding = c(2, 1), dilation = 3)
  expect_close(do.call(nnf_conv_transpose2d, c(args, device = "cuda")),
               do.call(nnf_conv_transpose2d, c(args, device = "cpu")), 1e-10)
})

test_that("CUDA convolutions (nn_conv*d) agree with the CPU, every padding mode", {
  skip_without_gpu()
  set.seed(104)
  for (mode in c("zeros", "reflect", "replicate", "circular")) {
    for (rank in 1:3) {
      m <- get(sprintf("nn_conv%dd", rank))(4, 6, 3, padding = if (mode == "zeros") "same" else 1,
                                            groups = 2, padding_mode = mode)
      x <- array(rnorm(2 * 4 * 7^rank), c(2, 4, rep(7, rank)))
      y <- m(x)
      grad <- array(rnorm(length(y)), dim(y))
      g_cpu <- m$backward(grad, x)
      m$to(device = "cuda")
      expect_close(m(x), y, 1e-10)
      g_gpu <- m$backward(grad, x)
      expect_close(g_gpu$input, g_cpu$input, 1e-10)
      expect_close(g_gpu$weight, g_cpu$weight, 1e-10)
      expect_close(g_gpu$bias, g_cpu$bias, 1e-10)
    }
  }
})

test_that("CUDA handles arrays larger than the staging buffers, zero batch and cuda:N", {
  skip_without_gpu()
  set.seed(105)
  x <- array(rnorm(3 * 16 * 200 * 150), c(3, 16, 200, 150))  # 11.5 MB
  w <- array(rnorm(16 * 8 * 4 * 4), c(16, 8, 4, 4))
  expect_close(nnf_conv_transpose2d(x, w, stride = 2, padding = 1, device = "cuda:0"),
               nnf_conv_transpose2d(x, w, stride = 2, padding = 1), 1e-10)
  empty <- array(0, c(0, 16, 5, 5))
  expect_identical(dim(nnf_conv_transpose2d(empty, w, device = "cuda")), c(0L, 8L, 8L, 8L))
  g <- nnf_conv_transpose2d_backward(array(0, c(0, 8, 8, 8)), empty, w, device = "cuda")
  expect_identical(g$weight, array(0, dim(w)))
  n <- cvt_cuda_device_count()
  expect_error(nnf_conv_transpose2d(x, w, device = sprintf("cuda:%d", n)),
               "does not exist", class = "convtranspose_device_error")
})

test_that("deterministic mode repeats bit for bit; benchmark mode agrees", {
  skip_without_gpu()
  set.seed(106)
  x <- array(rnorm(8 * 32 * 16 * 16), c(8, 32, 16, 16))
  w <- array(rnorm(32 * 16 * 4 * 4), c(32, 16, 4, 4))
  grad <- array(rnorm(8 * 16 * 32 * 32), c(8, 16, 32, 32))
  old <- options(convtranspose.cudnn_deterministic = TRUE)
  on.exit(options(old))
  runs <- lapply(1:3, function(i) {
    nnf_conv_transpose2d_backward(grad, x, w, stride = 2, padding = 1, device = "cuda")
  })
  expect_identical(runs[[2]], runs[[1]])
  expect_identical(runs[[3]], runs[[1]])
  options(convtranspose.cudnn_deterministic = FALSE, convtranspose.cudnn_benchmark = TRUE)
  for (i in 1:2) {
    y <- nnf_conv_transpose2d(x, w, stride = 2, padding = 1, device = "cuda")
    expect_close(y, nnf_conv_transpose2d(x, w, stride = 2, padding = 1), 1e-10)
  }
})

test_that("1000 CUDA calls leave the device memory in use unchanged", {
  skip_without_gpu()
  set.seed(107)
  m <- nn_conv_transpose2d(8, 4, 3, stride = 2, device = "cuda")
  x <- array(rnorm(4 * 8 * 20 * 20), c(4, 8, 20, 20))
  y <- m(x)
  m$backward(y, x)  # buffers and handles for every operation exist now
  before <- convtranspose:::.ct_cuda_memory(0L)
  for (i in 1:1000) y <- m(x)
  for (i in 1:20) m$backward(y, x)
  after <- convtranspose:::.ct_cuda_memory(0L)
  expect_identical(after[["cached"]], before[["cached"]])
  expect_identical(after[["in_use"]], before[["in_use"]])
})

test_that("cvt_cuda_last_paths() has its columns before any CUDA call", {
  p <- cvt_cuda_last_paths()
  expect_s3_class(p, "data.frame")
  expect_identical(names(p), c("operation", "path", "algorithm", "math", "reason"))
  if (!cvt_cuda_is_available()) expect_identical(nrow(p), 0L)
})

test_that("ordinary layers of the benchmark suite run on cuDNN, in both dtypes", {
  skip_without_gpu()
  old <- options(convtranspose.allow_tf32 = FALSE)
  on.exit(options(old))
  suite <- utils::read.delim(test_path("..", "..", "bench", "bench-suite.tsv"),
                             stringsAsFactors = FALSE)
  ints <- function(v) as.integer(strsplit(as.character(v), ",")[[1]])
  fns <- list(nnf_conv_transpose1d, nnf_conv_transpose2d, nnf_conv_transpose3d)
  backs <- list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
                nnf_conv_transpose3d_backward)
  for (name in c("dcgan_g3", "unet_up3", "hifigan_up1", "vol_up", "grouped")) {
    r <- suite[suite$name == name, ]
    if (!nrow(r)) next
    size <- ints(r$input_size)
    k <- ints(r$kernel_size)
    x <- array(rnorm(2 * r$in_channels * prod(size)), c(2, r$in_channels, size))
    w <- array(rnorm(r$in_channels * r$out_channels / r$groups * prod(k)),
               c(r$in_channels, r$out_channels / r$groups, k))
    args <- list(stride = ints(r$stride), padding = ints(r$padding),
                 output_padding = ints(r$output_padding), groups = r$groups,
                 dilation = ints(r$dilation), device = "cuda")
    for (dtype in c("float64", "float32")) {
      y <- do.call(fns[[r$nd]], c(list(x, w), args, dtype = dtype))
      do.call(backs[[r$nd]], c(list(array(rnorm(length(y)), dim(y)), x, w), args, dtype = dtype))
      p <- cvt_cuda_last_paths()
      expect_identical(sort(p$operation), c("coarse_to_fine", "fine_to_coarse", "weight_gradient"))
      expect_true(all(p$path == "cudnn"),
                  label = paste(name, dtype, paste(p$operation, p$path, p$reason, collapse = "; ")))
      # float32 without TF32: FMA math, as PyTorch requires there
      if (dtype == "float32") expect_true(all(p$math == "fma"), label = paste(name, p$math))
    }
  }
  # and what cuDNN cannot describe runs on our kernel, saying why
  x <- array(rnorm(2 * 3 * 5 * 4), c(2, 3, 5, 4))
  nnf_conv_transpose2d(x, array(rnorm(3 * 2 * 3 * 2), c(3, 2, 3, 2)), stride = 1, padding = 1,
                       output_padding = c(2, 1), dilation = 3, device = "cuda")
  p <- cvt_cuda_last_paths()
  row <- p[p$operation == "coarse_to_fine", ]
  expect_identical(row$path, "direct")
  expect_match(row$reason, "output_padding >= stride")
})
