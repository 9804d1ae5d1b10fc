#' Arguments shared by the layers and functions of convtranspose
#'
#' Every constructor (`nn_conv_transpose*d()`, `nn_conv*d()`) and function
#' (`nnf_conv_transpose*d()`, `nnf_conv*d()` and their `_backward` forms)
#' takes torch's arguments with torch's names, order and defaults; this page
#' describes the ones they share. Size arguments take one value for every
#' spatial dimension or a vector with one per dimension; a vector of another
#' length is an error (R torch would accept it silently).
#'
#' @section Arrays: An R array `x[n, c, h, w]` holds what torch's
#'   `x[n-1, c-1, h-1, w-1]` holds: dims `c(N, C, L)`, `c(N, C, H, W)` or
#'   `c(N, C, D, H, W)` for 1-, 2- and 3-d layers, or the same without the
#'   batch dimension `N` (unbatched input gives unbatched output). Integer and
#'   logical arrays are taken as double; results are double arrays.
#'
#' @section Output sizes: A transposed convolution gives, in each spatial
#'   dimension, `(in - 1) * stride - 2 * padding + dilation * (kernel - 1) +
#'   output_padding + 1` values; a convolution `floor((in + 2 * padding -
#'   dilation * (kernel - 1) - 1) / stride) + 1`.
#'
#' @section Errors: Bad arguments raise, before any native code runs,
#'   conditions of class `convtranspose_error` and one of
#'   `convtranspose_argument_error` (a wrong type or value),
#'   `convtranspose_shape_error` (sizes that do not fit together),
#'   `convtranspose_size_error` (a result too large for R or the machine) or
#'   `convtranspose_device_error` (a device that cannot be used). `NA`, `NaN`
#'   and `Inf` in the data are not errors: they propagate as IEEE arithmetic
#'   does, as in PyTorch.
#'
#' @param input A numeric (or integer/logical) array with dim
#'   `c(N, C_in, L)` / `c(N, C_in, H, W)` / `c(N, C_in, D, H, W)`, or the same
#'   without the batch dimension (unbatched input gives unbatched output).
#' @param weight A numeric array with dim `c(C_in, C_out / groups, kernel...)`
#'   for a transposed convolution (PyTorch's layout), `c(C_out, C_in /
#'   groups, kernel...)` for a convolution.
#' @param bias `NULL` or a numeric vector of length `C_out`.
#' @param stride,padding,output_padding,dilation A single integer or one per
#'   spatial dimension. `stride` and `dilation` are positive; `padding` and
#'   `output_padding` non-negative; `output_padding` must be smaller than
#'   either `stride` or `dilation` in each dimension.
#' @param groups A positive integer dividing `C_in` (and `C_out`): the
#'   channels split into `groups` independent convolutions.
#' @param device `NULL` (the option `convtranspose.device`, default `"cpu"`),
#'   `"cpu"`, `"cuda"` or `"cuda:N"`: where the computation runs (arrays stay
#'   R arrays). The CUDA devices need a build with the CUDA backend and a GPU
#'   ([cvt_cuda_is_available()]); otherwise they are refused with a
#'   `convtranspose_device_error`.
#' @param dtype `NULL` (the option `convtranspose.dtype`, default
#'   `"float64"`), `"float64"` or `"float32"`. `"float32"` computes in single
#'   precision; the result is always a double array.
#' @seealso [nn_conv_transpose], [nnf_conv_transpose],
#'   [nnf_conv_transpose_backward], [nn_conv], [nnf_conv],
#'   [cvt_get_num_threads()], [cvt_cuda_is_available()].
#' @examples
#' # one value for every dimension, or one per dimension
#' m <- nn_conv_transpose2d(4, 2, kernel_size = c(3, 5), stride = 2, padding = c(1, 2))
#' dim(m(array(rnorm(4 * 6 * 6), c(4, 6, 6))))   # unbatched: 2 11 11
#' # a wrong length is an error, with a class to catch
#' tryCatch(nn_conv_transpose2d(4, 2, 3, stride = c(2, 2, 2)),
#'          convtranspose_argument_error = function(e) conditionMessage(e))
#' @name convtranspose_arguments
NULL
