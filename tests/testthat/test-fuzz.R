# A short run of the fuzzer (helper-fuzz.R); tools/fuzz.R runs long ones.
test_that("300 random legal and illegal configurations: right answers, classed errors", {
  failures <- run_fuzz(300, 20261121)
  expect_identical(failures, character(0))
})
