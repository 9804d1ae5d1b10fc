# Every error the package raises is a condition of class "convtranspose_error"
# plus a subclass saying what kind of mistake it was, with `call` set to the
# user's own call so R reports it as theirs.
#
# Subclasses:
#   convtranspose_argument_error  an argument of the wrong type or value
#   convtranspose_shape_error     sizes that do not fit together
#   convtranspose_size_error      a result too large to represent or allocate
#   convtranspose_device_error    a device or dtype that is not available
#   convtranspose_native_error    a failure reported by the C++ core

cvt_abort <- function(message, class, call = NULL) {
  cond <- structure(
    class = c(class, "convtranspose_error", "error", "condition"),
    list(message = message, call = call)
  )
  stop(cond)
}

# A short, readable rendering of a user's value for error messages.
describe_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.function(x)) return("a function")
  if (is.list(x)) return(sprintf("a list of length %d", length(x)))
  if (is.complex(x)) return("a complex vector")
  if (!is.atomic(x)) return(sprintf("an object of class %s", class(x)[1]))
  if (length(x) == 0) return(sprintf("an empty %s vector", typeof(x)))
  if (length(x) <= 6) {
    text <- paste(deparse(unclass(as.vector(x)), width.cutoff = 200L), collapse = "")
  } else {
    # the first values one by one (a deparsed head would read as a range that
    # was never given: 1:10 is not "1:6, ...") and the length
    first <- vapply(as.vector(x)[1:6], function(v) {
      paste(deparse(unclass(v), width.cutoff = 200L), collapse = "")
    }, "")
    text <- sprintf("c(%s, ...) (length %d)", paste(sub("L$", "", first), collapse = ", "),
                    length(x))
  }
  if (nchar(text) > 80) text <- paste0(substr(text, 1, 77), "...")
  text
}

dims_text <- function(x) {
  if (length(x) == 1) return(format(x, scientific = FALSE))
  paste0("c(", paste(format(x, scientific = FALSE, trim = TRUE), collapse = ", "), ")")
}
