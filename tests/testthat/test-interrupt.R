# Ctrl-C during a long native call: a child R process is sent SIGINT while it
# computes a layer that would take several seconds, on two threads (a signal
# taken by an OpenMP worker thread used to be lost).
wait_for <- function(condition, timeout) {
  start <- Sys.time()
  while (!condition()) {
    if (as.numeric(difftime(Sys.time(), start, units = "secs")) > timeout) return(FALSE)
    Sys.sleep(0.02)
  }
  TRUE
}

test_that("SIGINT interrupts a long call and the session stays usable", {
  skip_on_os("windows")
  dir <- tempfile("interrupt")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  pid_file <- file.path(dir, "pid")
  out_file <- file.path(dir, "out")
  script <- file.path(dir, "child.R")
  writeLines(c(
    "library(convtranspose)",
    "cvt_set_num_threads(2)",
    "x <- array(rnorm(256 * 40000), c(1, 256, 40000))",
    "w <- array(rnorm(256 * 256 * 64), c(256, 256, 64))",  # ~340 GFLOP: seconds
    sprintf("writeLines(as.character(Sys.getpid()), %s)", deparse(pid_file)),
    "r <- tryCatch({nnf_conv_transpose1d(x, w); 'finished'},",
    "              interrupt = function(e) 'interrupted ')",
    "small <- nnf_conv_transpose1d(array(1, c(1, 1, 3)), array(1, c(1, 1, 2)))",
    sprintf("writeLines(c(r, paste(dim(small), collapse = ' ')), %s)", deparse(out_file))
  ), script)
  system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(script)),
          wait = FALSE, stdout = FALSE, stderr = FALSE)
  expect_true(wait_for(function() file.exists(pid_file) && length(readLines(pid_file)) == 1, 60))
  pid <- as.integer(readLines(pid_file))
  Sys.sleep(0.5)  # well inside the native call
  tools::pskill(pid, tools::SIGINT)
  expect_true(wait_for(function() file.exists(out_file) && length(readLines(out_file)) == 2, 60))
  out <- readLines(out_file)
  # Interrupted rather than finished: the layer needs seconds even at the
  # machine's peak. (No clock assertion: timings are not tested.)
  expect_match(out[1], "^interrupted ")
  expect_identical(out[2], "1 1 4")
})
