library(testthat)
library(convtranspose)

test_check("convtranspose")
