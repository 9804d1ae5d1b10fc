// Glue to the CUDA backend. It compiles with or without CUDA: configure
// defines CONVTRANSPOSE_WITH_CUDA (and links src/cuda/*.cu) only when it
// found nvcc and cuDNN. Without it, the functions below say "not built" and
// report no devices, so the R layer refuses device = "cuda" with a clear
// error and cvt_cuda_is_available() is FALSE.
#include <Rcpp.h>

#include <string>

#include "glue_cuda.h"

#ifdef CONVTRANSPOSE_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace ct = convtranspose;

ct::Status run_operation_on_cuda(int operation, bool single_precision,
                                 const ct::ConvGeometry& geometry, const double* first,
                                 const double* second, const double* bias, double* out,
                                 const CudaCallSettings& settings) {
#ifdef CONVTRANSPOSE_WITH_CUDA
  convtranspose_cuda_options options;
  options.device = settings.device;
  options.single_precision = single_precision ? 1 : 0;
  options.deterministic = settings.deterministic ? 1 : 0;
  options.benchmark = settings.benchmark ? 1 : 0;
  options.allow_tf32 = settings.allow_tf32 ? 1 : 0;
  char message[512] = {0};
  const int code = convtranspose_cuda_run(operation, &geometry, first, second, bias, out,
                                          &options, message, sizeof message);
  if (code == 0) return ct::Status::success();
  return ct::Status::error(static_cast<ct::StatusCode>(code), message);
#else
  (void)operation, (void)single_precision, (void)geometry, (void)first, (void)second;
  (void)bias, (void)out, (void)settings;
  return ct::Status::error(ct::StatusCode::device_error,
                           "this build of convtranspose has no CUDA support");
#endif
}

// What the R layer needs to know: whether CUDA was built in, how many
// devices there are (0 when none, never an error), and versions.
// [[Rcpp::export(.ct_cuda_info)]]
Rcpp::List ct_cuda_info() {
#ifdef CONVTRANSPOSE_WITH_CUDA
  int count = 0;
  char message[512] = {0};
  const int code = convtranspose_cuda_device_count(&count, message, sizeof message);
  return Rcpp::List::create(Rcpp::_["built"] = true, Rcpp::_["device_count"] = code == 0 ? count : 0,
                            Rcpp::_["versions"] = std::string(convtranspose_cuda_build_info()),
                            Rcpp::_["message"] = std::string(message));
#else
  return Rcpp::List::create(Rcpp::_["built"] = false, Rcpp::_["device_count"] = 0,
                            Rcpp::_["versions"] = "", Rcpp::_["message"] = "");
#endif
}

// c(in_use, cached) bytes on a device (NA without CUDA).
// [[Rcpp::export(.ct_cuda_memory)]]
Rcpp::NumericVector ct_cuda_memory(int device) {
  double in_use = NA_REAL, cached = NA_REAL;
#ifdef CONVTRANSPOSE_WITH_CUDA
  char message[512] = {0};
  if (convtranspose_cuda_memory(device, &in_use, &cached, message, sizeof message) != 0)
    Rcpp::stop(message);
#else
  (void)device;
#endif
  return Rcpp::NumericVector::create(Rcpp::_["in_use"] = in_use, Rcpp::_["cached"] = cached);
}

// Frees the backend's handles, descriptors and buffers on every device.
// [[Rcpp::export(.ct_cuda_release)]]
void ct_cuda_release() {
#ifdef CONVTRANSPOSE_WITH_CUDA
  convtranspose_cuda_release();
#endif
}

// What the last CUDA call of each operation ran (see cvt_cuda_last_paths()):
// one row per operation that has run, as columns of a list.
// [[Rcpp::export(.ct_cuda_last_paths)]]
Rcpp::List ct_cuda_last_paths() {
  Rcpp::IntegerVector operation, path;
  Rcpp::CharacterVector algorithm, math, reason;
#ifdef CONVTRANSPOSE_WITH_CUDA
  for (int op = 1; op <= 3; ++op) {
    int p = 0;
    char alg[256] = {0}, mt[64] = {0}, why[256] = {0};
    if (!convtranspose_cuda_last_path(op, &p, alg, mt, why, 256)) continue;
    operation.push_back(op);
    path.push_back(p);
    algorithm.push_back(alg);
    math.push_back(mt);
    reason.push_back(why);
  }
#endif
  return Rcpp::List::create(Rcpp::_["operation"] = operation, Rcpp::_["path"] = path,
                            Rcpp::_["algorithm"] = algorithm, Rcpp::_["math"] = math,
                            Rcpp::_["reason"] = reason);
}
