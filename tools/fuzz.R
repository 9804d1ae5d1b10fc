# Fuzzer: random legal configurations against the slow reference, random
# illegal ones expecting a classed convtranspose_error. Run from the package
# root on the installed package:
#   Rscript tools/fuzz.R --n 10000 --seed 1
# The test suite runs a short version (tests/testthat/test-fuzz.R).
args <- commandArgs(TRUE)
value <- function(flag, default) {
  i <- match(flag, args)
  if (is.na(i) || i == length(args)) default else as.numeric(args[i + 1])
}
n <- value("--n", 1000)
seed <- value("--seed", 1)
suppressPackageStartupMessages(library(convtranspose))
for (f in c("tests/testthat/helper-reference.R", "tests/testthat/helper-fuzz.R")) source(f)
started <- Sys.time()
failures <- run_fuzz(n, seed)
cat(sprintf("fuzz: %d cases (seed %d) in %.1f s, %d failures\n", n, seed,
            as.numeric(difftime(Sys.time(), started, units = "secs")), length(failures)))
if (length(failures)) {
  writeLines(failures)
  quit(status = 1)
}
