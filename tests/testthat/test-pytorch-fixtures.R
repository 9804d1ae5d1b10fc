# Expected values computed by PyTorch (tools/make-fixtures.py).
run_case <- function(case, dtype = "float64") {
  transpose_fn(case$rank)(case$input, case$weight, case$bias, stride = case$stride,
                          padding = case$padding, output_padding = case$output_padding,
                          groups = case$groups, dilation = case$dilation, dtype = dtype)
}

for (file in c("forward-pytorch.R", "forward-random.R")) {
  cases <- dget(test_path("fixtures", file))
  test_that(sprintf("forward matches PyTorch: %s (%d cases)", file, length(cases)), {
    for (case in cases) {
      expect_close(run_case(case), case$expected, 1e-12)
    }
  })
  test_that(sprintf("float32 forward is within 1e-5 of PyTorch's double: %s", file), {
    for (case in cases) {
      expect_close(run_case(case, "float32"), case$expected, 1e-5)
    }
  })
}

test_that("the PyTorch cases include every configuration the issue lists, batched and unbatched", {
  cases <- dget(test_path("fixtures", "forward-pytorch.R"))
  names <- vapply(cases, `[[`, "", "name")
  expect_true(all(c("1d k3 s3 p1 op1", "1d no bias", "1d dilated", "1d groups",
                    "2d s(3,2) p1 op(1,1)", "2d dilated", "2d no bias", "2d groups",
                    "functional 1d", "functional 2d", "functional depthwise") %in% names))
  expect_equal(sum(grepl("unbatched", names)), length(cases) / 2)
})
