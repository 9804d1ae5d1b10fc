# Native calls of a resolved layer spec: forward pass and gradients, with
# the core's status turned into classed R errors.

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

