# Going past one process: forked workers, PSOCK clusters, serialisation, and
# a steady memory footprint.

test_that("forked workers (mclapply) that call the package after the parent did don't deadlock", {
  skip_on_os("windows")
  set.seed(31)
  x <- array(rnorm(8 * 32 * 16 * 16), c(8, 32, 16, 16))
  w <- array(rnorm(32 * 16 * 16), c(32, 16, 4, 4))
  parent <- nnf_conv_transpose2d(x, w, stride = 2)  # multi-threaded: the pool now exists
  results <- parallel::mclapply(1:2, function(i) nnf_conv_transpose2d(x, w, stride = 2),
                                mc.cores = 2)
  for (r in results) expect_equal(r, parent, tolerance = 1e-13)
  child_threads <- parallel::mclapply(1:2, function(i) cvt_get_num_threads(), mc.cores = 2)
  expect_identical(unlist(child_threads), c(1L, 1L))
})

test_that("a module shipped to PSOCK workers gives the same result as one call", {
  set.seed(32)
  m <- nn_conv_transpose2d(4, 3, 3, stride = 2, padding = 1)
  x <- array(rnorm(6 * 4 * 5 * 5), c(6, 4, 5, 5))
  cl <- parallel::makeCluster(2)
  on.exit(parallel::stopCluster(cl))
  parallel::clusterEvalQ(cl, library(convtranspose))
  halves <- split(seq_len(6), rep(1:2, each = 3))
  parts <- parallel::parLapply(cl, halves,
                               function(rows, module, input) module(input[rows, , , , drop = FALSE]),
                               module = m, input = x)
  whole <- m(x)
  expect_equal(parts[[1]], whole[1:3, , , , drop = FALSE], tolerance = 1e-14)
  expect_equal(parts[[2]], whole[4:6, , , , drop = FALSE], tolerance = 1e-14)
})

test_that("memory stays steady over 10,000 small calls", {
  skip_if_not(file.exists("/proc/self/status"))
  skip_if(nzchar(Sys.getenv("CONVTRANSPOSE_SANITIZER")), "RSS is the sanitizer's quarantine")
  rss_kb <- function() {
    line <- grep("^VmRSS:", readLines("/proc/self/status"), value = TRUE)
    as.numeric(gsub("[^0-9]", "", line))
  }
  x <- array(rnorm(2 * 3 * 5 * 5), c(2, 3, 5, 5))
  m <- nn_conv_transpose2d(3, 4, 3, stride = 2)
  for (i in 1:2000) m(x)
  invisible(gc())
  before <- rss_kb()
  for (i in 1:10000) {
    y <- m(x)
    g <- m$backward(y, x)
  }
  invisible(gc())
  expect_lt(rss_kb() - before, 20 * 1024)  # KB: no growth per call
})

test_that("an allocation failure inside the C++ core is a classed R error, not a crash", {
  skip_on_os("windows")
  skip_if_not(nzchar(Sys.which("sh")))
  skip_if(nzchar(Sys.getenv("CONVTRANSPOSE_SANITIZER")), "address-space limits break the sanitizers")
  dir <- tempfile("alloc")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  script <- file.path(dir, "child.R")
  out <- file.path(dir, "out")
  # The result (2 x 11001 x 12001 doubles, 2.1 GB) is allocated by R but not
  # yet touched; the sample-major working copy of the same size that the core
  # then needs does not fit under the 3 GB address-space limit of the child.
  writeLines(c(
    "library(convtranspose)",
    "options(convtranspose.max_memory = Inf)",
    "x <- array(1, c(2, 1, 2, 2)); w <- array(1, c(1, 1, 1, 1))",
    "r <- tryCatch({nnf_conv_transpose2d(x, w, stride = c(11000, 12000)); 'computed'},",
    "  convtranspose_error = function(e) paste(class(e)[1], conditionMessage(e)),",
    "  error = function(e) paste('unclassed', conditionMessage(e)))",
    "ok <- dim(nnf_conv_transpose1d(array(1, c(1, 1, 3)), array(1, c(1, 1, 2))))",
    sprintf("writeLines(c(r, paste(ok, collapse = ' ')), %s)", deparse(out))
  ), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  status <- system(sprintf("ulimit -v 3000000 && %s --vanilla %s", shQuote(rscript),
                           shQuote(script)), ignore.stdout = TRUE, ignore.stderr = TRUE)
  expect_identical(status, 0L)
  lines <- readLines(out)
  expect_match(lines[1], "^convtranspose_(size|native)_error")
  expect_identical(lines[2], "1 1 4")
})
