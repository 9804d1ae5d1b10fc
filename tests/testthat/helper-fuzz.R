# The fuzzer behind test-fuzz.R (a short run) and tools/fuzz.R (a long one):
# random legal configurations, degenerate ones included, must agree with the
# slow reference (forward) and satisfy the adjoint identities (gradients);
# random illegal ones must raise a classed convtranspose_error and nothing
# else.

fuzz_legal_config <- function() {
  rank <- sample(1:3, 1)
  max_size <- c(6, 5, 3)[rank]
  groups <- sample(c(1, 1, 2, 3), 1)
  cfg <- list(rank = rank, groups = groups,
              cin = groups * sample(1:3, 1), cout = groups * sample(1:3, 1),
              k = sample(1:5, rank, TRUE),                 # may exceed the input
              s = sample(1:4, rank, TRUE), d = sample(1:3, rank, TRUE),
              size = sample(1:max_size, rank, TRUE),       # size-1 inputs included
              # zero batch included; 8 and 13 (a partial group of 5) run the
              # vector builds' in-place products
              batch = sample(c(0:3, 8, 13), 1, prob = c(1, 4, 3, 2, 1, 1)),
              bias = runif(1) < 0.7, unbatched = runif(1) < 0.2,
              dtype = if (runif(1) < 0.2) "float32" else "float64")
  if (runif(1) < 0.15) {                                   # depthwise
    cfg$groups <- cfg$cin
    cfg$cout <- cfg$cin * sample(1:2, 1)
  }
  cfg$op <- vapply(seq_len(rank), function(i) sample(0:(max(cfg$s[i], cfg$d[i]) - 1), 1), 0)
  # padding up to the largest that leaves one output pixel
  full <- (cfg$size - 1) * cfg$s + cfg$d * (cfg$k - 1) + cfg$op
  cfg$p <- vapply(seq_len(rank), function(i) sample(0:(full[i] %/% 2), 1), 0)
  if (cfg$unbatched) cfg$batch <- 1
  cfg
}

# Checks one legal case; returns NULL or a description of the failure.
fuzz_check_legal <- function(cfg) {
  data <- config_data(cfg)
  args <- list(stride = cfg$s, padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
               dilation = cfg$d, dtype = cfg$dtype)
  tol <- if (cfg$dtype == "float32") 1e-5 else 1e-12
  result <- tryCatch({
    y <- do.call(transpose_fn(cfg$rank), c(list(data$input, data$weight, data$bias), args))
    ref <- reference_conv_transpose(data$input, data$weight, data$bias, cfg$s, cfg$p, cfg$op,
                                    cfg$groups, cfg$d)
    scale <- max(1, abs(ref))
    if (!identical(dim(y), as.integer(dim(ref)))) return("forward: wrong dim")
    if (length(ref) && max(abs(y - ref)) > tol * scale)
      return(sprintf("forward: error %.3g", max(abs(y - ref)) / scale))
    # Adjoint identities: <G, T(x)> = <T*(G), x> and likewise for the weight.
    G <- array(rnorm(length(ref)), dim(ref))
    back <- do.call(list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
                         nnf_conv_transpose3d_backward)[[cfg$rank]],
                    c(list(G, data$input, data$weight), args))
    y0 <- reference_conv_transpose(data$input, data$weight, NULL, cfg$s, cfg$p, cfg$op,
                                   cfg$groups, cfg$d)
    lhs <- sum(G * y0)
    norm <- max(1, sqrt(sum(G^2)) * sqrt(sum(y0^2)))
    if (abs(sum(back$input * data$input) - lhs) > 100 * tol * norm) return("input gradient")
    if (abs(sum(back$weight * data$weight) - lhs) > 100 * tol * norm) return("weight gradient")
    NULL
  }, error = function(e) paste("error:", conditionMessage(e)))
  result
}

# Values no size argument accepts.
fuzz_bad_values <- list(NA, NaN, Inf, -Inf, -1, 1.5, "2", list(2), NULL, numeric(0),
                        c(1, 2, 3, 4), 1i, TRUE, 2^31, 2^62, 1e300, factor("a"),
                        matrix(1, 2, 2), function() 1)

fuzz_illegal_call <- function(cfg) {
  data <- config_data(cfg)
  args <- list(input = data$input, weight = data$weight, bias = data$bias, stride = cfg$s,
               padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
               dilation = cfg$d)
  target <- sample(c("stride", "padding", "output_padding", "dilation", "groups", "input",
                     "weight", "bias", "dtype", "device", "overflow", "memory"), 1)
  bad <- sample(fuzz_bad_values, 1)[[1]]
  switch(target,
    stride = , padding = , output_padding = , dilation = , groups = {
      if (target %in% c("padding", "output_padding") && identical(bad, 1i)) bad <- -3
      args[target] <- list(bad)
    },
    input = {
      args["input"] <- sample(list(
        NULL, "a", list(1, 2), 1:10, data.frame(a = 1),
        array("a", dim(data$input)), array(1i, dim(data$input)),
        array(0, c(dim(data$input), 2, 2)),                   # too many dims
        array(0, utils::head(dim(data$input), 1)),            # too few
        array(0, replace(dim(data$input), length(dim(data$input)), 0L))  # empty spatial
      ), 1)
    },
    weight = {
      w <- dim(data$weight)
      args["weight"] <- sample(list(
        NULL, "w", array(0, w[-length(w)]), array(0, c(w, 2)),
        array(0, replace(w, 1, w[1] + 1)),                    # channel mismatch
        array(0, replace(w, 3, 0L)), array(1i, w)
      ), 1)
    },
    bias = {
      args$bias <- sample(list("b", rep(1, cfg$cout + 1), numeric(0), list(1),
                               matrix(1, cfg$cout, 2), 1i), 1)[[1]]
    },
    dtype = { args$dtype <- sample(list("int32", NA_character_, 64, c("float32", "float64")), 1)[[1]] },
    device = {
      bad <- list("tpu", "cuda:x", "cuda:4096", 1, NA_character_)
      if (!cvt_cuda_is_available()) bad <- c(bad, list("cuda", "cuda:0"))
      args$device <- sample(bad, 1)[[1]]
    },
    overflow = {
      # 2 * 2^30 + ... > 2^31 - 1 per dimension, and > 2^52 in total from 2-d on
      args$stride <- rep(2^30, cfg$rank)
      args$output_padding <- 0
      args$padding <- 0
      args$input <- array(1, c(1, cfg$cin, rep(3, cfg$rank)))
    },
    memory = {
      # results beyond R's per-dimension limit (1-d) or this machine's memory
      args$stride <- rep(c(1.5e9, 1e5, 2e3)[cfg$rank], cfg$rank)
      args$output_padding <- 0
      args$input <- array(1, c(1, cfg$cin, rep(3, cfg$rank)))
    })
  list(target = target, args = args)
}

# Checks one illegal case; returns NULL or a description of the failure.
fuzz_check_illegal <- function(cfg) {
  case <- fuzz_illegal_call(cfg)
  fn <- transpose_fn(cfg$rank)
  outcome <- tryCatch({ do.call(fn, case$args); "no error" },
                      convtranspose_error = function(e) NULL,
                      error = function(e) paste("unclassed error:", conditionMessage(e)))
  if (is.null(outcome)) return(NULL)
  # a corruption that happens to be legal is not a failure of the package
  if (identical(outcome, "no error") && case$target %in% c("groups", "device")) return(NULL)
  paste0(case$target, ": ", outcome)
}

run_fuzz <- function(n, seed, legal_share = 0.6) {
  set.seed(seed)
  failures <- character(0)
  for (i in seq_len(n)) {
    cfg <- fuzz_legal_config()
    legal <- runif(1) < legal_share
    problem <- if (legal) fuzz_check_legal(cfg) else fuzz_check_illegal(cfg)
    if (!is.null(problem))
      failures <- c(failures, sprintf("case %d (%s, %s): %s", i, if (legal) "legal" else "illegal",
                                      paste(deparse(cfg, width.cutoff = 500), collapse = ""),
                                      problem))
  }
  failures
}
