/* The C ABI of the CUDA backend (the .cu files beside this header). The glue (src/glue_cuda.cpp)
 * and the native GPU harness (tools/gpu/) call it; neither side sees the
 * other's headers: no R here, no CUDA there. Arrays are host arrays of
 * doubles in R's layout (column-major, batch fastest), as for the CPU core;
 * the geometry is the core's resolved ConvGeometry (inst/include, plain data).
 * Every function returns a convtranspose::StatusCode (0 = success) and on
 * failure copies a message into `message` (NUL-terminated, truncated). */
#ifndef CONVTRANSPOSE_CUDA_BACKEND_H
#define CONVTRANSPOSE_CUDA_BACKEND_H

#include <convtranspose/geometry.hpp>

#include "../core/isa_entry.h" /* the operation codes */

extern "C" {

typedef struct convtranspose_cuda_options {
  int device;           /* CUDA device index, 0-based */
  int single_precision; /* compute in float (results still double) */
  int deterministic;    /* only cuDNN algorithms that are deterministic */
  int benchmark;        /* time cuDNN's candidates once per shape, keep the fastest */
  int allow_tf32;       /* let float32 use TensorFloat-32 tensor cores */
} convtranspose_cuda_options;

/* Number of CUDA devices this process can use (0 with no driver or GPU;
 * that is not an error, and `message` then says why). */
int convtranspose_cuda_device_count(int* count, char* message, int message_size);

/* One operation of isa_entry.h on device `options->device`: `first` and
 * `second` as there (coarse + weight, fine + weight, coarse + fine), `bias`
 * (or NULL) added to the output channels, `out` overwritten. */
int convtranspose_cuda_run(int operation, const convtranspose::ConvGeometry* geometry,
                           const double* first, const double* second, const double* bias,
                           double* out, const convtranspose_cuda_options* options,
                           char* message, int message_size);

/* Device memory: what the device has in use in all (cudaMemGetInfo) and
 * what this package holds in its caches on it, in bytes. */
int convtranspose_cuda_memory(int device, double* in_use_bytes, double* cached_bytes,
                              char* message, int message_size);

/* Frees every handle, descriptor, buffer and cached algorithm choice on
 * every device (the package calls it when it unloads). */
void convtranspose_cuda_release(void);

/* For the GPU harness: the mean time in milliseconds of one operation on
 * data already on the device in cuDNN's layout (no transfers, no layout
 * change), over `repeats` runs after one warm-up. `*path` tells which code
 * ran: 1 cuDNN, 2 the package's own kernels. */
int convtranspose_cuda_time_operation(int operation, const convtranspose::ConvGeometry* geometry,
                                      const convtranspose_cuda_options* options, int repeats,
                                      double* milliseconds, int* path, char* message,
                                      int message_size);

/* What the last call of `operation` ran in this process: `*path` 1 (cuDNN:
 * `algorithm` and `math` name its algorithm and math type) or 2 (the
 * package's own kernel; `reason` says why cuDNN did not run it). Returns 0
 * when no such call has run, 1 otherwise. */
int convtranspose_cuda_last_path(int operation, int* path, char* algorithm, char* math,
                                 char* reason, int text_size);

/* "CUDA runtime R.r, cuDNN X.Y.Z, built for ..." */
const char* convtranspose_cuda_build_info(void);

} /* extern "C" */

#endif
