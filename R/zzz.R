# Loads the fastest copy of the native core this CPU runs (the AVX2 build
# beside the main library, where it was built), and lets it go when the
# package unloads.
.onLoad <- function(libname, pkgname) {
  dll <- getLoadedDLLs()[[pkgname]]
  if (!is.null(dll)) .ct_load_isa(dirname(dll[["path"]]))
  invisible()
}

.onUnload <- function(libpath) {
  .ct_unload_isa()
  invisible()
}
