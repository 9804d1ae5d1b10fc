# Argument checks shared by every layer and pass: each turns a user's value
# into the canonical form the layer specs (layer-spec.R) use, or raises a
# classed error (errors.R) naming the argument, before any native code runs.

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

# grad_output must have exactly the dims of the forward pass's output.
check_grad_output <- function(grad_output, plan) {
  grad_output <- as_numeric_array(grad_output, "grad_output", plan$call)
  if (!identical(as.integer(dim(grad_output)), as.integer(plan$out_dim)))
    cvt_abort(sprintf("`grad_output` must have the dims of the layer's output, %s, not %s.",
                      dims_text(plan$out_dim), dims_text(dim(grad_output))),
              "convtranspose_shape_error", plan$call)
  grad_output
}
