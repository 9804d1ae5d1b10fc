#' Read and write safetensors files
#'
#' `cvt_read_safetensors()` reads a [safetensors](https://huggingface.co/docs/safetensors)
#' file, the format PyTorch models are commonly shared in, into a named list
#' of R arrays; `cvt_write_safetensors()` writes one. Each array has
#' PyTorch's dims, with R's index meaning the same as torch's (R's
#' `w[i, o, h, w]` is torch's `w[i-1, o-1, h-1, w-1]`): the file's row-major
#' order is converted for you, so the result can go straight into a module's
#' `load_state_dict()`. (`array(values, dim)` on a row-major dump is silently
#' wrong; this does the permutation.)
#'
#' Floating-point tensors (`F64`, `F32`, `F16`, `BF16`) are read as double,
#' `I64` and `U32` as double (exact up to 2^53), `I32`, `I16`, `I8`, `U8` as
#' integer and `BOOL` as logical; 0-d tensors become length-one vectors. The
#' file is checked before anything is read: a truncated file, a header that
#' is not valid JSON, offsets outside the file, overlapping tensors, sizes
#' that disagree with the shape or an unknown dtype give a
#' `convtranspose_format_error` naming the entry, and nothing is allocated
#' for a tensor whose declared size the file cannot hold.
#'
#' @param path Path of the file.
#' @param tensors A named list of numeric, integer or logical arrays (or
#'   vectors, written as 1-d tensors). Logical arrays may not hold `NA`; an
#'   integer `NA` is stored as its bits, -2147483648.
#' @param dtype How double values are stored: `"F64"` (default) or `"F32"`,
#'   for every tensor, or a named vector giving it per tensor (the others
#'   `"F64"`). Integer arrays are stored as `I32`, logical ones as `BOOL`.
#' @param metadata `NULL` or a named list of strings, stored as the header's
#'   `__metadata__`.
#' @return `cvt_read_safetensors()`: a named list of arrays, in the file's
#'   order, with the header's `__metadata__` (if any) as attribute
#'   `"metadata"`. `cvt_write_safetensors()`: `path`, invisibly.
#' @seealso [nn_conv_transpose] for `load_state_dict()`, [cvt_weight_norm()]
#'   for checkpoints saved with weight normalisation.
#' @examples
#' path <- tempfile(fileext = ".safetensors")
#' m <- nn_conv_transpose2d(4, 2, 3, stride = 2)
#' cvt_write_safetensors(m$state_dict(), path)
#' sd <- cvt_read_safetensors(path)
#' str(sd)
#' m2 <- nn_conv_transpose2d(4, 2, 3, stride = 2)
#' m2$load_state_dict(sd)
#' identical(m2$weight, m$weight)
#' @name safetensors
NULL

# Bytes per element of each dtype the reader knows.
safetensors_sizes <- c(F64 = 8L, F32 = 4L, F16 = 2L, BF16 = 2L, I64 = 8L, U32 = 4L, I32 = 4L,
                       I16 = 2L, I8 = 1L, U8 = 1L, BOOL = 1L)

format_abort <- function(path, what, call) {
  cvt_abort(sprintf("'%s' is not a readable safetensors file: %s.", path, what),
            "convtranspose_format_error", call)
}

#' @rdname safetensors
#' @export
cvt_read_safetensors <- function(path) {
  call <- sys.call()
  if (!is.character(path) || length(path) != 1L || is.na(path))
    cvt_abort(sprintf("`path` must be a single file name, not %s.", describe_value(path)),
              "convtranspose_argument_error", call)
  if (!file.exists(path) || dir.exists(path))
    cvt_abort(sprintf("No file '%s'.", path), "convtranspose_argument_error", call)
  file_size <- file.info(path)$size
  if (file_size < 8) format_abort(path, sprintf("%d bytes, shorter than the 8-byte header size",
                                                file_size), call)
  con <- file(path, "rb")
  on.exit(close(con))
  halves <- readBin(con, "integer", n = 2L, size = 4L, endian = "little")
  unsigned <- function(i) if (i < 0) i + 2^32 else i
  header_size <- unsigned(halves[1]) + unsigned(halves[2]) * 2^32
  # (the format caps headers at 100 MB; check before reading them)
  if (header_size > file_size - 8 || header_size > 1e8)
    format_abort(path, sprintf("the header declares %s bytes but the file has %s after the size",
                               format(header_size, scientific = FALSE),
                               format(file_size - 8, scientific = FALSE)), call)
  raw_header <- readBin(con, "raw", n = header_size)
  if (any(raw_header == as.raw(0L)))
    format_abort(path, "the header contains a NUL byte", call)
  text <- rawToChar(raw_header)
  Encoding(text) <- "UTF-8"
  header <- tryCatch(jsonlite::fromJSON(text, simplifyVector = FALSE),
                     error = function(e) format_abort(path, paste("the header is not valid JSON:",
                                                                 conditionMessage(e)), call))
  if (!is.list(header) || (length(header) && is.null(names(header))))
    format_abort(path, "the header is not a JSON object", call)
  metadata <- header[["__metadata__"]]
  entries <- header[names(header) != "__metadata__"]
  if (anyDuplicated(names(entries)))
    format_abort(path, sprintf("tensor '%s' appears twice",
                               names(entries)[anyDuplicated(names(entries))]), call)
  buffer_size <- file_size - 8 - header_size
  specs <- lapply(names(entries), function(name) {
    safetensors_entry(entries[[name]], name, buffer_size, path, call)
  })
  names(specs) <- names(entries)
  # overlapping tensors: sorted by start, each must start at or after the
  # previous one's end (empty tensors take no bytes)
  starts <- vapply(specs, `[[`, 0, "begin")
  ends <- vapply(specs, `[[`, 0, "end")
  if (length(specs) > 1L) {
    o <- order(starts, ends)
    filled <- ends[o] > starts[o]
    s <- starts[o][filled]
    e <- ends[o][filled]
    clash <- which(s[-1] < cummax(e)[-length(e)])
    if (length(clash))
      format_abort(path, sprintf("tensors '%s' and '%s' overlap",
                                 names(specs)[o][filled][clash[1]],
                                 names(specs)[o][filled][clash[1] + 1L]), call)
  }
  out <- lapply(names(specs), function(name) {
    seek(con, 8 + header_size + specs[[name]]$begin)
    values <- safetensors_values(con, specs[[name]])
    if (is.null(values)) format_abort(path, sprintf("tensor '%s' could not be read in full", name),
                                      call)
    values
  })
  names(out) <- names(specs)
  if (!is.null(metadata)) attr(out, "metadata") <- metadata
  out
}

# One header entry checked against the format and the file: returns its
# dtype, shape and byte range.
safetensors_entry <- function(entry, name, buffer_size, path, call) {
  bad <- function(what) format_abort(path, sprintf("tensor '%s': %s", name, what), call)
  if (!is.list(entry) || is.null(names(entry)))
    bad("its entry is not an object with dtype, shape and data_offsets")
  dtype <- entry[["dtype"]]  # (exact names: `$` would take "dtypes" for "dtype")
  if (!is.character(dtype) || length(dtype) != 1L)
    bad("no dtype")
  if (!dtype %in% names(safetensors_sizes))
    bad(sprintf("unknown or unsupported dtype \"%s\" (known: %s)", dtype,
                paste(names(safetensors_sizes), collapse = ", ")))
  whole <- function(v) {
    is.list(v) && all(vapply(v, function(x) is.numeric(x) && length(x) == 1L && !is.na(x) &&
                               x >= 0 && x == floor(x) && x < 2^53, TRUE))
  }
  if (!whole(entry[["shape"]])) bad("shape is not a list of non-negative integers")
  offsets <- entry[["data_offsets"]]
  if (!whole(offsets) || length(offsets) != 2L)
    bad("data_offsets is not two non-negative integers")
  shape <- as.numeric(unlist(entry[["shape"]]))
  begin <- offsets[[1]]
  end <- offsets[[2]]
  if (end < begin) bad("data_offsets end before they begin")
  if (end > buffer_size)
    bad(sprintf("data_offsets [%s, %s] go past the end of the file's %s data bytes",
                format(begin, scientific = FALSE), format(end, scientific = FALSE),
                format(buffer_size, scientific = FALSE)))
  n <- prod(shape)
  bytes <- n * safetensors_sizes[[dtype]]
  if (bytes != end - begin)
    bad(sprintf("shape %s of %s needs %s bytes, but data_offsets span %s",
                dims_text(shape), dtype, format(bytes, scientific = FALSE),
                format(end - begin, scientific = FALSE)))
  if (n > .Machine$integer.max || any(shape > .Machine$integer.max))
    bad(sprintf("shape %s is too large for an R array", dims_text(shape)))
  list(dtype = dtype, shape = shape, n = n, begin = begin, end = end)
}

# The tensor's values, read row-major and returned with its dims in R's order.
safetensors_values <- function(con, spec) {
  n <- spec$n
  values <- switch(
    spec$dtype,
    F64 = readBin(con, "double", n = n, size = 8L, endian = "little"),
    F32 = readBin(con, "double", n = n, size = 4L, endian = "little"),
    F16 = half_to_double(readBin(con, "integer", n = n, size = 2L, signed = FALSE,
                                 endian = "little")),
    BF16 = {
      # bfloat16 is the high half of a float32
      r <- readBin(con, "raw", n = 2 * n)
      wide <- raw(4 * n)
      wide[seq.int(3L, by = 4L, length.out = n)] <- r[seq.int(1L, by = 2L, length.out = n)]
      wide[seq.int(4L, by = 4L, length.out = n)] <- r[seq.int(2L, by = 2L, length.out = n)]
      readBin(wide, "double", n = n, size = 4L, endian = "little")
    },
    I64 = {
      halves <- readBin(con, "integer", n = 2 * n, size = 4L, endian = "little")
      low <- halves[c(TRUE, FALSE)]
      low <- ifelse(low < 0, low + 2^32, low)
      low + halves[c(FALSE, TRUE)] * 2^32
    },
    U32 = {
      v <- readBin(con, "integer", n = n, size = 4L, endian = "little")
      ifelse(v < 0, v + 2^32, v)
    },
    I32 = readBin(con, "integer", n = n, size = 4L, endian = "little"),
    I16 = readBin(con, "integer", n = n, size = 2L, signed = TRUE, endian = "little"),
    I8 = readBin(con, "integer", n = n, size = 1L, signed = TRUE),
    U8 = readBin(con, "integer", n = n, size = 1L, signed = FALSE),
    BOOL = readBin(con, "integer", n = n, size = 1L, signed = FALSE) != 0L)
  if (length(values) != n) return(NULL)  # the size was checked: the file changed since
  shape <- spec$shape
  if (length(shape) == 0L) return(values)
  if (length(shape) == 1L) return(array(values, shape))
  # row-major: the last index fastest, so R's reversed dims, then reversed back
  aperm(array(values, rev(shape)), rev(seq_along(shape)))
}

json_string <- function(x) as.character(jsonlite::toJSON(enc2utf8(x), auto_unbox = TRUE))

# IEEE half precision (as unsigned 16-bit integers) to double.
half_to_double <- function(h) {
  sign <- ifelse(h >= 32768L, -1, 1)
  e <- (h %/% 1024L) %% 32L
  m <- h %% 1024L
  ifelse(e == 0L, sign * m * 2^-24,
         ifelse(e == 31L, ifelse(m == 0L, sign * Inf, NaN),
                sign * (1 + m / 1024) * 2^(e - 15)))
}

#' @rdname safetensors
#' @export
cvt_write_safetensors <- function(tensors, path, dtype = "F64", metadata = NULL) {
  call <- sys.call()
  if (!is.list(tensors) || is.object(tensors) && !is.list(unclass(tensors)) ||
      length(tensors) && (is.null(names(tensors)) || any(!nzchar(names(tensors))) ||
                          anyNA(names(tensors))))
    cvt_abort(sprintf("`tensors` must be a named list of arrays, not %s.",
                      describe_value(tensors)), "convtranspose_argument_error", call)
  if (anyDuplicated(names(tensors)) || "__metadata__" %in% names(tensors))
    cvt_abort("The names of `tensors` must be unique and not \"__metadata__\".",
              "convtranspose_argument_error", call)
  if (!is.character(path) || length(path) != 1L || is.na(path))
    cvt_abort(sprintf("`path` must be a single file name, not %s.", describe_value(path)),
              "convtranspose_argument_error", call)
  if (!is.character(dtype) || !length(dtype) || anyNA(dtype) || !all(dtype %in% c("F64", "F32")) ||
      length(dtype) > 1L && (is.null(names(dtype)) || !all(names(dtype) %in% names(tensors))))
    cvt_abort(sprintf(paste0("`dtype` must be \"F64\" or \"F32\", or a vector of them named by ",
                             "tensor, not %s."), describe_value(dtype)),
              "convtranspose_argument_error", call)
  dtype_of <- function(name) {
    if (is.null(names(dtype))) return(dtype[[1]])
    if (name %in% names(dtype)) dtype[[name]] else "F64"
  }
  if (!is.null(metadata) &&
      (!is.list(metadata) || is.null(names(metadata)) ||
       !all(vapply(metadata, function(v) is.character(v) && length(v) == 1L, TRUE))))
    cvt_abort("`metadata` must be NULL or a named list of single strings.",
              "convtranspose_argument_error", call)
  header <- vector("list", length(tensors))
  chunks <- vector("list", length(tensors))
  offset <- 0
  for (i in seq_along(tensors)) {
    name <- names(tensors)[i]
    x <- tensors[[i]]
    if (!(is.numeric(x) || is.logical(x)) || is.object(x) && !is.array(x))
      cvt_abort(sprintf("`tensors$%s` must be a numeric or logical array, not %s.", name,
                        describe_value(x)), "convtranspose_argument_error", call)
    if (is.logical(x) && anyNA(x))
      cvt_abort(sprintf("`tensors$%s` has NA values, which a BOOL tensor cannot hold.", name),
                "convtranspose_argument_error", call)
    shape <- if (is.null(dim(x))) length(x) else dim(x)
    # row-major: the last index fastest
    values <- if (length(shape) > 1L) as.vector(aperm(x, rev(seq_along(shape)))) else
      as.vector(x)
    kind <- if (is.logical(x)) "BOOL" else if (is.integer(x)) "I32" else dtype_of(name)
    con <- rawConnection(raw(0), "wb")
    switch(kind,
           BOOL = writeBin(as.integer(values), con, size = 1L),
           I32 = writeBin(values, con, size = 4L, endian = "little"),
           F64 = writeBin(as.double(values), con, size = 8L, endian = "little"),
           F32 = writeBin(as.double(values), con, size = 4L, endian = "little"))
    chunks[[i]] <- rawConnectionValue(con)
    close(con)
    # (numbers written out in full: JSON readers of the format want integers)
    whole <- function(v) paste(formatC(as.numeric(v), format = "f", digits = 0), collapse = ",")
    header[[i]] <- sprintf('%s:{"dtype":"%s","shape":[%s],"data_offsets":[%s]}', json_string(name),
                           kind, whole(shape), whole(c(offset, offset + length(chunks[[i]]))))
    offset <- offset + length(chunks[[i]])
  }
  if (!is.null(metadata))
    header <- c(sprintf('"__metadata__":%s',
                        jsonlite::toJSON(lapply(metadata, enc2utf8), auto_unbox = TRUE)), header)
  json <- paste0("{", paste(unlist(header), collapse = ","), "}")
  bytes <- charToRaw(enc2utf8(json))
  # padded with spaces so that the data starts on an 8-byte boundary
  bytes <- c(bytes, rep(charToRaw(" "), (8 - length(bytes) %% 8) %% 8))
  con <- file(path, "wb")
  on.exit(close(con))
  n <- length(bytes)
  writeBin(c(as.integer(n %% 2^32 - (if (n %% 2^32 >= 2^31) 2^32 else 0)),
             as.integer(n %/% 2^32)), con, size = 4L, endian = "little")
  writeBin(bytes, con)
  for (chunk in chunks) writeBin(chunk, con)
  invisible(path)
}
