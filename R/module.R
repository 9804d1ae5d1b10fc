#' Transposed convolution modules
#'
#' `nn_conv_transpose1d()`, `nn_conv_transpose2d()` and `nn_conv_transpose3d()`
#' create layers with the argument names, order and defaults of the torch
#' package's modules of the same names (PyTorch's `ConvTranspose1d/2d/3d`),
#' working on plain R arrays.
#'
#' The module is a function: `m(input, output_size = NULL)` returns the
#' layer's output as a double array (see [nnf_conv_transpose] for the input
#' layout and the output-size formula). `output_size` may give the spatial
#' sizes of the wanted output, or its full `dim()` (whose batch and channel
#' entries are ignored, as in PyTorch); each size must lie between the
#' smallest reachable size and that plus `stride - 1`, and the module's
#' `output_padding` is then ignored.
#'
#' Fields are read with `$`: `weight` (dim `c(in_channels, out_channels /
#' groups, kernel_size)`), `bias` (length `out_channels`, or `NULL`), the
#' hyperparameters (`in_channels`, `out_channels`, `kernel_size`, `stride`,
#' `padding`, `output_padding`, `groups`, `dilation`, `padding_mode`,
#' `device`, `dtype`), `parameters` (a list of weight and bias), `forward`
#' (the module itself) and `backward`: `m$backward(grad_output, input)`
#' returns the gradients of `sum(grad_output * m(input))` with respect to
#' the input, the module's weight and its bias (see
#' [nnf_conv_transpose_backward]); the output size is read from
#' `grad_output`, so it works after a call with `output_size` too (any
#' output padding the layer allows, below the stride or the dilation). The
#' bias gradient is `NULL` for a module without bias. It changes nothing in
#' the module. `m$to(dtype = NULL, device = NULL)` changes the precision
#' (`"float64"`, `"float32"`) or the device (`"cpu"`, `"cuda"`, `"cuda:N"`)
#' and returns the module, as torch's `$to()`; a device given first
#' (`m$to("cuda")`) is taken as the device. `weight` and `bias` can be
#' replaced with `m$weight <- value`, which checks the new value's shape;
#' hyperparameters are read-only. Like torch modules, a module is a
#' reference: a copy made with `<-` shares its parameters.
#'
#' Bringing weights from PyTorch: `m$state_dict()` returns the parameters as
#' a named list (`weight`, and `bias` when the module has one);
#' `m$load_state_dict(state_dict, strict = TRUE, prefix = "")` sets them from
#' such a list, for instance one read with [cvt_read_safetensors()] from a
#' whole model, whose entries for this layer start with `prefix` (`prefix =
#' "ups.0."` takes `ups.0.weight` and `ups.0.bias`). Names, shapes
#' (PyTorch's dims) and types are checked before anything changes, with a
#' classed error naming the entry; with `strict = TRUE` a missing or
#' unexpected entry is an error too, with `strict = FALSE` they are ignored.
#' It returns the module, invisibly. `m$reset_parameters()` draws new
#' parameters as at creation. Modules stay closures over plain R values, so
#' [saveRDS()] and parallel workers keep working.
#'
#' Weights and bias start as independent draws from
#' \eqn{U(-\sqrt{k}, \sqrt{k})} with `k = groups / (out_channels *
#' prod(kernel_size))`, PyTorch's default, drawn with R's random number
#' generator so that [set.seed()] reproduces them.
#'
#' @param in_channels,out_channels Numbers of input and output channels.
#' @param kernel_size Size of the convolving kernel: a single integer or one
#'   per spatial dimension.
#' @inheritParams nnf_conv_transpose
#' @param bias If `TRUE` (default), the layer learns an additive bias.
#' @param padding_mode Only `"zeros"` is supported for transposed convolution
#'   (as in PyTorch); other modes are refused.
#' @return A module of class `c("nn_conv_transpose2d",
#'   "convtranspose_module", "function")` (and likewise for 1d and 3d).
#' @examples
#' # torch's documentation examples, with R arrays for tensors
#' m <- nn_conv_transpose2d(16, 33, 3, stride = 2)
#' m <- nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))
#' input <- array(rnorm(20 * 16 * 50 * 100), c(20, 16, 50, 100))
#' output <- m(input)
#' dim(output) # 20 33 93 100
#' m
#'
#' m <- nn_conv_transpose1d(32, 16, 2)
#' dim(m(array(rnorm(10 * 32 * 2), c(10, 32, 2)))) # 10 16 3
#'
#' # choosing among the output sizes a stride allows
#' up <- nn_conv_transpose2d(4, 4, 3, stride = 2, padding = 1)
#' h <- array(rnorm(4 * 6 * 6), c(1, 4, 6, 6))
#' dim(up(h))                            # 1 4 11 11
#' dim(up(h, output_size = c(12, 12)))   # 1 4 12 12
#'
#' # the documentation's round trip: shrink with nn_conv2d, grow back
#' input <- array(rnorm(1 * 16 * 12 * 12), c(1, 16, 12, 12))
#' downsample <- nn_conv2d(16, 16, 3, stride = 2, padding = 1)
#' upsample <- nn_conv_transpose2d(16, 16, 3, stride = 2, padding = 1)
#' h <- downsample(input)
#' dim(h)                                          # 1 16 6 6
#' dim(upsample(h, output_size = dim(input)))      # 1 16 12 12
#'
#' # fitting a 2x up-sampling filter by gradient descent: recover `volcano`
#' # from a copy with every other row and column
#' target <- (volcano - mean(volcano)) / sd(volcano)
#' small <- target[seq(1, 87, 2), seq(1, 61, 2)]
#' x <- array(small, c(1, 1, dim(small)))
#' set.seed(1)
#' up <- nn_conv_transpose2d(1, 1, 3, stride = 2, padding = 1)
#' loss <- numeric(0)
#' for (step in 1:100) {
#'   y <- up(x, output_size = dim(target))
#'   residual <- y[1, 1, , ] - target
#'   loss[step] <- mean(residual^2)
#'   g <- up$backward(array(2 * residual / length(residual), dim(y)), x)
#'   up$weight <- up$weight - 0.5 * g$weight
#'   up$bias <- up$bias - 0.5 * g$bias
#' }
#' loss[100] / loss[1]   # well under 0.1
#'
#' # parameters in and out by name, as PyTorch's state dicts
#' sd <- up$state_dict()
#' names(sd)                       # "weight" "bias"
#' fresh <- nn_conv_transpose2d(1, 1, 3, stride = 2, padding = 1)
#' fresh$load_state_dict(list(decoder.up.weight = sd$weight, decoder.up.bias = sd$bias),
#'                       prefix = "decoder.up.")
#' identical(fresh$weight, up$weight)
#' @name nn_conv_transpose
NULL

# Fields readable with `$` for each kind of layer.
module_fields <- function(layer) {
  c("weight", "bias", "in_channels", "out_channels", "kernel_size", "stride", "padding",
    if (layer == "conv_transpose") "output_padding", "groups", "dilation", "padding_mode",
    "device", "dtype", "parameters", "forward", "backward", "to", "state_dict",
    "load_state_dict", "reset_parameters")
}

# The one module base behind nn_conv_transpose*d() and nn_conv*d(): checks
# the hyperparameters, draws the parameters and returns the module closure.
new_conv_module <- function(layer, rank, in_channels, out_channels, kernel_size, stride,
                            padding, output_padding, groups, bias, dilation, padding_mode,
                            device, dtype, call) {
  transposed <- layer == "conv_transpose"
  # (a convolution may have no input channels, as in PyTorch; a transposed
  # convolution may not)
  in_channels <- as_count(in_channels, "in_channels", call, min = if (transposed) 1L else 0L)
  out_channels <- as_count(out_channels, "out_channels", call)
  kernel_size <- as_size_vector(kernel_size, "kernel_size", rank, 1L, call)
  stride <- as_size_vector(stride, "stride", rank, 1L, call)
  dilation <- as_size_vector(dilation, "dilation", rank, 1L, call)
  if (transposed || !is.character(padding)) {
    padding <- as_size_vector(padding, "padding", rank, 0L, call)
  } else {
    resolve_conv_padding(padding, rank, kernel_size, stride, dilation, call)  # checks it
  }
  groups <- as_count(groups, "groups", call)
  bias <- as_flag(bias, "bias", call)
  modes <- c("zeros", "reflect", "replicate", "circular")
  if (!is.character(padding_mode) || length(padding_mode) != 1L || is.na(padding_mode) ||
      !(padding_mode %in% modes))
    cvt_abort(sprintf("`padding_mode` must be one of %s, not %s.",
                      paste0("\"", modes, "\"", collapse = ", "), describe_value(padding_mode)),
              "convtranspose_argument_error", call)
  if (transposed && padding_mode != "zeros")
    cvt_abort(sprintf(paste0("Only 'zeros' padding mode is supported for transposed ",
                             "convolution, not padding_mode = \"%s\"."), padding_mode),
              "convtranspose_argument_error", call)
  if (in_channels %% groups != 0L)
    cvt_abort(sprintf("`in_channels` = %d must be divisible by `groups` = %d.",
                      in_channels, groups), "convtranspose_argument_error", call)
  if (out_channels %% groups != 0L)
    cvt_abort(sprintf("`out_channels` = %d must be divisible by `groups` = %d.",
                      out_channels, groups), "convtranspose_argument_error", call)
  if (transposed) {
    output_padding <- as_size_vector(output_padding, "output_padding", rank, 0L, call)
    check_output_padding(output_padding, stride, dilation, call)
  }
  device <- resolve_device(device, call)
  dtype <- resolve_dtype(dtype, call)

  # PyTorch's layouts and default initialisation: U(-sqrt(k), sqrt(k)) with
  # k = groups / (fan-in channels * prod(kernel_size)).
  weight_dim <- if (transposed) c(in_channels, out_channels %/% groups, kernel_size) else
    c(out_channels, in_channels %/% groups, kernel_size)
  if (prod(as.numeric(weight_dim)) > 2^31 - 1)
    cvt_abort(sprintf("The weight would have dim %s: too many parameters.",
                      dims_text(weight_dim)), "convtranspose_size_error", call)
  state <- new.env(parent = emptyenv())
  state$config <- list(layer = layer, rank = rank, in_channels = in_channels,
                       out_channels = out_channels, kernel_size = kernel_size, stride = stride,
                       padding = padding, output_padding = if (transposed) output_padding,
                       groups = groups, dilation = dilation, padding_mode = padding_mode,
                       device = device, dtype = dtype)
  reset_parameters(state, weight_dim, bias)

  # The module is a closure over `.state` alone, so saveRDS() stores just the
  # parameters and configuration, never native pointers.
  env <- new.env(parent = topenv())
  env$.state <- state
  module <- if (transposed) {
    function(input, output_size = NULL) module_forward(.state, input, output_size, sys.call())
  } else {
    function(input) module_forward(.state, input, NULL, sys.call())
  }
  environment(module) <- env
  prefix <- if (transposed) "nn_conv_transpose" else "nn_conv"
  structure(module, class = c(paste0(prefix, rank, "d"), "convtranspose_module", "function"))
}

module_state <- function(module) get(".state", envir = environment(unclass(module)))

# PyTorch's layouts and default initialisation: U(-sqrt(k), sqrt(k)) with
# k = groups / (fan-in channels * prod(kernel_size)); with no fan-in (a
# convolution of zero input channels) the bias starts at zero.
reset_parameters <- function(state, weight_dim = dim(state$weight),
                             has_bias = !is.null(state$bias)) {
  cfg <- state$config
  fan_in <- (if (cfg$layer == "conv_transpose") cfg$out_channels else cfg$in_channels) *
    prod(cfg$kernel_size)
  bound <- if (fan_in > 0) sqrt(cfg$groups / fan_in) else 0
  state$weight <- array(stats::runif(prod(weight_dim), -bound, bound), weight_dim)
  state$bias <- if (has_bias) stats::runif(cfg$out_channels, -bound, bound) else NULL
  invisible(NULL)
}

# m$state_dict(): the parameters by PyTorch's names.
module_state_dict <- function(state) {
  if (is.null(state$bias)) list(weight = state$weight) else
    list(weight = state$weight, bias = state$bias)
}

# m$load_state_dict(): every entry checked before any is assigned, so a
# wrong entry leaves the module as it was.
module_load_state_dict <- function(module, state, state_dict, strict, prefix, call) {
  if (!is.list(state_dict) || is.object(state_dict) && !is.list(unclass(state_dict)) ||
      length(state_dict) && is.null(names(state_dict)))
    cvt_abort(sprintf("`state_dict` must be a named list of arrays, not %s.",
                      describe_value(state_dict)), "convtranspose_argument_error", call)
  strict <- as_flag(strict, "strict", call)
  if (!is.character(prefix) || length(prefix) != 1L || is.na(prefix))
    cvt_abort(sprintf("`prefix` must be a single string, not %s.", describe_value(prefix)),
              "convtranspose_argument_error", call)
  keys <- names(state_dict)
  mine <- !is.na(keys) & startsWith(keys, prefix)
  entries <- state_dict[mine]
  names(entries) <- substring(keys[mine], nchar(prefix) + 1L)
  expected <- c("weight", if (!is.null(state$bias)) "bias")
  missing <- setdiff(expected, names(entries))
  unexpected <- setdiff(names(entries), expected)
  if (strict && length(missing))
    cvt_abort(sprintf("`state_dict` has no entry %s for this %s module%s.",
                      paste0("\"", prefix, missing, "\"", collapse = " or "), class(module)[1],
                      if (nzchar(prefix)) "" else " (use `prefix` to pick a layer of a model)"),
              "convtranspose_shape_error", call)
  if (strict && length(unexpected))
    cvt_abort(sprintf(paste0("`state_dict` has unexpected entr%s %s for this %s module%s ",
                             "(strict = TRUE)."),
                      if (length(unexpected) > 1L) "ies" else "y",
                      paste0("\"", prefix, unexpected, "\"", collapse = ", "),
                      class(module)[1], if (identical(unexpected, "bias")) ", built with bias = FALSE" else ""),
              "convtranspose_shape_error", call)
  known <- names(entries)[names(entries) %in% expected]
  if (anyDuplicated(known))
    cvt_abort(sprintf("`state_dict` has the entry \"%s%s\" twice.", prefix,
                      known[anyDuplicated(known)]), "convtranspose_shape_error", call)
  new_values <- list()
  for (key in intersect(expected, names(entries))) {
    value <- entries[[key]]
    label <- paste0(prefix, key)
    if (!(is.numeric(value) || is.logical(value)) || is.object(value) && !is.array(value))
      cvt_abort(sprintf("`state_dict` entry \"%s\" must be a numeric array, not %s.", label,
                        describe_value(value)), "convtranspose_argument_error", call)
    want <- if (key == "weight") dim(state$weight) else state$config$out_channels
    have <- if (is.null(dim(value))) length(value) else dim(value)
    if (!identical(as.integer(have), as.integer(want)))
      cvt_abort(sprintf("`state_dict` entry \"%s\" has shape %s, but this module's %s has %s.",
                        label, dims_text(have), key, dims_text(want)),
                "convtranspose_shape_error", call)
    value <- as.double(value)
    if (key == "weight") dim(value) <- want
    new_values[[key]] <- value
  }
  for (key in names(new_values)) assign(key, new_values[[key]], envir = state)
  invisible(module)
}

# The module's plan for an input (and, for a transposed convolution, an
# optional output_size).
module_plan <- function(state, input, output_size, call,
                        output_padding = state$config$output_padding) {
  cfg <- state$config
  if (cfg$layer == "conv_transpose") {
    conv_transpose_plan(cfg$rank, input, state$weight, state$bias, cfg$stride, cfg$padding,
                        output_padding, cfg$groups, cfg$dilation, cfg$device, cfg$dtype,
                        call, output_size = output_size)
  } else {
    conv_plan(cfg$rank, input, state$weight, state$bias, cfg$stride, cfg$padding,
              cfg$dilation, cfg$groups, cfg$device, cfg$dtype, call,
              padding_mode = cfg$padding_mode)
  }
}

# m$to(dtype, device): moves the module (parameters stay R arrays; only
# where later calls compute changes) and returns it, as torch's `$to()`. A
# device given first (m$to("cuda")) is taken as the device, as in PyTorch.
module_to <- function(module, state, dtype, device, call) {
  if (is.null(device) && is.character(dtype) && length(dtype) == 1L && !is.na(dtype) &&
      grepl("^(cpu|cuda(:[0-9]+)?)$", dtype)) {
    device <- dtype
    dtype <- NULL
  }
  # both checked before either changes
  new_device <- if (!is.null(device)) resolve_device(device, call)
  new_dtype <- if (!is.null(dtype)) resolve_dtype(dtype, call)
  if (!is.null(new_device)) state$config$device <- new_device
  if (!is.null(new_dtype)) state$config$dtype <- new_dtype
  invisible(module)
}

module_forward <- function(state, input, output_size, call) {
  plan <- module_plan(state, input, output_size, call)  # errors outside lazy arguments
  layer_forward(plan)
}

module_backward <- function(state, grad_output, input, call) {
  plan <- module_plan(state, input, NULL, call)
  if (state$config$layer == "conv_transpose") {
    # The output size (hence output_padding) is read from grad_output, so the
    # gradient matches a forward call made with output_size: any output
    # padding the layer allows (below the stride or the dilation).
    grad_output <- as_numeric_array(grad_output, "grad_output", call)
    gdim <- dim(grad_output)
    rank <- plan$rank
    lead <- length(plan$out_dim) - rank
    if (length(gdim) == length(plan$out_dim) &&
        identical(as.integer(gdim[seq_len(lead)]), plan$out_dim[seq_len(lead)])) {
      implied <- utils::tail(gdim, rank) - (utils::tail(plan$out_dim, rank) - plan$output_padding)
      if (all(implied >= 0) && all(implied < plan$stride | implied < plan$dilation) &&
          any(implied != plan$output_padding)) {
        plan <- module_plan(state, input, NULL, call, output_padding = implied)
      }
    }
  }
  grads <- layer_backward(plan, grad_output)
  if (is.null(state$bias)) grads["bias"] <- list(NULL)
  grads
}

#' @rdname nn_conv_transpose
#' @export
nn_conv_transpose1d <- function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                                output_padding = 0, groups = 1, bias = TRUE, dilation = 1,
                                padding_mode = "zeros", device = NULL, dtype = NULL) {
  new_conv_module("conv_transpose", 1L, in_channels, out_channels, kernel_size, stride, padding,
                  output_padding, groups, bias, dilation, padding_mode, device, dtype,
                  sys.call())
}

#' @rdname nn_conv_transpose
#' @export
nn_conv_transpose2d <- function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                                output_padding = 0, groups = 1, bias = TRUE, dilation = 1,
                                padding_mode = "zeros", device = NULL, dtype = NULL) {
  new_conv_module("conv_transpose", 2L, in_channels, out_channels, kernel_size, stride, padding,
                  output_padding, groups, bias, dilation, padding_mode, device, dtype,
                  sys.call())
}

#' @rdname nn_conv_transpose
#' @export
nn_conv_transpose3d <- function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                                output_padding = 0, groups = 1, bias = TRUE, dilation = 1,
                                padding_mode = "zeros", device = NULL, dtype = NULL) {
  new_conv_module("conv_transpose", 3L, in_channels, out_channels, kernel_size, stride, padding,
                  output_padding, groups, bias, dilation, padding_mode, device, dtype,
                  sys.call())
}

#' Convolution modules
#'
#' `nn_conv1d()`, `nn_conv2d()` and `nn_conv3d()` create convolution layers
#' with the arguments of the torch package's modules of the same names
#' (PyTorch's `Conv1d/2d/3d`), on plain R arrays: `m(input)` returns the
#' output, `m$backward(grad_output, input)` the gradients of
#' `sum(grad_output * m(input))` with respect to the input, weight and bias.
#' Fields, parameter replacement and the methods (`state_dict()`,
#' `load_state_dict()`, `reset_parameters()`, `to()`) work as for
#' [nn_conv_transpose]; the weight has dim `c(out_channels, in_channels /
#' groups, kernel_size)` and starts as U(-sqrt(k), sqrt(k)) with `k = groups
#' / (in_channels * prod(kernel_size))`, as in PyTorch.
#'
#' As in PyTorch, `in_channels` may be 0 (the weight then has dim
#' `c(out_channels, 0, kernel_size)` and the bias starts at 0): every output
#' is then the bias, or 0 without one, which is what the definition gives
#' (PyTorch 1.13 itself returns an empty result there), and the input and
#' weight gradients are empty arrays.
#'
#' @inheritParams nn_conv_transpose
#' @param stride,dilation A single positive integer or one per spatial
#'   dimension.
#' @param padding A single integer or one per spatial dimension, or
#'   `"valid"` or `"same"` (stride 1 only), as in [nnf_conv2d()].
#' @param padding_mode `"zeros"` (default), `"reflect"`, `"replicate"` or
#'   `"circular"`: how the input is padded, as in PyTorch.
#' @return A module of class `c("nn_conv2d", "convtranspose_module",
#'   "function")` (and likewise for 1d and 3d).
#' @examples
#' m <- nn_conv2d(16, 33, 3, stride = 2)
#' m <- nn_conv2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2), dilation = c(3, 1))
#' input <- array(rnorm(2 * 16 * 20 * 30), c(2, 16, 20, 30))
#' dim(m(input))   # 2 33 13 28
#' m <- nn_conv1d(4, 4, 3, padding = "same", padding_mode = "circular")
#' dim(m(array(rnorm(4 * 10), c(4, 10))))   # 4 10
#' @name nn_conv
NULL

#' @rdname nn_conv
#' @export
nn_conv1d <- function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                      dilation = 1, groups = 1, bias = TRUE, padding_mode = "zeros",
                      device = NULL, dtype = NULL) {
  new_conv_module("conv", 1L, in_channels, out_channels, kernel_size, stride, padding, NULL,
                  groups, bias, dilation, padding_mode, device, dtype, sys.call())
}

#' @rdname nn_conv
#' @export
nn_conv2d <- function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                      dilation = 1, groups = 1, bias = TRUE, padding_mode = "zeros",
                      device = NULL, dtype = NULL) {
  new_conv_module("conv", 2L, in_channels, out_channels, kernel_size, stride, padding, NULL,
                  groups, bias, dilation, padding_mode, device, dtype, sys.call())
}

#' @rdname nn_conv
#' @export
nn_conv3d <- function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                      dilation = 1, groups = 1, bias = TRUE, padding_mode = "zeros",
                      device = NULL, dtype = NULL) {
  new_conv_module("conv", 3L, in_channels, out_channels, kernel_size, stride, padding, NULL,
                  groups, bias, dilation, padding_mode, device, dtype, sys.call())
}

#' @export
`$.convtranspose_module` <- function(x, name) {
  state <- module_state(x)
  switch(name,
         weight = state$weight,
         bias = state$bias,
         parameters = list(weight = state$weight, bias = state$bias),
         forward = x,
         backward = function(grad_output, input) {
           module_backward(state, grad_output, input, sys.call())
         },
         to = function(dtype = NULL, device = NULL) {
           module_to(x, state, dtype, device, sys.call())
         },
         state_dict = function() module_state_dict(state),
         load_state_dict = function(state_dict, strict = TRUE, prefix = "") {
           module_load_state_dict(x, state, state_dict, strict, prefix, sys.call())
         },
         reset_parameters = function() {
           reset_parameters(state)
           invisible(x)
         },
         {
           fields <- module_fields(state$config$layer)
           if (name %in% fields) return(state$config[[name]])
           cvt_abort(sprintf("A %s module has no field `%s`. Fields: %s.", class(x)[1], name,
                             paste(fields, collapse = ", ")),
                     "convtranspose_argument_error", sys.call())
         })
}

#' @export
`[[.convtranspose_module` <- function(x, i) `$.convtranspose_module`(x, i)

#' @export
`$<-.convtranspose_module` <- function(x, name, value) {
  state <- module_state(x)
  call <- sys.call()
  cfg <- state$config
  if (identical(name, "weight")) {
    value <- as_numeric_array(value, "weight", call)
    if (!identical(as.integer(dim(value)), as.integer(dim(state$weight))))
      cvt_abort(sprintf("The new `weight` must have dim %s, not %s.",
                        dims_text(dim(state$weight)), dims_text(dim(value))),
                "convtranspose_shape_error", call)
    dim(value) <- dim(state$weight)
    state$weight <- value
  } else if (identical(name, "bias")) {
    # (an update m$bias - lr * g$bias of a module without bias gives an
    # empty vector: it stays without bias)
    if (is.null(state$bias) && (is.numeric(value) || is.logical(value)) && !length(value))
      value <- NULL
    if (!is.null(value)) {
      if (!(is.numeric(value) || is.logical(value)) || is.object(value) ||
          length(dim(value)) > 1L || length(value) != cfg$out_channels)
        cvt_abort(sprintf("The new `bias` must be NULL or a numeric vector of length %d, not %s.",
                          cfg$out_channels, describe_value(value)),
                  "convtranspose_shape_error", call)
      value <- as.double(value)
    }
    state$bias <- value
  } else {
    cvt_abort(sprintf(paste0("`%s` cannot be set: only `weight` and `bias` can be replaced; ",
                             "hyperparameters are fixed when the module is created."), name),
              "convtranspose_argument_error", call)
  }
  invisible(x)
}

#' @export
`[[<-.convtranspose_module` <- function(x, i, value) `$<-.convtranspose_module`(x, i, value)

#' @export
names.convtranspose_module <- function(x) module_fields(module_state(x)$config$layer)

#' @importFrom utils .DollarNames
#' @method .DollarNames convtranspose_module
#' @export
.DollarNames.convtranspose_module <- function(x, pattern = "") {
  grep(pattern, names(x), value = TRUE)
}

# The constructor call that would rebuild this module's configuration,
# listing only the arguments that differ from their defaults (as PyTorch's
# repr does).
format_module_call <- function(x) {
  cfg <- module_state(x)$config
  vec <- function(v) {
    if (is.character(v)) return(sprintf("\"%s\"", v))
    if (length(unique(v)) == 1L) as.character(v[1]) else dims_text(v)
  }
  args <- c(as.character(cfg$in_channels), as.character(cfg$out_channels), vec(cfg$kernel_size))
  optional <- list(stride = list(cfg$stride, 1), padding = list(cfg$padding, 0),
                   output_padding = list(cfg$output_padding, 0),
                   groups = list(cfg$groups, 1), dilation = list(cfg$dilation, 1))
  for (nm in names(optional)) {
    value <- optional[[nm]][[1]]
    if (!is.null(value) && (is.character(value) || any(value != optional[[nm]][[2]])))
      args <- c(args, paste(nm, "=", vec(value)))
  }
  if (is.null(module_state(x)$bias)) args <- c(args, "bias = FALSE")
  if (cfg$padding_mode != "zeros") args <- c(args, sprintf("padding_mode = \"%s\"", cfg$padding_mode))
  if (cfg$dtype != "float64") args <- c(args, sprintf("dtype = \"%s\"", cfg$dtype))
  if (cfg$device != "cpu") args <- c(args, sprintf("device = \"%s\"", cfg$device))
  sprintf("%s(%s)", class(x)[1], paste(args, collapse = ", "))
}

#' @export
format.convtranspose_module <- function(x, ...) format_module_call(x)

#' @export
print.convtranspose_module <- function(x, ...) {
  state <- module_state(x)
  n_weight <- length(state$weight)
  n_bias <- length(state$bias)
  cat("An `", class(x)[1], "` module\n", sep = "")
  cat("  ", format_module_call(x), "\n", sep = "")
  cat(sprintf("  Parameters: %s (weight %s%s)\n",
              format(n_weight + n_bias, big.mark = ","),
              paste(dim(state$weight), collapse = " x "),
              if (n_bias) sprintf(", bias %d", n_bias) else ""))
  invisible(x)
}
