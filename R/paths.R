#' The CPU kernel paths: list, report and force them
#'
#' Each native operation of a call on the CPU runs one kernel path, chosen by
#' the core's planner from a closed list: the first path of its operation
#' that can run the call and pays, given the geometry, the dtype, the
#' instruction-set build ([cvt_kernel_isa()]) and the thread count. The
#' three operations are `coarse_to_fine` (a transposed convolution's forward
#' pass, a convolution's input gradient), `fine_to_coarse` (a convolution's
#' forward pass, a transposed convolution's input gradient) and
#' `weight_gradient` (the weight gradient of either layer).
#'
#' Two options act on the CPU calls that follow:
#' * `options(convtranspose.verbose = TRUE)`: each native operation emits one
#'   [message()] naming the operation, the path, the ISA build, the dtype and
#'   the reason it was chosen over the paths before it.
#' * `options(convtranspose.force_path = "name")`: the operation that path
#'   belongs to runs that path (the other operations of the same call choose
#'   as usual). Where the path cannot run the call (wrong build or dtype, or
#'   a geometry it does not cover), the call fails with a
#'   `convtranspose_argument_error` saying why. `NULL` restores the planner's
#'   choice. Meant for testing and benchmarking: every path gives the same
#'   results to rounding.
#'
#' Calls on a GPU are not affected: see [cvt_cuda_last_paths()].
#'
#' @return A data frame with one row per path and the columns `operation`,
#'   `path` (a unique name), `isas` (the builds it exists in, comma-separated
#'   as [cvt_kernel_isa()] names them), `dtypes` (`"float64,float32"` or one
#'   of them) and `description`, in each operation's order of preference.
#' @examples
#' paths <- cvt_paths()
#' paths[, c("operation", "path", "isas")]
#'
#' x <- array(rnorm(2 * 4 * 5 * 5), c(2, 4, 5, 5))
#' w <- array(rnorm(4 * 3 * 3 * 3), c(4, 3, 3, 3))
#' old <- options(convtranspose.verbose = TRUE)
#' y <- nnf_conv_transpose2d(x, w, stride = 2)
#' options(convtranspose.force_path = "gemm_col2im")
#' y2 <- nnf_conv_transpose2d(x, w, stride = 2)
#' options(old)
#' options(convtranspose.force_path = NULL)
#' all.equal(y, y2)
#' @export
cvt_paths <- function() {
  table <- .ct_path_table()
  data.frame(operation = table$operation, path = table$path, isas = table$isas,
             dtypes = table$dtypes, description = table$description,
             stringsAsFactors = FALSE)
}

# The number of the path named by option convtranspose.force_path, or -1.
forced_path_id <- function(call) {
  name <- getOption("convtranspose.force_path")
  if (is.null(name)) return(-1L)
  table <- .ct_path_table()
  if (!is.character(name) || length(name) != 1L || is.na(name) || !name %in% table$path)
    cvt_abort(sprintf(paste0("Option `convtranspose.force_path` must be NULL or one path ",
                             "name of `cvt_paths()$path`, not %s."), describe_value(name)),
              "convtranspose_argument_error", call)
  table$id[match(name, table$path)]
}

verbose_paths <- function() isTRUE(getOption("convtranspose.verbose"))

# The message for the operation that just ran on the CPU.
report_path <- function() {
  last <- .ct_last_path()
  if (is.null(last)) return(invisible())
  message(sprintf("convtranspose: %s, %s, %s build: %s. %s.", last$operation, last$dtype,
                  last$isa, last$path, last$reason))
}
