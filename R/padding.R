# Non-zero padding modes of nn_conv*d ("reflect", "replicate", "circular"),
# done as PyTorch does them: pad the input explicitly, then convolve with no
# padding. The gradient flows back through the padding by its adjoint: every
# padded position adds its gradient to the input position it copied.

# For one dimension of size `n`, the (1-based) input index each padded
# position copies.
pad_source_index <- function(n, left, right, mode) {
  j <- seq.int(-left, n - 1L + right)  # 0-based positions of the padded axis
  idx <- switch(mode,
    reflect = {
      period <- 2L * (n - 1L)
      r <- if (period > 0) j %% period else j * 0L
      ifelse(r < n, r, period - r)
    },
    replicate = pmin(pmax(j, 0L), n - 1L),
    circular = j %% n
  )
  as.integer(idx) + 1L
}

# Checks PyTorch's limits for each mode (reflect: padding < size; circular:
# padding <= size) and returns the per-dimension source indices.
padding_indices <- function(in_size, left, right, mode, call) {
  lapply(seq_along(in_size), function(d) {
    n <- in_size[d]
    if (mode == "reflect" && max(left[d], right[d]) >= n)
      cvt_abort(sprintf(paste0("padding_mode = \"reflect\" needs padding smaller than the input ",
                               "size, but dimension %d has size %d and padding %d."),
                        d, n, max(left[d], right[d])), "convtranspose_shape_error", call)
    if (mode == "circular" && max(left[d], right[d]) > n)
      cvt_abort(sprintf(paste0("padding_mode = \"circular\" needs padding no larger than the ",
                               "input size, but dimension %d has size %d and padding %d."),
                        d, n, max(left[d], right[d])), "convtranspose_shape_error", call)
    pad_source_index(n, left[d], right[d], mode)
  })
}

# x with its trailing length(index) dimensions re-indexed.
pad_array <- function(x, index) {
  d <- dim(x)
  lead <- length(d) - length(index)
  subscripts <- c(lapply(seq_len(lead), function(i) seq_len(d[i])), index)
  do.call(`[`, c(list(x), subscripts, list(drop = FALSE)))
}

# The adjoint of pad_array(): sums the gradient of every padded position into
# the position it was copied from.
unpad_gradient <- function(grad, index, in_size) {
  d <- dim(grad)
  lead <- length(d) - length(index)
  for (k in seq_along(index)) {
    axis <- lead + k
    others <- setdiff(seq_along(d), axis)
    moved <- aperm(grad, c(axis, others))
    summed <- rowsum(matrix(moved, d[axis]), index[[k]], reorder = TRUE)
    d[axis] <- in_size[k]
    grad <- aperm(array(summed, c(d[axis], d[others])), order(c(axis, others)))
  }
  grad
}
