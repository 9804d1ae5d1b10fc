#' Number of threads used by convtranspose
#'
#' The native kernels run on a team of OpenMP threads whose size is passed to
#' each call; the process-wide OpenMP setting is never changed. By default
#' the team uses every core, but no more than `OMP_THREAD_LIMIT`,
#' `OMP_NUM_THREADS` and `getOption("Ncpus")` allow (and at most 2 under
#' `R CMD check`'s `_R_CHECK_LIMIT_CORES_`). A process forked after the
#' package has run multi-threaded (the workers of [parallel::mclapply()])
#' uses one thread: OpenMP's thread pool does not survive `fork()`.
#'
#' @param n A positive integer, or `NULL` to go back to the default.
#' @return `cvt_get_num_threads()`: the number of threads the next call will
#'   use. `cvt_set_num_threads()`: the previous setting, invisibly: the
#'   number last set, or `NULL` if the default was in force, so that
#'   `cvt_set_num_threads(old)` restores exactly what was there (a count
#'   read with `cvt_get_num_threads()` would fix the count instead).
#' @examples
#' old <- cvt_set_num_threads(1)
#' cvt_get_num_threads()
#' cvt_set_num_threads(old)   # back to the previous setting (NULL: the default)
#' @export
cvt_get_num_threads <- function() {
  info <- .ct_openmp_info()
  # a forked child (parallel::mclapply) cannot use the parent's OpenMP pool
  if (info[["forked_child"]] == 1L) return(1L)
  limit <- as.integer(min(info[["thread_limit"]], max(1L, info[["procs"]])))
  if (!is.null(the$threads)) return(max(1L, min(the$threads, limit)))
  n <- min(limit, info[["max_threads"]])
  ncpus <- getOption("Ncpus")
  if (is.numeric(ncpus) && length(ncpus) == 1L && !is.na(ncpus) && ncpus >= 1)
    n <- min(n, as.integer(ncpus))
  if (nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_")) &&
      !identical(toupper(Sys.getenv("_R_CHECK_LIMIT_CORES_")), "FALSE"))
    n <- min(n, 2L)
  max(1L, as.integer(n))
}

#' @rdname cvt_get_num_threads
#' @export
cvt_set_num_threads <- function(n) {
  old <- the$threads
  if (is.null(n)) {
    the$threads <- NULL
  } else {
    the$threads <- as_count(n, "n", sys.call())
  }
  invisible(old)
}

#' Which build of the native kernels runs on this CPU
#'
#' R compiles packages for the baseline instruction set (SSE2 on x86-64). On
#' Linux x86-64 the package also builds its kernels for AVX2 + FMA and for
#' AVX-512 (both with the package's own matrix-product kernel and in-place
#' products, on 256-bit and 512-bit vectors), as separate libraries; when the package loads it takes the best one the CPU runs.
#' Results agree with the baseline build to rounding. The environment
#' variable `CONVTRANSPOSE_ISA`, read at every call, makes the next calls
#' use a lower build than the best: `"avx2"` or `"baseline"` (other values are
#' ignored). Which kernel
#' path each call runs in that build: [cvt_paths()].
#'
#' @return `"avx512"`, `"avx2"` or `"baseline"`.
#' @examples
#' cvt_kernel_isa()
#' @export
cvt_kernel_isa <- function() .ct_kernel_isa()
