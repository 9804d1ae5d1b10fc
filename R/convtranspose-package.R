#' convtranspose: transposed convolution layers compatible with torch
#'
#' PyTorch's `ConvTranspose1d/2d/3d` on plain R arrays, computed by native
#' code: see [nn_conv_transpose] for the modules, [nnf_conv_transpose] for
#' the functional forms and [cvt_get_num_threads()] for thread control.
#'
#' Options (read at each call):
#' * `convtranspose.device`: the default `device` (`"cpu"`).
#' * `convtranspose.dtype`: the default `dtype` (`"float64"`).
#' * `convtranspose.max_memory`: the largest result, in bytes, a call may
#'   allocate (default: the machine's physical memory where it can be read).
#' * `convtranspose.layout_chunk_bytes`: how much memory, in bytes, the CPU
#'   kernels use at a time to bring a batch into the order they compute in
#'   (R keeps the batch index fastest); default 32 MB. The batch is processed
#'   in chunks of that size (at least one sample). On CPUs with AVX2 or AVX-512,
#'   batches of 8 samples or more (but 9 to 11 and 17, which would leave
#'   over a quarter of the lanes of their groups of 8 samples empty) are
#'   computed in R's order directly and need no such copies, and so are
#'   weight gradients from 4 samples. In float32 those kernels read a float
#'   copy of their input (the weight gradient: of the output gradient) where
#'   it fits in this allowance; where it does not, the forward-style ones
#'   convert as they read and the weight gradient takes another kernel.
#' * `convtranspose.cudnn_deterministic`, `convtranspose.cudnn_benchmark`,
#'   `convtranspose.allow_tf32`: how the CUDA backend uses cuDNN; see
#'   [cvt_cuda_is_available()].
#'
#' @keywords internal
#' @useDynLib convtranspose, .registration = TRUE
#' @importFrom Rcpp evalCpp
"_PACKAGE"

# Package-level mutable state (thread setting, cached machine facts).
the <- new.env(parent = emptyenv())

# A module is a closure over `.state`, bound in the closure's own
# environment when the module is made (module.R).
utils::globalVariables(".state")
