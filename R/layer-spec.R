# A layer call's spec: every user-facing entry point goes through
# conv_transpose_plan() or conv_plan(), which validate and normalise the
# arguments (validate.R) and resolve the output shape, before native code
# (native.R) runs.

# Validates a transposed convolution call and resolves every size. Returns a
# list ready for the native calls (native.R).
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

