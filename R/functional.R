#' Transposed convolution on R arrays (functional form)
#'
#' Applies a 1-D, 2-D or 3-D transposed convolution ("deconvolution"), the
#' same operation as `torch::nnf_conv_transpose1d()` and PyTorch's
#' `torch.nn.functional.conv_transpose1d()` (and `2d`, `3d`), to plain R
#' arrays. Index meaning follows torch: `input[n, c, h, w]` is torch's
#' `input[n-1, c-1, h-1, w-1]`.
#'
#' Each output size is
#' `(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1`.
#'
#' @inheritParams convtranspose_arguments
#' @param weight A numeric array with dim `c(C_in, C_out / groups, kernel...)`.
#' @return A double array with dim `c(N, C_out, out...)` (or `c(C_out, out...)`
#'   for unbatched input).
#' @section Errors:
#' Invalid arguments raise conditions of class `convtranspose_error` with a
#' subclass: `convtranspose_argument_error`, `convtranspose_shape_error`,
#' `convtranspose_size_error` or `convtranspose_device_error` (see
#' [convtranspose_arguments]). `NA`, `NaN` and `Inf` in the data are not
#' errors: they propagate as IEEE arithmetic does.
#' @seealso [convtranspose_arguments] for the arguments all layers share,
#'   [nn_conv_transpose] for the modules.
#' @examples
#' x <- array(rnorm(2 * 3 * 5), c(2, 3, 5))
#' w <- array(rnorm(3 * 4 * 3), c(3, 4, 3))
#' y <- nnf_conv_transpose1d(x, w, stride = 2)
#' dim(y) # 2 4 11
#'
#' x <- array(rnorm(1 * 4 * 8 * 8), c(1, 4, 8, 8))
#' w <- array(rnorm(4 * 2 * 3 * 3), c(4, 2, 3, 3))
#' dim(nnf_conv_transpose2d(x, w, stride = 2, padding = 1, output_padding = 1))
#'
#' # depthwise: one filter per channel
#' w <- array(1, c(4, 1, 2, 2))
#' dim(nnf_conv_transpose2d(x, w, stride = 2, groups = 4))
#' @name nnf_conv_transpose
NULL

nnf_conv_transpose_nd <- function(rank, input, weight, bias, stride, padding, output_padding,
                                  groups, dilation, device, dtype, call) {
  plan <- conv_transpose_plan(rank, input, weight, bias, stride, padding, output_padding,
                              groups, dilation, device, dtype, call)
  layer_forward(plan)
}

#' @rdname nnf_conv_transpose
#' @export
nnf_conv_transpose1d <- function(input, weight, bias = NULL, stride = 1, padding = 0,
                                 output_padding = 0, groups = 1, dilation = 1,
                                 device = NULL, dtype = NULL) {
  nnf_conv_transpose_nd(1L, input, weight, bias, stride, padding, output_padding, groups,
                        dilation, device, dtype, sys.call())
}

#' @rdname nnf_conv_transpose
#' @export
nnf_conv_transpose2d <- function(input, weight, bias = NULL, stride = 1, padding = 0,
                                 output_padding = 0, groups = 1, dilation = 1,
                                 device = NULL, dtype = NULL) {
  nnf_conv_transpose_nd(2L, input, weight, bias, stride, padding, output_padding, groups,
                        dilation, device, dtype, sys.call())
}

#' @rdname nnf_conv_transpose
#' @export
nnf_conv_transpose3d <- function(input, weight, bias = NULL, stride = 1, padding = 0,
                                 output_padding = 0, groups = 1, dilation = 1,
                                 device = NULL, dtype = NULL) {
  nnf_conv_transpose_nd(3L, input, weight, bias, stride, padding, output_padding, groups,
                        dilation, device, dtype, sys.call())
}

#' Gradients of a transposed convolution
#'
#' The gradients of `sum(grad_output * nnf_conv_transpose2d(input, weight,
#' bias, ...))` with respect to the input, the weight and the bias: what
#' autograd computes in torch for `nn_conv_transpose*d`. The input gradient is
#' a convolution of `grad_output` (see [nnf_conv2d()]); the same native code
#' serves both layers.
#'
#' @inheritParams nnf_conv_transpose
#' @param grad_output The gradient of the loss with respect to the layer's
#'   output: an array with exactly the output's dim.
#' @param input,weight The layer's input and weight (as in the forward call).
#' @return A list: `input` (dim of `input`), `weight` (dim of `weight`) and
#'   `bias` (length `C_out`: `grad_output` summed over batch and space).
#' @examples
#' x <- array(rnorm(2 * 3 * 5), c(2, 3, 5))
#' w <- array(rnorm(3 * 4 * 3), c(3, 4, 3))
#' y <- nnf_conv_transpose1d(x, w, stride = 2)
#' g <- nnf_conv_transpose1d_backward(array(1, dim(y)), x, w, stride = 2)
#' str(g)
#' @name nnf_conv_transpose_backward
NULL

conv_transpose_backward_nd <- function(rank, grad_output, input, weight, stride, padding,
                                       output_padding, groups, dilation, device, dtype, call) {
  plan <- conv_transpose_plan(rank, input, weight, NULL, stride, padding, output_padding,
                              groups, dilation, device, dtype, call)
  layer_backward(plan, grad_output)
}

#' @rdname nnf_conv_transpose_backward
#' @export
nnf_conv_transpose1d_backward <- function(grad_output, input, weight, stride = 1, padding = 0,
                                          output_padding = 0, groups = 1, dilation = 1,
                                          device = NULL, dtype = NULL) {
  conv_transpose_backward_nd(1L, grad_output, input, weight, stride, padding, output_padding,
                             groups, dilation, device, dtype, sys.call())
}

#' @rdname nnf_conv_transpose_backward
#' @export
nnf_conv_transpose2d_backward <- function(grad_output, input, weight, stride = 1, padding = 0,
                                          output_padding = 0, groups = 1, dilation = 1,
                                          device = NULL, dtype = NULL) {
  conv_transpose_backward_nd(2L, grad_output, input, weight, stride, padding, output_padding,
                             groups, dilation, device, dtype, sys.call())
}

#' @rdname nnf_conv_transpose_backward
#' @export
nnf_conv_transpose3d_backward <- function(grad_output, input, weight, stride = 1, padding = 0,
                                          output_padding = 0, groups = 1, dilation = 1,
                                          device = NULL, dtype = NULL) {
  conv_transpose_backward_nd(3L, grad_output, input, weight, stride, padding, output_padding,
                             groups, dilation, device, dtype, sys.call())
}

#' Convolution on R arrays (functional form) and its gradients
#'
#' `nnf_conv1d()`, `nnf_conv2d()` and `nnf_conv3d()` apply a convolution as
#' torch's functions of the same names do (zero padding); the
#' `_backward` forms return the gradients of `sum(grad_output * output)`.
#' The convolution and the transposed convolution share their native code: a
#' convolution's input gradient is a transposed convolution and vice versa.
#'
#' Each output size is
#' `floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1`.
#'
#' @inheritParams nnf_conv_transpose
#' @param weight A numeric array with dim `c(C_out, C_in / groups, kernel...)`.
#' @param stride,dilation A single positive integer or one per spatial
#'   dimension.
#' @param padding A single integer or one per spatial dimension, or
#'   `"valid"` (no padding) or `"same"` (output as large as the input; stride
#'   1 only; an odd total padding puts the extra element on the right, as
#'   PyTorch does).
#' @param grad_output The gradient of the loss with respect to the output.
#' @return The forward functions: a double array with dim `c(N, C_out,
#'   out...)` (unbatched input gives unbatched output). The backward
#'   functions: a list of `input`, `weight` and `bias` gradients.
#' @examples
#' x <- array(rnorm(1 * 2 * 8 * 8), c(1, 2, 8, 8))
#' w <- array(rnorm(4 * 2 * 3 * 3), c(4, 2, 3, 3))
#' dim(nnf_conv2d(x, w, stride = 2, padding = 1))   # 1 4 4 4
#' dim(nnf_conv2d(x, w, padding = "same"))          # 1 4 8 8
#' g <- nnf_conv2d_backward(array(1, c(1, 4, 4, 4)), x, w, stride = 2, padding = 1)
#' dim(g$input)
#' @name nnf_conv
NULL

nnf_conv_nd <- function(rank, input, weight, bias, stride, padding, dilation, groups, device,
                        dtype, call) {
  # (the plan is built before the call below so that its errors are not
  # raised while a lazy argument is being forced)
  plan <- conv_plan(rank, input, weight, bias, stride, padding, dilation, groups, device, dtype,
                    call)
  layer_forward(plan)
}

conv_backward_nd <- function(rank, grad_output, input, weight, stride, padding, dilation,
                             groups, device, dtype, call) {
  plan <- conv_plan(rank, input, weight, NULL, stride, padding, dilation, groups, device,
                    dtype, call)
  layer_backward(plan, grad_output)
}

#' @rdname nnf_conv
#' @export
nnf_conv1d <- function(input, weight, bias = NULL, stride = 1, padding = 0, dilation = 1,
                       groups = 1, device = NULL, dtype = NULL) {
  nnf_conv_nd(1L, input, weight, bias, stride, padding, dilation, groups, device, dtype,
              sys.call())
}

#' @rdname nnf_conv
#' @export
nnf_conv2d <- function(input, weight, bias = NULL, stride = 1, padding = 0, dilation = 1,
                       groups = 1, device = NULL, dtype = NULL) {
  nnf_conv_nd(2L, input, weight, bias, stride, padding, dilation, groups, device, dtype,
              sys.call())
}

#' @rdname nnf_conv
#' @export
nnf_conv3d <- function(input, weight, bias = NULL, stride = 1, padding = 0, dilation = 1,
                       groups = 1, device = NULL, dtype = NULL) {
  nnf_conv_nd(3L, input, weight, bias, stride, padding, dilation, groups, device, dtype,
              sys.call())
}

#' @rdname nnf_conv
#' @export
nnf_conv1d_backward <- function(grad_output, input, weight, stride = 1, padding = 0,
                                dilation = 1, groups = 1, device = NULL, dtype = NULL) {
  conv_backward_nd(1L, grad_output, input, weight, stride, padding, dilation, groups, device,
                   dtype, sys.call())
}

#' @rdname nnf_conv
#' @export
nnf_conv2d_backward <- function(grad_output, input, weight, stride = 1, padding = 0,
                                dilation = 1, groups = 1, device = NULL, dtype = NULL) {
  conv_backward_nd(2L, grad_output, input, weight, stride, padding, dilation, groups, device,
                   dtype, sys.call())
}

#' @rdname nnf_conv
#' @export
nnf_conv3d_backward <- function(grad_output, input, weight, stride = 1, padding = 0,
                                dilation = 1, groups = 1, device = NULL, dtype = NULL) {
  conv_backward_nd(3L, grad_output, input, weight, stride, padding, dilation, groups, device,
                   dtype, sys.call())
}
