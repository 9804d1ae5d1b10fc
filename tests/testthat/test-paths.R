# Every kernel path of cvt_paths(), forced by name on random geometries, in
# both dtypes and on every build this machine runs, against the slow
# reference (helper-reference.R); and the listing, the verbose message and
# the option's errors.

builds_here <- function() {
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  Filter(function(isa) {
    Sys.setenv(CONVTRANSPOSE_ISA = isa)
    identical(cvt_kernel_isa(), isa)
  }, c("baseline", "avx2", "avx512"))
}

# A random geometry that `path` can run: one coarse (input) channel per
# group for the direct paths, whole row groups for the register kernel,
# fine channels per group a multiple of 4 for the row-pointer kernel, 1-D
# layers of one group, no dilation and a kernel of whole strides for the
# stacked phases; batch sizes around the row group of 8 and its edges.
path_config <- function(path) {
  stacked <- path == "phase_stacked"
  repeat {
    rank <- if (stacked) 1 else sample(1:3, 1)
    groups <- if (stacked) 1 else sample(c(1, 1, 2, 3), 1)
    cig <- if (grepl("^direct", path)) 1 else sample(1:5, 1)
    cog <- if (path == "weight_row_pointers") sample(c(4, 8), 1) else sample(1:6, 1)
    batch <- if (path == "weight_in_place_registers") sample(c(8, 16), 1) else
      sample(c(1, 2, 3, 7, 8, 9, 12, 16, 17), 1)
    max_size <- if (rank == 3) 3 else 5
    cfg <- list(rank = rank, groups = groups, cin = groups * cig, cout = groups * cog,
                k = sample(1:3, rank, TRUE), s = sample(1:3, rank, TRUE),
                d = sample(1:2, rank, TRUE), p = sample(0:2, rank, TRUE),
                size = sample(1:max_size, rank, TRUE), batch = batch,
                bias = runif(1) < 0.7, unbatched = FALSE)
    if (stacked) {
      cfg$d <- 1
      cfg$k <- cfg$s * sample(1:3, 1)
    }
    cfg$op <- vapply(seq_len(rank), function(i) sample(0:(max(cfg$s[i], cfg$d[i]) - 1), 1), 0)
    out <- (cfg$size - 1) * cfg$s - 2 * cfg$p + cfg$d * (cfg$k - 1) + cfg$op + 1
    if (all(out >= 1)) return(cfg)
  }
}

operation_codes <- c(coarse_to_fine = 1L, fine_to_coarse = 2L, weight_gradient = 3L)

# Runs `path`'s operation of a transposed convolution (the input is the
# coarse side) forced onto `path`, checks that path ran and returns the
# relative error against the reference. A `chunk_bytes` of 1 leaves no room
# for layout or float copies (one sample per chunk; float32 in-place
# products convert as they read).
check_forced_path <- function(path, operation, cfg, dtype, chunk_bytes = 32 * 2^20) {
  data <- config_data(cfg)
  args <- list(stride = cfg$s, padding = cfg$p, output_padding = cfg$op, groups = cfg$groups,
               dilation = cfg$d, dtype = dtype)
  old <- options(convtranspose.force_path = path, convtranspose.layout_chunk_bytes = chunk_bytes)
  on.exit(options(old))
  y_ref <- reference_conv_transpose(data$input, data$weight, data$bias, cfg$s, cfg$p, cfg$op,
                                    cfg$groups, cfg$d)
  if (operation == "coarse_to_fine") {
    actual <- do.call(transpose_fn(cfg$rank), c(list(data$input, data$weight, data$bias), args))
    expected <- y_ref
  } else {
    G <- array(rnorm(length(y_ref)), dim(y_ref))
    back <- list(nnf_conv_transpose1d_backward, nnf_conv_transpose2d_backward,
                 nnf_conv_transpose3d_backward)[[cfg$rank]]
    grads <- do.call(back, c(list(G, data$input, data$weight), args))
    if (operation == "fine_to_coarse") {
      actual <- grads$input
      expected <- reference_input_gradient(G, data$weight, cfg$size, cfg$s, cfg$p, cfg$groups,
                                           cfg$d)
    } else {
      actual <- grads$weight
      expected <- reference_weight_gradient(G, data$input, cfg$k, cfg$s, cfg$p, cfg$groups,
                                            cfg$d)
    }
  }
  ran <- convtranspose:::.ct_last_path(operation_codes[[operation]])
  list(ran = ran$path, actual = actual, expected = expected)
}

# `path` forced on each of `configs`, in both dtypes, on each vector build
# here, with each thread count and layout chunk size given, against the
# reference.
expect_path_matches <- function(path, operation, configs, threads = cvt_get_num_threads(),
                                chunk_bytes = 32 * 2^20) {
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  for (isa in intersect(builds_here(), c("avx2", "avx512"))) {
    Sys.setenv(CONVTRANSPOSE_ISA = isa)
    for (nt in threads) {
      before <- cvt_set_num_threads(nt)
      for (cfg in configs)
        for (dtype in c("float64", "float32"))
          for (bytes in chunk_bytes) {
            r <- check_forced_path(path, operation, cfg, dtype, bytes)
            expect_identical(r$ran, path)
            expect_close(r$actual, r$expected, if (dtype == "float32") 1e-5 else 1e-12)
          }
      cvt_set_num_threads(before)
    }
  }
}

test_that("every path, forced on random geometries, matches the reference on every build", {
  paths <- cvt_paths()
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  set.seed(2026)
  reached <- character()
  for (isa in builds_here()) {
    Sys.setenv(CONVTRANSPOSE_ISA = isa)
    for (i in seq_len(nrow(paths))) {
      row <- paths[i, ]
      if (!isa %in% strsplit(row$isas, ",")[[1]]) next
      for (dtype in strsplit(row$dtypes, ",")[[1]]) {
        tol <- if (dtype == "float32") 1e-5 else 1e-12
        for (trial in 1:8) {
          cfg <- path_config(row$path)
          r <- check_forced_path(row$path, row$operation, cfg, dtype,
                                 chunk_bytes = if (trial %% 2 == 0) 1 else 32 * 2^20)
          expect_identical(r$ran, row$path)
          expect_close(r$actual, r$expected, tol)
          reached <- c(reached, paste(isa, row$path, dtype))
        }
      }
    }
  }
  # each vector build this machine runs ran every path of the list
  for (isa in intersect(builds_here(), c("avx2", "avx512")))
    expect_setequal(unique(sub("^\\S+ (\\S+) .*$", "\\1", grep(paste0("^", isa, " "), reached, value = TRUE))),
                    paths$path)
})

test_that("every path matches the reference where the product is deeper than one packing slice", {
  # (the random geometries above stay under 256 taps x channels: here 9 x
  # 40 = 360 rows of packed weight, two slices of 256 and 104, each packed
  # in shares of rows, on one thread and on two)
  paths <- cvt_paths()
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"))
  set.seed(7)
  for (isa in builds_here()) {
    Sys.setenv(CONVTRANSPOSE_ISA = isa)
    for (threads in 1:2) {
      before <- cvt_set_num_threads(threads)
      for (batch in c(16, 9)) {
        cfg <- list(rank = 2, groups = 1, cin = 40, cout = 40, k = c(3, 3), s = c(2, 2),
                    d = c(1, 1), p = c(1, 1), size = c(5, 4), batch = batch, bias = TRUE,
                    unbatched = FALSE, op = c(1, 0))
        for (i in seq_len(nrow(paths))) {
          row <- paths[i, ]
          if (!isa %in% strsplit(row$isas, ",")[[1]] || grepl("^direct", row$path) ||
              row$path == "phase_stacked" ||
              (row$path == "weight_in_place_registers" && batch %% 8 != 0)) next
          for (dtype in strsplit(row$dtypes, ",")[[1]]) {
            r <- check_forced_path(row$path, row$operation, cfg, dtype)
            expect_identical(r$ran, row$path)
            expect_close(r$actual, r$expected, if (dtype == "float32") 1e-5 else 1e-12)
          }
        }
      }
      cvt_set_num_threads(before)
    }
  }
})

test_that("implicit_sample_major packs its weight in shares and rounds, for every chunk", {
  # (taps x fine channels per group 36 x 64 = 2304 columns: over one share
  # of the packing team in either dtype; 40 coarse channels a group leave a
  # part-filled panel; chunk_bytes = 1 makes each of the 3 samples a chunk;
  # 300 coarse channels x 256 taps x 32 fine channels are 20 MB packed in
  # float64 and 10 MB in float32: rounds of 8 MB, the last one shorter)
  set.seed(11)
  configs <- list(
    list(rank = 2, groups = 2, cin = 80, cout = 128, k = c(6, 6), s = c(2, 2),
         d = c(1, 1), p = c(1, 2), size = c(5, 4), batch = 3, bias = FALSE,
         unbatched = FALSE, op = c(0, 1)),
    list(rank = 1, groups = 1, cin = 300, cout = 32, k = 256, s = 128, d = 1, p = 3, size = 3,
         batch = 2, bias = TRUE, unbatched = FALSE, op = 1))
  expect_path_matches("implicit_sample_major", "fine_to_coarse", configs, threads = 1:2,
                      chunk_bytes = c(1, 32 * 2^20))
})

test_that("implicit_sample_major reads runs of merged taps in place, across the image's border", {
  # (one fine channel: runs of 4, 6 or 12 consecutive taps; padding and
  # output padding put runs wholly off the image, across its border and
  # inside it; the 2-D case merges taps of its fastest kernel dimension only,
  # the dilated one cannot merge)
  set.seed(12)
  configs <- list(
    list(rank = 1, groups = 1, cin = 5, cout = 1, k = 12, s = 4, d = 1, p = 7, size = 9,
         batch = 2, bias = TRUE, unbatched = FALSE, op = 3),
    list(rank = 1, groups = 1, cin = 3, cout = 2, k = 6, s = 3, d = 1, p = 2, size = 4,
         batch = 3, bias = FALSE, unbatched = FALSE, op = 1),
    list(rank = 2, groups = 1, cin = 4, cout = 1, k = c(4, 3), s = c(2, 2), d = c(1, 1),
         p = c(3, 1), size = c(5, 4), batch = 2, bias = TRUE, unbatched = FALSE, op = c(1, 0)),
    list(rank = 1, groups = 1, cin = 4, cout = 1, k = 4, s = 2, d = 2, p = 3, size = 5,
         batch = 1, bias = TRUE, unbatched = FALSE, op = 1))
  expect_path_matches("implicit_sample_major", "fine_to_coarse", configs)
})

test_that("phase_in_place reads its input in place for 1 to 4 fine channels a group", {
  # (the narrow product: every width from 1 to 4 and the packed one at 5;
  # batches with partial row groups; padding puts taps off the image and a
  # stride over the kernel leaves fine pixels to the bias alone; 2 groups
  # of 20 coarse channels; a rank each)
  set.seed(13)
  configs <- lapply(1:5, function(cog) {
    rank <- c(2, 1, 3, 2, 1)[cog]
    list(rank = rank, groups = 2, cin = 40, cout = 2 * cog, k = rep(c(3, 2, 2, 4, 3)[cog], rank),
         s = rep(c(2, 3, 1, 2, 4)[cog], rank), d = rep(1, rank), p = rep(c(1, 0, 1, 2, 1)[cog], rank),
         size = rep(c(5, 7, 3, 4, 6)[cog], rank), batch = c(16, 9, 12, 8, 17)[cog],
         bias = cog != 3, unbatched = FALSE, op = rep(c(1, 2, 0, 1, 0)[cog], rank))
  })
  expect_path_matches("phase_in_place", "coarse_to_fine", configs, threads = 1:2,
                      chunk_bytes = c(1, 32 * 2^20))
  old <- options(convtranspose.verbose = TRUE)
  on.exit(options(old))
  x <- array(rnorm(16 * 8 * 6 * 6), c(16, 8, 6, 6))
  if (cvt_kernel_isa() %in% c("avx2", "avx512")) {
    expect_message(nnf_conv_transpose2d(x, array(rnorm(8 * 3 * 4), c(8, 3, 2, 2)), stride = 2),
                   "phase_in_place.*3 fine channels a group: input read in place")
    expect_message(nnf_conv_transpose2d(x, array(rnorm(8 * 6 * 4), c(8, 6, 2, 2)), stride = 2),
                   "phase_in_place. batch 16 on R's layout, 4 stride phases cheaper than col2im\\.")
  } else {
    skip("the in-place products are in the AVX2 and AVX-512 builds only")
  }
})

test_that("cvt_paths() lists each path once, with its operation, builds and dtypes", {
  paths <- cvt_paths()
  expect_s3_class(paths, "data.frame")
  expect_identical(names(paths), c("operation", "path", "isas", "dtypes", "description"))
  expect_false(anyDuplicated(paths$path) > 0)
  expect_setequal(unique(paths$operation), c("coarse_to_fine", "fine_to_coarse", "weight_gradient"))
  expect_true(all(paths$dtypes %in% c("float64,float32", "float64", "float32")))
  expect_true(all(unlist(strsplit(paths$isas, ",")) %in% c("baseline", "avx2", "avx512")))
  # every operation has a general path that runs everywhere
  general <- paths[paths$isas == "baseline,avx2,avx512" & paths$dtypes == "float64,float32", ]
  expect_setequal(unique(general$operation), unique(paths$operation))
})

test_that("convtranspose.verbose names each operation's path, build, dtype and reason", {
  x <- array(rnorm(2 * 3 * 4), c(2, 3, 4))
  w <- array(rnorm(3 * 2 * 3), c(3, 2, 3))
  old <- options(convtranspose.verbose = TRUE)
  on.exit(options(old))
  msgs <- character()
  withCallingHandlers(
    nnf_conv_transpose1d_backward(array(1, c(2, 2, 6)), x, w),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  expect_length(msgs, 2)
  expect_match(msgs[1], "^convtranspose: fine_to_coarse, float64, (baseline|avx2|avx512) build: [a-z0-9_]+\\. .+")
  expect_match(msgs[2], "^convtranspose: weight_gradient, float64")
  chosen <- sub("^[^:]+: [^:]+: ([a-z0-9_]+)\\..*$", "\\1", msgs)
  expect_true(all(chosen %in% cvt_paths()$path))
  options(convtranspose.verbose = FALSE)
  expect_silent(nnf_conv_transpose1d(x, w))
})

test_that("convtranspose.force_path refuses unknown names and paths that cannot run", {
  x <- array(rnorm(2 * 4 * 5), c(2, 4, 5))
  w <- array(rnorm(4 * 2 * 3), c(4, 2, 3))
  old <- options(convtranspose.force_path = "no_such_path")
  on.exit(options(old))
  expect_error(nnf_conv_transpose1d(x, w), class = "convtranspose_argument_error",
               regexp = "cvt_paths")
  options(convtranspose.force_path = 3)
  expect_error(nnf_conv_transpose1d(x, w), class = "convtranspose_argument_error")
  # four input channels in one group: not the direct path's geometry
  options(convtranspose.force_path = "direct_scatter")
  expect_error(nnf_conv_transpose1d(x, w), class = "convtranspose_argument_error",
               regexp = "one coarse channel per group")
  # the other operations of the call choose as usual
  options(convtranspose.force_path = "weight_im2col")
  g <- nnf_conv_transpose1d_backward(array(1, c(2, 2, 7)), x, w)
  expect_identical(convtranspose:::.ct_last_path(3L)$path, "weight_im2col")
  expect_false(identical(convtranspose:::.ct_last_path(2L)$path, "weight_im2col"))
  # a direct path with NaN in the values it would multiply by skipped zeros
  options(convtranspose.force_path = "direct_gather")
  wd <- array(c(NaN, rnorm(5)), c(2, 1, 3))
  expect_error(nnf_conv_transpose1d_backward(array(1, c(2, 2, 7)), x[, 1:2, , drop = FALSE], wd,
                                             groups = 2),
               class = "convtranspose_argument_error", regexp = "NaN or Inf")
  # paths of the vector builds, asked for in the baseline build
  Sys.setenv(CONVTRANSPOSE_ISA = "baseline")
  on.exit(Sys.unsetenv("CONVTRANSPOSE_ISA"), add = TRUE)
  options(convtranspose.force_path = "phase_in_place")
  expect_error(nnf_conv_transpose1d(x, w), class = "convtranspose_argument_error",
               regexp = "AVX2 and AVX-512 builds only")
})

test_that("a float32 weight beyond float's range counts as Inf when the paths are chosen", {
  # 1e39 is finite in R's doubles and Inf in float32: the planner checks the
  # weight as it will be computed with (the in-place products pack R's
  # doubles themselves), so the result is float32's with an Inf weight.
  set.seed(7)
  x <- array(rnorm(8 * 4 * 5 * 5), c(8, 4, 5, 5))
  w <- array(rnorm(4 * 3 * 3 * 3), c(4, 3, 3, 3))
  w[2, 1, 2, 2] <- 1e39
  w_inf <- w
  w_inf[2, 1, 2, 2] <- Inf
  y32 <- nnf_conv_transpose2d(x, w, stride = 2, dtype = "float32")
  y64 <- nnf_conv_transpose2d(x, w_inf, stride = 2)
  expect_identical(is.nan(y32), is.nan(y64))
  expect_identical(is.infinite(y32), is.infinite(y64))
  expect_gt(sum(!is.finite(y64)), 0)
  ok <- is.finite(y64)
  expect_equal(y32[ok], y64[ok], tolerance = 1e-5)
  grad <- array(rnorm(length(y64)), dim(y64))
  g32 <- nnf_conv_transpose2d_backward(grad, x, w, stride = 2, dtype = "float32")$input
  g64 <- nnf_conv_transpose2d_backward(grad, x, w_inf, stride = 2)$input
  expect_identical(is.nan(g32), is.nan(g64))
  expect_identical(is.infinite(g32), is.infinite(g64))
  ok <- is.finite(g64)
  expect_equal(g32[ok], g64[ok], tolerance = 1e-5)
})

test_that("phase_in_place, meeting a NaN or Inf as it packs the weight, leaves the call to the next path", {
  # (its zero rows for coarse pixels off the image would make NaN where
  # col2im adds nothing; the planner no longer reads the weight first)
  skip_if_not(any(c("avx2", "avx512") == cvt_kernel_isa()))
  set.seed(5)
  x <- array(rnorm(16 * 8 * 4 * 4), c(16, 8, 4, 4))
  w <- array(rnorm(8 * 6 * 4 * 4), c(8, 6, 4, 4))
  verbose <- function(expr) {
    old <- options(convtranspose.verbose = TRUE)
    on.exit(options(old))
    expr
  }
  expect_message(verbose(nnf_conv_transpose2d(x, w, stride = 2, padding = 1)),
                 "build: phase_in_place")
  for (bad in c(Inf, NaN)) {
    w_bad <- w
    w_bad[3, 2, 4, 1] <- bad
    for (dtype in c("float64", "float32")) {
      msgs <- character()
      y <- withCallingHandlers(
        verbose(nnf_conv_transpose2d(x, w_bad, stride = 2, padding = 1, dtype = dtype)),
        message = function(m) {
          msgs <<- c(msgs, conditionMessage(m))
          invokeRestart("muffleMessage")
        })
      expect_length(msgs, 1)
      expect_false(grepl("build: phase_in_place", msgs))
      expect_match(msgs, "phase_in_place \\(the weight has NaN or Inf")
      ref <- reference_conv_transpose(x, w_bad, NULL, c(2, 2), c(1, 1), c(0, 0), 1, c(1, 1))
      expect_identical(is.nan(y), is.nan(ref))
      ok <- is.finite(ref)
      expect_gt(sum(!ok), 0)
      expect_equal(y[ok], ref[ok], tolerance = if (dtype == "float32") 1e-5 else 1e-12)
    }
    old <- options(convtranspose.force_path = "phase_in_place")
    expect_error(nnf_conv_transpose2d(x, w_bad, stride = 2, padding = 1),
                 class = "convtranspose_argument_error", regexp = "NaN or Inf")
    options(old)
  }
})

test_that("implicit_in_place keeps PyTorch's NaN from an Inf weight at taps off the image", {
  # (with a finite weight it skips blocks whose taps all fall off the
  # padded image; an Inf times im2col's zeros is NaN, and must stay so)
  skip_if_not(any(c("avx2", "avx512") == cvt_kernel_isa()))
  set.seed(11)
  # (128 fine channels: a packing slice of 256 rows holds two taps, which
  # for the pixels of the first column (first slice) or the last (last
  # slice) both fall off the image; each round checks its own slice)
  x <- array(rnorm(16 * 4 * 4 * 4), c(16, 4, 4, 4))
  grad <- array(rnorm(16 * 128 * 8 * 8), c(16, 128, 8, 8))
  for (tap in list(c(1, 1), c(4, 4))) {
    w <- array(rnorm(4 * 128 * 4 * 4), c(4, 128, 4, 4))
    w[1, 2, tap[1], tap[2]] <- Inf
    input_gradient <- function(path) {
      old <- options(convtranspose.force_path = path)
      on.exit(options(old))
      g <- nnf_conv_transpose2d_backward(grad, x, w, stride = 2, padding = 1)$input
      expect_identical(convtranspose:::.ct_last_path(2L)$path, path)
      g
    }
    in_place <- input_gradient("implicit_in_place")
    general <- input_gradient("im2col_gemm")
    expect_gt(sum(is.nan(general)), 0)
    expect_identical(is.nan(in_place), is.nan(general))
    ok <- is.finite(general)
    expect_equal(in_place[ok], general[ok], tolerance = 1e-12)
  }
})

test_that("every path matches the reference with channels enough for whole packing blocks", {
  # (the random geometries above have at most 5 input and 6 output channels
  # per group: this one packs whole 8 x 8 blocks and 12-column weight panels,
  # and a remainder of each)
  set.seed(11)
  cfg <- list(rank = 2, groups = 1, cin = 19, cout = 16, k = c(3, 2), s = c(2, 1), d = c(1, 1),
              p = c(1, 0), op = c(1, 0), size = c(6, 5), batch = 8, bias = TRUE,
              unbatched = FALSE)
  paths <- cvt_paths()
  here <- vapply(strsplit(paths$isas, ","), function(isas) cvt_kernel_isa() %in% isas, TRUE)
  # (phase_stacked, 1-D only, has its own test below)
  paths <- paths[here & !grepl("^direct", paths$path) & paths$path != "phase_stacked", ]
  for (i in seq_len(nrow(paths))) for (dtype in strsplit(paths$dtypes[i], ",")[[1]]) {
    tol <- if (dtype == "float32") 1e-5 else 1e-12
    r <- check_forced_path(paths$path[i], paths$operation[i], cfg, dtype)
    expect_identical(r$ran, paths$path[i])
    expect_close(r$actual, r$expected, tol)
  }
})

test_that("phase_stacked matches the reference across rounds, runs, bands and the border", {
  # (300 coarse channels: runs of 50, six to a kernel block; 64 x 32 = 2048
  # stacked rows of 600 values are two rounds of packed weight in float64;
  # 3 x 5 = 15 rows, not a whole register block; padding beyond a stride and
  # output padding put blocks across both ends of the image; chunk_bytes = 1
  # makes each sample a chunk)
  set.seed(13)
  configs <- list(
    list(rank = 1, groups = 1, cin = 300, cout = 32, k = 128, s = 64, d = 1, p = 70, size = 3,
         batch = 2, bias = TRUE, unbatched = FALSE, op = 5),
    list(rank = 1, groups = 1, cin = 7, cout = 5, k = 9, s = 3, d = 1, p = 4, size = 40,
         batch = 3, bias = TRUE, unbatched = FALSE, op = 2),
    list(rank = 1, groups = 1, cin = 260, cout = 1, k = 16, s = 4, d = 1, p = 0, size = 6,
         batch = 1, bias = FALSE, unbatched = FALSE, op = 0))
  expect_path_matches("phase_stacked", "coarse_to_fine", configs, threads = 1:2,
                      chunk_bytes = c(1, 32 * 2^20))
})

test_that("phase_stacked refuses what it cannot run and is chosen for istft-like layers", {
  old <- options(convtranspose.force_path = "phase_stacked")
  on.exit(options(old))
  x <- array(rnorm(2 * 3 * 5), c(2, 3, 5))
  if (!cvt_kernel_isa() %in% c("avx2", "avx512")) {
    expect_error(nnf_conv_transpose1d(x, array(rnorm(3 * 2 * 4), c(3, 2, 4)), stride = 2),
                 "AVX2 and AVX-512 builds only", class = "convtranspose_argument_error")
    skip("phase_stacked is compiled in the AVX2 and AVX-512 builds only")
  }
  expect_error(nnf_conv_transpose1d(x, array(rnorm(3 * 2 * 5), c(3, 2, 5)), stride = 2),
               "not a multiple of stride 2", class = "convtranspose_argument_error")
  expect_error(nnf_conv_transpose1d(x, array(rnorm(3 * 2 * 4), c(3, 2, 4)), stride = 2,
                                    dilation = 2),
               "dilation 1", class = "convtranspose_argument_error")
  options(old)
  x <- array(rnorm(1 * 64 * 12), c(1, 64, 12))
  w <- array(rnorm(64 * 1 * 32), c(64, 1, 32))
  y <- nnf_conv_transpose1d(x, w, stride = 8)
  expect_identical(convtranspose:::.ct_last_path(1L)$path, "phase_stacked")
})
