test_that("thread control respects limits and can be reset", {
  on.exit(cvt_set_num_threads(NULL))
  default <- cvt_get_num_threads()
  expect_true(default >= 1)
  if (nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_"))) expect_lte(default, 2)
  old <- cvt_set_num_threads(1)
  expect_null(old)  # the previous setting: the default
  expect_identical(cvt_get_num_threads(), 1L)
  expect_identical(cvt_set_num_threads(old), 1L)
  expect_identical(cvt_get_num_threads(), default)
  # a setting restored is the setting, not the count it gave
  cvt_set_num_threads(2)
  two <- cvt_get_num_threads()
  inner <- cvt_set_num_threads(1)
  expect_identical(inner, 2L)
  cvt_set_num_threads(inner)
  expect_identical(cvt_get_num_threads(), two)
  cvt_set_num_threads(NULL)
  expect_identical(cvt_get_num_threads(), default)
  expect_error(cvt_set_num_threads(0), class = "convtranspose_argument_error")
  expect_error(cvt_set_num_threads("two"), class = "convtranspose_argument_error")
  old <- options(Ncpus = 1)
  on.exit(options(old), add = TRUE)
  expect_identical(cvt_get_num_threads(), 1L)
})

# The bias gradient sums each channel over samples and pixels on the team,
# in blocks of pixels (short pixels) or pieces of each pixel (long ones):
# the sums must match R's and be the same whatever the number of threads.
test_that("bias gradients match R's sums and do not depend on the thread count", {
  on.exit(cvt_set_num_threads(NULL))
  set.seed(49)
  shapes <- list(c(1, 7, 300, 301), c(3, 5, 40, 200), c(8, 1000, 3, 5), c(2, 3, 1, 1),
                 c(5, 2, 70000))
  for (d in shapes) {
    g <- array(rnorm(prod(d)), d)
    expected <- apply(g, 2, sum)
    sums <- lapply(1:2, function(threads) {
      cvt_set_num_threads(threads)
      convtranspose:::bias_gradient(g, batched = TRUE)
    })
    expect_identical(sums[[1]], sums[[2]])
    expect_close(array(sums[[1]]), array(expected), 1e-12)
    if (d[1] == 1) {  # an unbatched array: no batch dimension
      unbatched <- convtranspose:::bias_gradient(array(g, d[-1]), batched = FALSE)
      expect_identical(unbatched, sums[[1]])
    }
  }
})
