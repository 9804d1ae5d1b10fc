# The one argument-checking helper shared by the 1d/2d/3d functions and
# modules: every user-facing entry point goes through conv_transpose_plan(),
# which validates and normalises the arguments, resolves the output shape and
# raises classed errors (see errors.R) before any native code runs.

rank_label <- function(rank) paste0(rank, "d")

# A size argument: one integer-valued number, or one per spatial dimension.
as_size_vector <- function(value, name, rank, min, call) {
  what <- if (min >= 1) "positive" else "non-negative"
  shape <- if (rank == 1) "a single integer" else
    sprintf("a single integer or a vector of %d integers", rank)
  bad <- function(reason) {
    cvt_abort(sprintf("`%s` must be %s (%s), not %s%s.", name, shape, what,
                      describe_value(value), reason),
              "convtranspose_argument_error", call)
  }
  # (this runs four times per call: the checks are kept to cheap primitives)
  if (!is.numeric(value) || is.object(value) || !is.null(dim(value)) && length(dim(value)) > 1)
    bad("")
  n <- length(value)
  if (n != 1L && n != rank) bad(sprintf(" (length %d)", n))
  if (!all(is.finite(value))) bad("")
  if (any(value != trunc(value))) bad(" (not integer-valued)")
  if (any(value < min)) bad("")
  if (any(value > .Machine$integer.max)) bad(" (too large)")
  if (n == rank) as.integer(value) else rep_len(as.integer(value), rank)
}

# A single count such as groups or in_channels.
as_count <- function(value, name, call, min = 1L) {
  if (!is.numeric(value) || is.object(value) || length(value) != 1L || is.na(value) ||
      !is.finite(value) || value != round(value) || value < min ||
      value > .Machine$integer.max) {
    cvt_abort(sprintf("`%s` must be a single %s integer, not %s.", name,
                      if (min >= 1) "positive" else "non-negative", describe_value(value)),
              "convtranspose_argument_error", call)
  }
  as.integer(value)
}

as_flag <- function(value, name, call) {
  if (!is.logical(value) || length(value) != 1L || is.na(value))
    cvt_abort(sprintf("`%s` must be TRUE or FALSE, not %s.", name, describe_value(value)),
              "convtranspose_argument_error", call)
  value
}

# "cpu", or "cuda" / "cuda:N" checked against this build and machine
# (returned as "cuda:N").
resolve_device <- function(device, call) {
  if (is.null(device)) device <- getOption("convtranspose.device", "cpu")
  if (!is.character(device) || length(device) != 1L || is.na(device))
    cvt_abort(sprintf("`device` must be \"cpu\", \"cuda\" or \"cuda:N\", not %s.",
                      describe_value(device)), "convtranspose_argument_error", call)
  if (identical(device, "cpu")) return("cpu")
  if (grepl("^cuda(:[0-9]+)?$", device)) return(resolve_cuda_device(device, call))
  cvt_abort(sprintf("`device` must be \"cpu\", \"cuda\" or \"cuda:N\", not %s.",
                    describe_value(device)),
            "convtranspose_argument_error", call)
}

resolve_dtype <- function(dtype, call) {
  if (is.null(dtype)) dtype <- getOption("convtranspose.dtype", "float64")
  known <- c(float64 = "float64", double = "float64", float32 = "float32", float = "float32")
  if (!is.character(dtype) || length(dtype) != 1L || is.na(dtype) || !(dtype %in% names(known)))
    cvt_abort(sprintf("`dtype` must be \"float64\" or \"float32\", not %s.",
                      describe_value(dtype)),
              "convtranspose_argument_error", call)
  unname(known[dtype])
}

# A numeric (or integer/logical) array, taken as double.
as_numeric_array <- function(value, name, call) {
  if (!(is.numeric(value) || is.logical(value)) || is.object(value) && !is.array(value) ||
      is.null(dim(value))) {
    kind <- if (is.atomic(value) && is.null(dim(value)) && !is.null(value))
      sprintf("a vector without dim (%s)", describe_value(value)) else describe_value(value)
    cvt_abort(sprintf("`%s` must be a numeric array, not %s.", name, kind),
              "convtranspose_argument_error", call)
  }
  if (!is.double(value)) storage.mode(value) <- "double"
  value
}

check_output_padding <- function(output_padding, stride, dilation, call) {
  bad <- which(output_padding >= stride & output_padding >= dilation)
  if (length(bad)) {
    d <- bad[1]
    cvt_abort(sprintf(paste0("`output_padding` must be smaller than either `stride` or ",
                             "`dilation` in every dimension, but in dimension %d ",
                             "output_padding = %d, stride = %d and dilation = %d."),
                      d, output_padding[d], stride[d], dilation[d]),
              "convtranspose_argument_error", call)
  }
}

# Output padding implied by a requested output_size (PyTorch's _output_padding,
# with dilation taken into account).
output_padding_for_size <- function(output_size, batched, in_size, stride, padding,
                                    kernel_size, dilation, call) {
  rank <- length(in_size)
  full <- rank + if (batched) 2L else 1L
  if (!is.numeric(output_size) || is.object(output_size) ||
      !(length(output_size) %in% c(rank, full)) || anyNA(output_size) ||
      any(!is.finite(output_size)) || any(output_size != round(output_size))) {
    cvt_abort(sprintf(paste0("`output_size` must be %d integers (the spatial sizes) or %d ",
                             "(the full dim() of the output), not %s."),
                      rank, full, describe_value(output_size)),
              "convtranspose_argument_error", call)
  }
  # Like PyTorch, the batch and channel entries of a full dim() are ignored,
  # so output_size = dim(skip_connection) works whatever its channel count.
  if (length(output_size) == full) output_size <- output_size[(full - rank + 1L):full]
  min_size <- (in_size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1
  max_size <- min_size + stride - 1
  bad <- which(output_size < min_size | output_size > max_size)
  if (length(bad)) {
    d <- bad[1]
    cvt_abort(sprintf(paste0("`output_size` %s is not reachable: in dimension %d the ",
                             "output size must be between %s and %s, not %s."),
                      dims_text(output_size), d, format(min_size[d], scientific = FALSE),
                      format(max_size[d], scientific = FALSE),
                      format(output_size[d], scientific = FALSE)),
              "convtranspose_shape_error", call)
  }
  as.integer(output_size - min_size)
}

# Bytes of memory this machine has, for refusing absurd requests up front.
memory_limit_bytes <- function() {
  limit <- getOption("convtranspose.max_memory")
  if (!is.null(limit)) return(as.numeric(limit))
  if (is.null(the$physical_memory)) {
    bytes <- Inf
    info <- tryCatch(readLines("/proc/meminfo", n = 1L, warn = FALSE),
                     error = function(e) character())
    if (length(info) == 1L && grepl("^MemTotal:", info)) {
      kb <- suppressWarnings(as.numeric(gsub("[^0-9]", "", info)))
      if (is.finite(kb)) bytes <- kb * 1024
    }
    the$physical_memory <- bytes
  }
  the$physical_memory
}

format_bytes <- function(bytes) {
  units <- c("bytes", "KB", "MB", "GB", "TB", "PB", "EB")
  i <- max(1, min(length(units), floor(log(max(bytes, 1), 1024)) + 1))
  sprintf("%.1f %s", bytes / 1024^(i - 1), units[i])
}

# Refuses results that R cannot hold or this machine cannot allocate: the
# result itself plus, for a batch of several samples, the sample-major copy
# the kernels write before the layout change.
check_result_size <- function(out_dim, call, batch = 1) {
  if (any(out_dim > .Machine$integer.max))
    cvt_abort(sprintf("The result would have dim %s, beyond R's limit of %d per dimension.",
                      dims_text(out_dim), .Machine$integer.max),
              "convtranspose_size_error", call)
  elements <- prod(out_dim)
  if (elements > 2^52)
    cvt_abort(sprintf("The result would have %s elements, more than an R array can hold (2^52).",
                      format(elements, big.mark = ",", scientific = FALSE)),
              "convtranspose_size_error", call)
  bytes <- 8 * elements * (if (batch > 1) 2 else 1)
  limit <- memory_limit_bytes()
  if (bytes > limit)
    cvt_abort(sprintf(paste0("The result would have dim %s and need %s of memory, more than ",
                             "the %s this machine has (option `convtranspose.max_memory`)."),
                      dims_text(out_dim), format_bytes(bytes), format_bytes(limit)),
              "convtranspose_size_error", call)
}

# The weight of either layer: rank + 2 dims, none empty, PyTorch's layout
# (transposed: c(in, out / groups, kernel); convolution: c(out, in / groups,
# kernel)), its first dim divisible by groups.
check_weight <- function(weight, rank, groups, layer, call) {
  transposed <- layer == "conv_transpose"
  weight <- as_numeric_array(weight, "weight", call)
  wdim <- dim(weight)
  layout <- if (transposed) "c(in_channels, out_channels / groups, %s)" else
    "c(out_channels, in_channels / groups, %s)"
  if (length(wdim) != rank + 2L)
    cvt_abort(sprintf("`weight` must have %d dimensions %s for a %s %sconvolution, not dim %s.",
                      rank + 2L, sprintf(layout, c("kL", "kH, kW", "kD, kH, kW")[rank]),
                      rank_label(rank), if (transposed) "transposed " else "", dims_text(wdim)),
              "convtranspose_shape_error", call)
  # only a convolution's input channels (dim 2) may be zero
  if (any(wdim[if (transposed) seq_along(wdim) else -2L] == 0L))
    cvt_abort(sprintf("`weight` must not have an empty dimension%s; it has dim %s.",
                      if (transposed) "" else " other than the input channels (dim 2)",
                      dims_text(wdim)), "convtranspose_shape_error", call)
  if (wdim[1] %% groups != 0L)
    cvt_abort(sprintf("dim(weight)[1] = %d %s channels is not divisible by groups = %d.",
                      wdim[1], if (transposed) "input" else "output", groups),
              "convtranspose_shape_error", call)
  if (as.numeric(wdim[2]) * groups > .Machine$integer.max)
    cvt_abort(sprintf("%s = dim(weight)[2] * groups is too large.",
                      if (transposed) "out_channels" else "in_channels"),
              "convtranspose_size_error", call)
  first <- wdim[1]
  second <- wdim[2] * groups
  list(weight = weight, kernel_size = as.integer(wdim[-(1:2)]),
       in_channels = if (transposed) first else second,
       out_channels = if (transposed) second else first)
}

# The input of either layer: batched c(N, C, ...) or unbatched c(C, ...),
# with the channels the weight expects (`expected_by` says where that number
# comes from) and non-empty spatial dims.
check_input <- function(input, rank, in_channels, expected_by, fn_label, call) {
  input <- as_numeric_array(input, "input", call)
  xdim <- dim(input)
  shapes <- c("L", "H, W", "D, H, W")[rank]
  if (!(length(xdim) %in% c(rank + 1L, rank + 2L)))
    cvt_abort(sprintf(paste0("`input` must have %d dimensions (batched: c(N, C_in, %s)) or %d ",
                             "(unbatched: c(C_in, %s)) for %s, not dim %s."),
                      rank + 2L, shapes, rank + 1L, shapes, fn_label, dims_text(xdim)),
              "convtranspose_shape_error", call)
  batched <- length(xdim) == rank + 2L
  channels <- xdim[if (batched) 2L else 1L]
  if (channels != in_channels)
    cvt_abort(sprintf("`input` has %d channels (dim %s) but `weight` expects %d (%s).",
                      channels, dims_text(xdim), in_channels, expected_by),
              "convtranspose_shape_error", call)
  in_size <- as.integer(xdim[(length(xdim) - rank + 1L):length(xdim)])
  if (any(in_size == 0L))
    cvt_abort(sprintf("`input` must have non-empty spatial dimensions, not dim %s.",
                      dims_text(xdim)), "convtranspose_shape_error", call)
  list(input = input, batched = batched, batch = if (batched) xdim[1] else 1L, in_size = in_size)
}

check_bias <- function(bias, out_channels, call) {
  if (is.null(bias)) return(NULL)
  if (!(is.numeric(bias) || is.logical(bias)) || is.object(bias) ||
      length(dim(bias)) > 1L || length(bias) != out_channels)
    cvt_abort(sprintf("`bias` must be NULL or a numeric vector of length out_channels = %d, not %s.",
                      out_channels, describe_value(bias)), "convtranspose_shape_error", call)
  as.double(bias)
}

# Validates a transposed convolution call and resolves every size. Returns a
# list ready for run_conv_transpose().
conv_transpose_plan <- function(rank, input, weight, bias, stride, padding, output_padding,
                                groups, dilation, device, dtype, call, output_size = NULL) {
  label <- rank_label(rank)
  device <- resolve_device(device, call)
  dtype <- resolve_dtype(dtype, call)
  groups <- as_count(groups, "groups", call)
  stride <- as_size_vector(stride, "stride", rank, 1L, call)
  padding <- as_size_vector(padding, "padding", rank, 0L, call)
  output_padding <- as_size_vector(output_padding, "output_padding", rank, 0L, call)
  dilation <- as_size_vector(dilation, "dilation", rank, 1L, call)

  w <- check_weight(weight, rank, groups, "conv_transpose", call)
  weight <- w$weight
  in_channels <- w$in_channels
  out_channels <- w$out_channels
  kernel_size <- w$kernel_size
  x <- check_input(input, rank, in_channels, "dim(weight)[1]", paste0("conv_transpose", label), call)
  input <- x$input
  xdim <- dim(input)
  batched <- x$batched
  batch <- x$batch
  in_size <- x$in_size
  bias <- check_bias(bias, out_channels, call)

  if (!is.null(output_size)) {
    output_padding <- output_padding_for_size(output_size, batched, in_size, stride, padding,
                                              kernel_size, dilation, call)
  }
  check_output_padding(output_padding, stride, dilation, call)
  out_size <- (in_size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) +
    output_padding + 1
  if (any(out_size < 1))
    cvt_abort(sprintf(paste0("Output size is too small: given input size per channel %s, ",
                             "the calculated output size per channel is %s."),
                      dims_text(in_size), dims_text(out_size)),
              "convtranspose_shape_error", call)
  out_dim <- c(if (batched) batch, out_channels, out_size)
  check_result_size(out_dim, call, batch)

  list(layer = "conv_transpose", batched = batched, padding_right = padding,
       input_dim = as.integer(xdim),
       rank = rank, input = input, weight = weight, bias = bias, batch = batch,
       in_channels = as.integer(in_channels), out_channels = as.integer(out_channels),
       in_size = in_size, kernel_size = kernel_size, stride = stride, padding = padding,
       output_padding = output_padding, dilation = dilation, groups = groups,
       out_dim = as.integer(out_dim), device = device, dtype = dtype, call = call)
}

# The padding of a convolution: numbers, "valid" (none) or "same" (output
# as large as the input, stride 1 only; an odd total puts the extra on the
# right, as PyTorch does). Returns list(left, right).
resolve_conv_padding <- function(padding, rank, kernel_size, stride, dilation, call) {
  if (is.character(padding)) {
    if (length(padding) != 1L || is.na(padding) || !(padding %in% c("valid", "same")))
      cvt_abort(sprintf("`padding` must be \"valid\", \"same\" or integers, not %s.",
                        describe_value(padding)), "convtranspose_argument_error", call)
    if (padding == "valid") return(list(left = rep(0L, rank), right = rep(0L, rank)))
    if (any(stride != 1L))
      cvt_abort("padding = \"same\" is not supported for strided convolutions (stride must be 1).",
                "convtranspose_argument_error", call)
    total <- dilation * (kernel_size - 1L)
    left <- total %/% 2L
    return(list(left = as.integer(left), right = as.integer(total - left)))
  }
  p <- as_size_vector(padding, "padding", rank, 0L, call)
  list(left = p, right = p)
}

# Validates a convolution call and resolves every size; non-zero padding
# modes pad the input here (see padding.R) so the core sees padding 0.
conv_plan <- function(rank, input, weight, bias, stride, padding, dilation, groups, device,
                      dtype, call, padding_mode = "zeros") {
  device <- resolve_device(device, call)
  dtype <- resolve_dtype(dtype, call)
  groups <- as_count(groups, "groups", call)
  stride <- as_size_vector(stride, "stride", rank, 1L, call)
  dilation <- as_size_vector(dilation, "dilation", rank, 1L, call)
  w <- check_weight(weight, rank, groups, "conv", call)
  weight <- w$weight
  in_channels <- w$in_channels
  out_channels <- w$out_channels
  kernel_size <- w$kernel_size
  pad <- resolve_conv_padding(padding, rank, kernel_size, stride, dilation, call)
  x <- check_input(input, rank, in_channels, "dim(weight)[2] * groups",
                   paste0("conv", rank_label(rank)), call)
  input <- x$input
  batched <- x$batched
  batch <- x$batch
  in_size <- x$in_size
  bias <- check_bias(bias, out_channels, call)

  # Non-zero modes: the core convolves the explicitly padded input.
  pad_index <- NULL
  original_size <- in_size
  # (no channels: nothing to pad, and the sizes are those of zero padding)
  if (padding_mode != "zeros" && any(c(pad$left, pad$right) > 0L) && in_channels > 0L) {
    pad_index <- padding_indices(in_size, pad$left, pad$right, padding_mode, call)
    input <- pad_array(input, pad_index)
    in_size <- as.integer(in_size + pad$left + pad$right)
    pad <- list(left = rep(0L, rank), right = rep(0L, rank))
  }
  span <- dilation * (kernel_size - 1L) + 1
  padded <- in_size + pad$left + pad$right
  if (any(padded < span))
    cvt_abort(sprintf(paste0("Calculated padded input size per channel: %s. Kernel size ",
                             "(dilated): %s. Kernel size can't be greater than actual input ",
                             "size."), dims_text(padded), dims_text(span)),
              "convtranspose_shape_error", call)
  out_size <- (padded - span) %/% stride + 1
  out_dim <- c(if (batched) batch, out_channels, out_size)
  check_result_size(out_dim, call, batch)
  list(layer = "conv", rank = rank, input = input, weight = weight, bias = bias,
       batched = batched, batch = batch, in_channels = as.integer(in_channels),
       out_channels = as.integer(out_channels), in_size = in_size,
       original_size = original_size, pad_index = pad_index,
       input_dim = as.integer(dim(input)), kernel_size = kernel_size, stride = stride,
       padding = pad$left, padding_right = pad$right, output_padding = rep(0L, rank),
       dilation = dilation, groups = groups, out_dim = as.integer(out_dim), device = device,
       dtype = dtype, call = call)
}

# Runs one pass of a resolved plan in native code and turns a failure into an
# R error. `pass`: "forward" (a = input), "input_grad" (a = grad_output) or
# "weight_grad" (a = input, b = grad_output); `out_dim` is the result's dim.
run_native <- function(plan, pass, a, out_dim, b = NULL, weight = plan$weight, bias = NULL) {
  settings <- device_settings(plan$device, plan$call)
  chunk_bytes <- layout_chunk_bytes(plan$call)
  on_cpu <- identical(plan$device, "cpu")
  forced <- if (on_cpu) forced_path_id(plan$call) else -1L
  result <- tryCatch(
    .ct_run(plan$layer, pass, a, b, weight, bias, plan$rank, plan$batch,
            plan$in_channels, plan$out_channels, plan$groups, plan$in_size, plan$kernel_size,
            plan$stride, plan$padding, plan$padding_right, plan$output_padding,
            plan$dilation, as.integer(out_dim), plan$dtype == "float32",
            cvt_get_num_threads(), chunk_bytes, settings, forced),
    error = function(e) {
      cvt_abort(paste("Native code failed:", conditionMessage(e)),
                "convtranspose_native_error", plan$call)
    })
  if (on_cpu && verbose_paths()) report_path()
  if (is.character(result)) {
    status <- attr(result, "status")
    class <- switch(status,
                    out_of_memory = "convtranspose_size_error",
                    size_overflow = "convtranspose_size_error",
                    shape_mismatch = "convtranspose_shape_error",
                    invalid_argument = "convtranspose_argument_error",
                    device_error = "convtranspose_device_error",
                    "convtranspose_native_error")
    source <- if (identical(plan$device, "cpu")) "the C++ core" else
      paste("the CUDA backend on", plan$device)
    cvt_abort(paste0(result[[1]], " (reported by ", source, ": ", status, ")."), class,
              plan$call)
  }
  result
}

# The option convtranspose.layout_chunk_bytes (default 32 MB): how much
# memory the sample-major copies of a batched call may use at a time.
layout_chunk_bytes <- function(call) {
  value <- getOption("convtranspose.layout_chunk_bytes", 32 * 2^20)
  if (!is.numeric(value) || length(value) != 1L || is.na(value) || value < 1)
    cvt_abort(sprintf("Option `convtranspose.layout_chunk_bytes` must be a positive number, not %s.",
                      describe_value(value)), "convtranspose_argument_error", call)
  as.double(value)
}

# Forward pass and gradients of a resolved plan of either layer.
layer_forward <- function(plan) {
  if (plan$in_channels == 0L) return(no_input_channels_output(plan))
  run_native(plan, "forward", plan$input, plan$out_dim, bias = plan$bias)
}

# A convolution of zero input channels: every output is the bias (zero
# without one), in the call's precision.
no_input_channels_output <- function(plan) {
  d <- plan$out_dim
  pixels <- prod(utils::tail(d, plan$rank))
  if (is.null(plan$bias)) return(array(0, d))
  bias <- plan$bias
  if (plan$dtype == "float32")
    bias <- readBin(writeBin(bias, raw(), size = 4L), "double", n = length(bias), size = 4L)
  array(rep(rep(bias, each = if (plan$batched) plan$batch else 1L), times = pixels), d)
}

# Gradients of sum(grad_output * layer(input)) with respect to the input,
# the weight and the bias.
layer_backward <- function(plan, grad_output) {
  grad_output <- check_grad_output(grad_output, plan)
  if (plan$in_channels == 0L) {
    # nothing flows back to an input or weight of no channels: empty arrays
    return(list(input = array(0, plan$input_dim),
                weight = array(0, dim(plan$weight)),
                bias = bias_gradient(grad_output, plan$batched)))
  }
  grad_input <- run_native(plan, "input_grad", grad_output, plan$input_dim)
  if (!is.null(plan$pad_index))
    grad_input <- unpad_gradient(grad_input, plan$pad_index, plan$original_size)
  grad_weight <- run_native(plan, "weight_grad", plan$input, dim(plan$weight), b = grad_output,
                            weight = NULL)
  list(input = grad_input, weight = grad_weight,
       bias = bias_gradient(grad_output, plan$batched))
}

# The gradient of sum(grad_output * layer(input)) wrt the bias: grad_output
# summed over the batch and every spatial position, per channel.
bias_gradient <- function(grad_output, batched) {
  d <- dim(grad_output)
  threads <- cvt_get_num_threads()
  if (batched) .ct_channel_sums(grad_output, d[1], d[2], threads) else
    .ct_channel_sums(grad_output, 1, d[1], threads)
}

# grad_output must have exactly the dims of the forward pass's output.
check_grad_output <- function(grad_output, plan) {
  grad_output <- as_numeric_array(grad_output, "grad_output", plan$call)
  if (!identical(as.integer(dim(grad_output)), as.integer(plan$out_dim)))
    cvt_abort(sprintf("`grad_output` must have the dims of the layer's output, %s, not %s.",
                      dims_text(plan$out_dim), dims_text(dim(grad_output))),
              "convtranspose_shape_error", plan$call)
  grad_output
}
