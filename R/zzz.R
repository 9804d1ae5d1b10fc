# Loads the fastest copy of the native core this CPU runs (the AVX-512 or
# AVX2 build in kernels/, where it was built), and lets it go when the
# package unloads.
.onLoad <- function(libname, pkgname) {
  arch <- .Platform$r_arch  # Makevars installs to kernels$(R_ARCH), R_ARCH = "/<arch>"
  .ct_load_isa(if (nzchar(arch)) file.path(libname, pkgname, "kernels", arch) else
    file.path(libname, pkgname, "kernels"))
  invisible()
}

.onUnload <- function(libpath) {
  .ct_cuda_release()  # GPU handles, descriptors and buffers, if any were made
  .ct_unload_isa()
  invisible()
}
