// Thin Rcpp glue between the R layer and the C++ core. The R layer has
// already validated every argument; the core validates again (resolve_*) and
// its Status comes back to R as a character scalar with a "status" attribute,
// which R turns into a classed condition. Nothing here runs on an OpenMP
// worker thread.
#include <R_ext/Utils.h>
#include <Rcpp.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pthread.h>

#include <csignal>
#include <cstdint>
#include <string>

#include "core/instantiate.hpp"

namespace {

namespace ct = convtranspose;

void check_interrupt_unprotected(void*) { R_CheckUserInterrupt(); }

// Called by the core between chunks, on this (R's) thread only.
bool r_interrupt_pending(void*) {
  return R_ToplevelExec(check_interrupt_unprotected, nullptr) == FALSE;
}

// SIGINT must reach R's own thread, where the core's interrupt check runs;
// a signal taken by an OpenMP worker is not seen there. Worker threads
// inherit the signal mask of the thread that creates them, so the pool is
// created once with SIGINT blocked, then the mask is restored.
void start_workers_without_sigint(int threads) {
#ifdef _OPENMP
  static int started = 0;
  if (started >= threads) return;
  sigset_t block, previous;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &block, &previous) != 0) return;
#pragma omp parallel num_threads(threads)
  { (void)0; }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  started = threads;
#else
  (void)threads;
#endif
}

const char* status_name(ct::StatusCode code) {
  switch (code) {
    case ct::StatusCode::invalid_argument:
      return "invalid_argument";
    case ct::StatusCode::shape_mismatch:
      return "shape_mismatch";
    case ct::StatusCode::size_overflow:
      return "size_overflow";
    case ct::StatusCode::out_of_memory:
      return "out_of_memory";
    case ct::StatusCode::interrupted:
      return "interrupted";
    default:
      return "internal";
  }
}

SEXP status_to_r(const ct::Status& status) {
  Rcpp::CharacterVector out = Rcpp::CharacterVector::create(status.message);
  out.attr("status") = status_name(status.code);
  return out;
}

void fill(std::int64_t* dst, const Rcpp::IntegerVector& src, int rank) {
  for (int d = 0; d < rank; ++d) dst[d] = src[d];
}

}  // namespace

// [[Rcpp::export(.ct_conv_transpose)]]
SEXP ct_conv_transpose(Rcpp::NumericVector input, Rcpp::NumericVector weight,
                       Rcpp::Nullable<Rcpp::NumericVector> bias, int rank, double batch,
                       int in_channels, Rcpp::IntegerVector input_size, int out_channels,
                       int groups, Rcpp::IntegerVector kernel_size, Rcpp::IntegerVector stride,
                       Rcpp::IntegerVector padding, Rcpp::IntegerVector output_padding,
                       Rcpp::IntegerVector dilation, Rcpp::IntegerVector output_dim,
                       bool single_precision, int num_threads) {
  if (rank < 1 || rank > ct::kMaxRank || input_size.size() != rank || kernel_size.size() != rank ||
      stride.size() != rank || padding.size() != rank || output_padding.size() != rank ||
      dilation.size() != rank)
    return status_to_r(
        ct::Status::error(ct::StatusCode::internal, "size vectors do not match the rank"));
  ct::ConvTransposeSpec spec;
  spec.rank = rank;
  spec.batch = static_cast<std::int64_t>(batch);
  spec.groups = groups;
  spec.in_channels = in_channels;
  spec.out_channels = out_channels;
  fill(spec.input_size, input_size, rank);
  fill(spec.kernel_size, kernel_size, rank);
  fill(spec.stride, stride, rank);
  fill(spec.padding, padding, rank);
  fill(spec.output_padding, output_padding, rank);
  fill(spec.dilation, dilation, rank);
  ct::ConvGeometry geometry;
  ct::Status status = ct::resolve_conv_transpose(spec, &geometry);
  if (!status.ok()) return status_to_r(status);
  if (static_cast<std::int64_t>(input.size()) != geometry.coarse_elements ||
      static_cast<std::int64_t>(weight.size()) != geometry.weight_elements)
    return status_to_r(ct::Status::error(ct::StatusCode::shape_mismatch,
                                         "input or weight length does not match its dim"));
  const double* bias_ptr = nullptr;
  Rcpp::NumericVector bias_vec;
  if (bias.isNotNull()) {
    bias_vec = Rcpp::NumericVector(bias);
    if (bias_vec.size() != geometry.fine_channels)
      return status_to_r(
          ct::Status::error(ct::StatusCode::shape_mismatch, "bias length is not out_channels"));
    bias_ptr = bias_vec.begin();
  }
  double expected = 1;
  for (int i = 0; i < output_dim.size(); ++i) expected *= output_dim[i];
  if (expected != static_cast<double>(geometry.fine_elements))
    return status_to_r(ct::Status::error(ct::StatusCode::internal,
                                         "output dim disagrees with the core's geometry"));

  Rcpp::NumericVector output(Rcpp::no_init(static_cast<R_xlen_t>(geometry.fine_elements)));
  output.attr("dim") = output_dim;

  start_workers_without_sigint(num_threads);
  ct::ComputeOptions options;
  options.num_threads = num_threads;
  options.interrupt_check = r_interrupt_pending;
  if (single_precision)
    status = ct::conv_transpose_forward<float, double>(geometry, input.begin(), weight.begin(),
                                                       bias_ptr, output.begin(), options);
  else
    status = ct::conv_transpose_forward<double, double>(geometry, input.begin(), weight.begin(),
                                                        bias_ptr, output.begin(), options);
  if (status.code == ct::StatusCode::interrupted)
    throw Rcpp::internal::InterruptedException();  // Rcpp re-raises R's interrupt
  if (!status.ok()) return status_to_r(status);
  return output;
}

// Facts the R layer needs to pick a default thread count.
// [[Rcpp::export(.ct_openmp_info)]]
Rcpp::IntegerVector ct_openmp_info() {
#ifdef _OPENMP
  return Rcpp::IntegerVector::create(Rcpp::_["available"] = 1,
                                     Rcpp::_["procs"] = omp_get_num_procs(),
                                     Rcpp::_["thread_limit"] = omp_get_thread_limit(),
                                     Rcpp::_["max_threads"] = omp_get_max_threads());
#else
  return Rcpp::IntegerVector::create(Rcpp::_["available"] = 0, Rcpp::_["procs"] = 1,
                                     Rcpp::_["thread_limit"] = 1, Rcpp::_["max_threads"] = 1);
#endif
}
