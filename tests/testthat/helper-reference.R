# A slow reference written from the definition of the transposed convolution,
# independent of the package's code: every input pixel i and kernel tap k of
# every group adds x[, ci, i] %*% w[ci, co, k] to output pixel
# o = (i - 1) * stride - padding + (k - 1) * dilation + 1 (1-based, per dim).
reference_conv_transpose <- function(input, weight, bias = NULL, stride = 1, padding = 0,
                                     output_padding = 0, groups = 1, dilation = 1) {
  rank <- length(dim(weight)) - 2L
  batched <- length(dim(input)) == rank + 2L
  if (!batched) input <- array(input, c(1L, dim(input)))
  n <- dim(input)[1]
  cin <- dim(input)[2]
  in_size <- dim(input)[-(1:2)]
  k <- dim(weight)[-(1:2)]
  cog <- dim(weight)[2]
  cig <- cin %/% groups
  cout <- cog * groups
  s <- rep_len(stride, rank)
  p <- rep_len(padding, rank)
  op <- rep_len(output_padding, rank)
  d <- rep_len(dilation, rank)
  out_size <- (in_size - 1) * s - 2 * p + d * (k - 1) + op + 1
  fill3 <- function(v, value) c(v, rep(value, 3L - rank))
  in3 <- fill3(in_size, 1L); k3 <- fill3(k, 1L); out3 <- fill3(out_size, 1L)
  s3 <- fill3(s, 1L); p3 <- fill3(p, 0L); d3 <- fill3(d, 1L)
  x <- array(input, c(n, cin, in3))
  w <- array(weight, c(cin, cog, k3))
  y <- array(0, c(n, cout, out3))
  for (g in seq_len(groups)) {
    ci <- (g - 1L) * cig + seq_len(cig)
    co <- (g - 1L) * cog + seq_len(cog)
    for (i1 in seq_len(in3[1])) for (i2 in seq_len(in3[2])) for (i3 in seq_len(in3[3])) {
      xi <- matrix(x[, ci, i1, i2, i3], n, cig)
      for (t1 in seq_len(k3[1])) for (t2 in seq_len(k3[2])) for (t3 in seq_len(k3[3])) {
        o <- (c(i1, i2, i3) - 1) * s3 - p3 + (c(t1, t2, t3) - 1) * d3 + 1
        if (any(o < 1 | o > out3)) next
        y[, co, o[1], o[2], o[3]] <- y[, co, o[1], o[2], o[3]] +
          xi %*% matrix(w[ci, , t1, t2, t3], cig, cog)
      }
    }
  }
  if (!is.null(bias)) for (c in seq_len(cout)) y[, c, , , ] <- y[, c, , , ] + bias[c]
  y <- array(y, c(n, cout, out_size))
  if (!batched) y <- array(y, dim(y)[-1])
  y
}

# The weight gradient from the same definition: output pixel o of tap k
# received x[, ci, i] %*% w[ci, co, k], so d sum(G * y) / d w[ci, co, k] sums
# x[, ci, i] * G[, co, o] over the samples and the input pixels i whose o
# lies on the output grid.
reference_weight_gradient <- function(grad_output, input, kernel_size, stride = 1, padding = 0,
                                      groups = 1, dilation = 1) {
  rank <- length(kernel_size)
  n <- dim(input)[1]
  cin <- dim(input)[2]
  cout <- dim(grad_output)[2]
  cig <- cin %/% groups
  cog <- cout %/% groups
  fill3 <- function(v, value) c(v, rep(value, 3L - rank))
  in3 <- fill3(dim(input)[-(1:2)], 1L); out3 <- fill3(dim(grad_output)[-(1:2)], 1L)
  k3 <- fill3(kernel_size, 1L)
  s3 <- fill3(rep_len(stride, rank), 1L); p3 <- fill3(rep_len(padding, rank), 0L)
  d3 <- fill3(rep_len(dilation, rank), 1L)
  x <- array(input, c(n, cin, in3))
  G <- array(grad_output, c(n, cout, out3))
  dw <- array(0, c(cin, cog, k3))
  for (g in seq_len(groups)) {
    ci <- (g - 1L) * cig + seq_len(cig)
    co <- (g - 1L) * cog + seq_len(cog)
    for (t1 in seq_len(k3[1])) for (t2 in seq_len(k3[2])) for (t3 in seq_len(k3[3])) {
      # per dimension: the input positions whose output lies on the grid
      hit <- lapply(1:3, function(j) {
        i <- seq_len(in3[j])
        o <- (i - 1) * s3[j] - p3[j] + (c(t1, t2, t3)[j] - 1) * d3[j] + 1
        list(i = i[o >= 1 & o <= out3[j]], o = o[o >= 1 & o <= out3[j]])
      })
      if (any(vapply(hit, function(h) length(h$i) == 0, TRUE))) next
      xs <- x[, ci, hit[[1]]$i, hit[[2]]$i, hit[[3]]$i, drop = FALSE]
      gs <- G[, co, hit[[1]]$o, hit[[2]]$o, hit[[3]]$o, drop = FALSE]
      dw[ci, , t1, t2, t3] <- crossprod(matrix(aperm(xs, c(1, 3, 4, 5, 2)), ncol = cig),
                                        matrix(aperm(gs, c(1, 3, 4, 5, 2)), ncol = cog))
    }
  }
  array(dw, c(cin, cog, kernel_size))
}

# Element-wise closeness relative to the result's scale (norm-wise relative
# error), with identical dims.
expect_close <- function(actual, expected, tol = 1e-12) {
  expect_identical(dim(actual), as.integer(dim(expected)))
  scale <- max(1, abs(expected[is.finite(expected)]))
  err <- if (length(expected)) max(abs(actual - expected)) / scale else 0
  expect_true(is.finite(err) && err <= tol,
              label = sprintf("relative error %.3g (tolerance %.3g)", err, tol))
}

transpose_fn <- function(rank) {
  list(nnf_conv_transpose1d, nnf_conv_transpose2d, nnf_conv_transpose3d)[[rank]]
}

module_fn <- function(rank) {
  list(nn_conv_transpose1d, nn_conv_transpose2d, nn_conv_transpose3d)[[rank]]
}

# A random legal configuration of small size.
random_config <- function(rank = sample(1:3, 1), max_size = if (rank == 3) 4 else 6) {
  repeat {
    groups <- sample(c(1, 1, 2, 3), 1)
    cfg <- list(rank = rank, groups = groups,
                cin = groups * sample(1:3, 1), cout = groups * sample(1:3, 1),
                k = sample(1:4, rank, TRUE), s = sample(1:3, rank, TRUE),
                d = sample(1:3, rank, TRUE), p = sample(0:3, rank, TRUE),
                size = sample(1:max_size, rank, TRUE), batch = sample(0:3, 1, prob = c(1, 4, 3, 3)),
                bias = runif(1) < 0.7, unbatched = runif(1) < 0.2)
    cfg$op <- vapply(seq_len(rank), function(i) sample(0:(max(cfg$s[i], cfg$d[i]) - 1), 1), 0)
    out <- (cfg$size - 1) * cfg$s - 2 * cfg$p + cfg$d * (cfg$k - 1) + cfg$op + 1
    if (all(out >= 1)) return(cfg)
  }
}

config_data <- function(cfg) {
  dims <- if (cfg$unbatched) c(cfg$cin, cfg$size) else c(cfg$batch, cfg$cin, cfg$size)
  list(input = array(rnorm(prod(dims)), dims),
       weight = array(rnorm(cfg$cin * cfg$cout / cfg$groups * prod(cfg$k)),
                      c(cfg$cin, cfg$cout / cfg$groups, cfg$k)),
       bias = if (cfg$bias) rnorm(cfg$cout) else NULL)
}

# The input gradient from the same definition: input pixel i of channel ci
# sent x[, ci, i] * w[ci, co, k] to output pixel o(i, k), so
# d sum(G * y) / d x[, ci, i] sums G[, co, o(i, k)] * w[ci, co, k] over the
# taps k whose o lies on the output grid and the group's channels co.
reference_input_gradient <- function(grad_output, weight, input_size, stride = 1, padding = 0,
                                     groups = 1, dilation = 1) {
  rank <- length(dim(weight)) - 2L
  n <- dim(grad_output)[1]
  cin <- dim(weight)[1]
  cog <- dim(weight)[2]
  cig <- cin %/% groups
  fill3 <- function(v, value) c(v, rep(value, 3L - rank))
  in3 <- fill3(input_size, 1L); out3 <- fill3(dim(grad_output)[-(1:2)], 1L)
  k3 <- fill3(dim(weight)[-(1:2)], 1L)
  s3 <- fill3(rep_len(stride, rank), 1L); p3 <- fill3(rep_len(padding, rank), 0L)
  d3 <- fill3(rep_len(dilation, rank), 1L)
  G <- array(grad_output, c(n, cog * groups, out3))
  w <- array(weight, c(cin, cog, k3))
  dx <- array(0, c(n, cin, in3))
  for (g in seq_len(groups)) {
    ci <- (g - 1L) * cig + seq_len(cig)
    co <- (g - 1L) * cog + seq_len(cog)
    for (i1 in seq_len(in3[1])) for (i2 in seq_len(in3[2])) for (i3 in seq_len(in3[3])) {
      for (t1 in seq_len(k3[1])) for (t2 in seq_len(k3[2])) for (t3 in seq_len(k3[3])) {
        o <- (c(i1, i2, i3) - 1) * s3 - p3 + (c(t1, t2, t3) - 1) * d3 + 1
        if (any(o < 1 | o > out3)) next
        dx[, ci, i1, i2, i3] <- dx[, ci, i1, i2, i3] +
          matrix(G[, co, o[1], o[2], o[3]], n, cog) %*% t(matrix(w[ci, , t1, t2, t3], cig, cog))
      }
    }
  }
  array(dx, c(n, cin, input_size))
}
