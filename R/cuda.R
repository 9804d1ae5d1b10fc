#' CUDA devices
#'
#' `cvt_cuda_is_available()` tells whether `device = "cuda"` can be used: the
#' package was built with its CUDA backend (nvcc and cuDNN were found at
#' install time) and the machine has a CUDA GPU and driver.
#' `cvt_cuda_device_count()` gives the number of CUDA devices, usable as
#' `"cuda:0"` to `"cuda:<n - 1>"`. Neither raises an error: without a CUDA
#' build or a GPU they return `FALSE` and `0`.
#'
#' With `device = "cuda"` (or `"cuda:N"`) on a constructor or an `nnf_*`
#' function, the layer runs on the GPU: inputs and results stay ordinary R
#' arrays, copied to and from the GPU inside each call through pinned
#' buffers, with the layout change done on the GPU. Transposed convolution
#' runs as cuDNN's backward-data, its gradients as cuDNN's forward and
#' backward-filter (and the other way round for [nn_conv]); shapes that
#' cuDNN does not run (an `output_padding` at least the stride, for
#' instance) run on the package's own CUDA kernels. Bias gradients are
#' summed on the CPU, where `grad_output` already is.
#'
#' Options, read at each call:
#' * `convtranspose.cudnn_deterministic` (`FALSE`): `TRUE` restricts cuDNN to
#'   deterministic algorithms, as `torch.backends.cudnn.deterministic`.
#' * `convtranspose.cudnn_benchmark` (`FALSE`): `TRUE` times cuDNN's candidate
#'   algorithms once per shape and keeps the fastest, as
#'   `torch.backends.cudnn.benchmark`.
#' * `convtranspose.allow_tf32` (`TRUE`, PyTorch's default for cuDNN): lets
#'   `dtype = "float32"` use TensorFloat-32 tensor cores (about 10 bits of
#'   mantissa in the products); `FALSE` keeps full float32 precision.
#'
#' The choice of cuDNN algorithm is made once per shape, dtype and options
#' (by cuDNN's heuristics, or by timing with `convtranspose.cudnn_benchmark`)
#' and kept, as PyTorch does. `cvt_cuda_last_paths()` says what the last CUDA
#' call of each operation ran: cuDNN's algorithm and math type, or the
#' package's own kernel and why cuDNN did not run it. cuDNN failing to run on
#' the machine at all (driver, architecture, a missing sub-library) is an
#' error, not a fall back.
#'
#' Building: `R CMD INSTALL` looks for `nvcc` (`NVCC`, `CUDA_HOME/bin`, the
#' `PATH`, `/usr/local/cuda/bin`) and cuDNN (`CUDNN_HOME`, beside the CUDA
#' headers, PyTorch's `nvidia-cudnn` pip wheel, or the system's, multiarch
#' layouts included) and says which build it makes; `CONVTRANSPOSE_CUDA=0`
#' forces the CPU-only build and `CUDA_ARCHS` (default `"75 80 90"`) picks
#' the GPU architectures.
#'
#' @return `cvt_cuda_is_available()`: `TRUE` or `FALSE`.
#'   `cvt_cuda_device_count()`: an integer. `cvt_cuda_last_paths()`: a data
#'   frame with one row per operation that has run on CUDA in this process
#'   (`operation`: `"coarse_to_fine"` (a transposed convolution's forward
#'   pass, a convolution's input gradient), `"fine_to_coarse"` (the other
#'   way) or `"weight_gradient"`; `path`: `"cudnn"` or `"direct"`;
#'   `algorithm`, `math`, `reason`), with no rows before any CUDA call or
#'   without a CUDA build.
#' @examples
#' cvt_cuda_is_available()
#' cvt_cuda_device_count()
#' device <- if (cvt_cuda_is_available()) "cuda" else "cpu"
#' m <- nn_conv_transpose2d(4, 2, 3, stride = 2, device = device)
#' dim(m(array(rnorm(4 * 5 * 5), c(1, 4, 5, 5))))
#' @export
cvt_cuda_is_available <- function() cvt_cuda_device_count() > 0L

#' @rdname cvt_cuda_is_available
#' @export
cvt_cuda_last_paths <- function() {
  p <- .ct_cuda_last_paths()
  data.frame(operation = c("coarse_to_fine", "fine_to_coarse", "weight_gradient")[p$operation],
             path = c("cudnn", "direct")[p$path], algorithm = as.character(p$algorithm),
             math = as.character(p$math), reason = as.character(p$reason),
             stringsAsFactors = FALSE)
}

#' @rdname cvt_cuda_is_available
#' @export
cvt_cuda_device_count <- function() as.integer(cuda_info()$device_count)

# The backend's facts, asked once per session (the first CUDA call can take
# a while; devices do not come and go).
cuda_info <- function() {
  if (is.null(the$cuda_info)) the$cuda_info <- .ct_cuda_info()
  the$cuda_info
}

# Checks a "cuda" / "cuda:N" device against this build and machine and
# returns its canonical name "cuda:N".
resolve_cuda_device <- function(device, call) {
  index <- if (device == "cuda") 0L else as.integer(sub("^cuda:", "", device))
  info <- cuda_info()
  if (!isTRUE(info$built))
    cvt_abort(sprintf(paste0("`device = \"%s\"` is not available: this build of convtranspose ",
                             "has no CUDA support (it was installed without nvcc and cuDNN, or ",
                             "with CONVTRANSPOSE_CUDA=0). Use `device = \"cpu\"`, or reinstall ",
                             "with the CUDA toolkit and cuDNN (see ?cvt_cuda_is_available)."),
                      device), "convtranspose_device_error", call)
  count <- as.integer(info$device_count)
  if (count == 0L)
    cvt_abort(sprintf(paste0("`device = \"%s\"` is not available: no CUDA GPU or driver was ",
                             "found on this machine%s. Use `device = \"cpu\"`."), device,
                      if (nzchar(info$message)) paste0(" (", info$message, ")") else ""),
              "convtranspose_device_error", call)
  if (is.na(index) || index >= count)
    cvt_abort(sprintf("`device = \"%s\"` does not exist: this machine has %d CUDA device%s (%s).",
                      device, count, if (count == 1L) "" else "s",
                      if (count == 1L) "\"cuda:0\"" else sprintf("\"cuda:0\" to \"cuda:%d\"",
                                                                  count - 1L)),
              "convtranspose_device_error", call)
  paste0("cuda:", index)
}

# What .ct_run needs: c(device, deterministic, benchmark, allow_tf32), with
# device -1 for the CPU. The options are read at each call.
device_settings <- function(device, call) {
  if (identical(device, "cpu")) return(c(-1L, 0L, 0L, 1L))
  flag <- function(name, default) {
    value <- getOption(name, default)
    if (!is.logical(value) || length(value) != 1L || is.na(value))
      cvt_abort(sprintf("Option `%s` must be TRUE or FALSE, not %s.", name,
                        describe_value(value)), "convtranspose_argument_error", call)
    as.integer(value)
  }
  c(as.integer(sub("^cuda:", "", device)),
    flag("convtranspose.cudnn_deterministic", FALSE),
    flag("convtranspose.cudnn_benchmark", FALSE),
    flag("convtranspose.allow_tf32", TRUE))
}
