// The glue's view of the CUDA backend (glue_cuda.cpp), the same whether the
// package was built with CUDA or not.
#ifndef CONVTRANSPOSE_SRC_GLUE_CUDA_H
#define CONVTRANSPOSE_SRC_GLUE_CUDA_H

#include <convtranspose/geometry.hpp>
#include <convtranspose/status.hpp>

struct CudaCallSettings {
  int device = 0;
  bool deterministic = false;
  bool benchmark = false;
  bool allow_tf32 = true;
};

// One core operation (isa_entry.h) on a GPU; arrays in R's layout on the host.
convtranspose::Status run_operation_on_cuda(int operation, bool single_precision,
                                            const convtranspose::ConvGeometry& geometry,
                                            const double* first, const double* second,
                                            const double* bias, double* out,
                                            const CudaCallSettings& settings);

#endif
