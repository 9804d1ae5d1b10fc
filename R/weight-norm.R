#' Weights saved with weight normalisation
#'
#' PyTorch's weight normalisation (`torch.nn.utils.weight_norm()`, used by
#' HiFi-GAN and WaveGlow) stores a layer's weight as a magnitude `g`
#' (`weight_g` in the state dict) and a direction `v` (`weight_v`); the
#' weight is `g * v / norm(v)`, the norm taken over every dimension but
#' `dim`. `cvt_weight_norm()` computes that weight, so such a checkpoint can
#' be loaded into a module.
#'
#' @param g The magnitudes: as many values as `v` has entries along `dim`
#'   (PyTorch stores them with dims of 1 elsewhere, which is accepted), or a
#'   single value when `dim` is `NULL`.
#' @param v The direction, an array with the weight's dims.
#' @param dim The dimension kept, counted from 1 as in R (PyTorch's `dim =
#'   0`, its default, is `dim = 1` here), or `NULL` for the norm of the whole
#'   array (PyTorch's `dim = None`).
#' @return The weight: an array with the dims of `v`.
#' @examples
#' v <- array(rnorm(4 * 2 * 3), c(4, 2, 3))   # a ConvTranspose1d(4, 2, 3) weight
#' g <- array(c(1, 2, 3, 4), c(4, 1, 1))      # its weight_g
#' w <- cvt_weight_norm(g, v)
#' sqrt(apply(w^2, 1, sum))                   # the magnitudes again: 1 2 3 4
#' m <- nn_conv_transpose1d(4, 2, 3)
#' m$load_state_dict(list(weight = w, bias = m$bias))
#' @export
cvt_weight_norm <- function(g, v, dim = 1) {
  call <- sys.call()
  v <- as_numeric_array(if (is.null(base::dim(v)) && is.numeric(v)) array(v, length(v)) else v,
                        "v", call)
  if (!(is.numeric(g) || is.logical(g)) || is.object(g) && !is.array(g))
    cvt_abort(sprintf("`g` must be a numeric array or vector, not %s.", describe_value(g)),
              "convtranspose_argument_error", call)
  g <- as.double(g)
  if (is.null(dim)) {
    if (length(g) != 1L)
      cvt_abort(sprintf("With `dim = NULL`, `g` must be a single value, not %d values.",
                        length(g)), "convtranspose_shape_error", call)
    return(v * (g / sqrt(sum(v^2))))
  }
  vdim <- base::dim(v)
  dim <- as_count(dim, "dim", call)
  if (dim > length(vdim))
    cvt_abort(sprintf("`dim` = %d, but `v` has only %d dimensions.", dim, length(vdim)),
              "convtranspose_argument_error", call)
  if (length(g) != vdim[dim])
    cvt_abort(sprintf("`g` has %d values, but `v` has %d entries along dim %d.", length(g),
                      vdim[dim], dim), "convtranspose_shape_error", call)
  norms <- sqrt(apply(v^2, dim, sum))
  sweep(v, dim, g / norms, "*")
}
