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
#if (defined(__unix__) || defined(__APPLE__)) && !defined(CONVTRANSPOSE_NO_POSIX)
#include <unistd.h>
#endif

#include <cstdint>
#include <string>

#include <convtranspose/convtranspose.hpp>

#include "core/isa_entry.h"
#include "glue_cuda.h"
#include "isa_loader.h"
#include "workers.h"

namespace {

namespace ct = convtranspose;

void check_interrupt_unprotected(void*) { R_CheckUserInterrupt(); }

// Called by the core between chunks, on this (R's) thread only.
bool r_interrupt_pending(void*) {
  return R_ToplevelExec(check_interrupt_unprotected, nullptr) == FALSE;
}

// The per-core L2 cache the blocking is sized from (1 MB where the system
// does not say).
std::int64_t l2_cache_bytes() {
#if defined(_SC_LEVEL2_CACHE_SIZE)
  static const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (bytes >= (64 << 10) && bytes <= (64l << 20)) return bytes;
#endif
  return std::int64_t(1) << 20;
}

// What the last CPU operation ran (for convtranspose.verbose), and the last
// of each operation (for the tests of forced paths).
struct LastPath {
  int operation = 0;
  ct::PathReport report;
  std::string isa, dtype;
};
LastPath last_path, last_of_operation[4];

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
    case ct::StatusCode::device_error:
      return "device_error";
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

// Runs one pass of one layer. `layer` is "conv_transpose" or "conv";
// `pass` is "forward" (a = input, with weight and bias), "input_grad"
// (a = grad_output, with weight) or "weight_grad" (a = input,
// b = grad_output). Sizes are the layer's own hyperparameters: for "conv",
// `padding` is the left padding and `padding_right` the right one; for
// "conv_transpose", `output_padding` applies. The result has dim `output_dim`.
// `layout_chunk_bytes` bounds the sample-major copies of a batched call;
// `cuda` is c(device, deterministic, benchmark, allow_tf32), device -1 for
// the CPU; `forced_path` a CPU path's number (paths.hpp) or -1.
// [[Rcpp::export(.ct_run)]]
SEXP ct_run(std::string layer, std::string pass, Rcpp::NumericVector a,
            Rcpp::Nullable<Rcpp::NumericVector> b, Rcpp::Nullable<Rcpp::NumericVector> weight,
            Rcpp::Nullable<Rcpp::NumericVector> bias, int rank, double batch, int in_channels,
            int out_channels, int groups, Rcpp::IntegerVector input_size,
            Rcpp::IntegerVector kernel_size, Rcpp::IntegerVector stride,
            Rcpp::IntegerVector padding, Rcpp::IntegerVector padding_right,
            Rcpp::IntegerVector output_padding, Rcpp::IntegerVector dilation,
            Rcpp::IntegerVector output_dim, bool single_precision, int num_threads,
            double layout_chunk_bytes, Rcpp::IntegerVector cuda, int forced_path) {
  auto fail = [](ct::StatusCode code, const char* message) {
    return status_to_r(ct::Status::error(code, message));
  };
  const Rcpp::IntegerVector* sizes[] = {&input_size,    &kernel_size,    &stride,  &padding,
                                        &padding_right, &output_padding, &dilation};
  if (rank < 1 || rank > ct::kMaxRank) return fail(ct::StatusCode::internal, "bad rank");
  for (const Rcpp::IntegerVector* v : sizes)
    if (v->size() != rank)
      return fail(ct::StatusCode::internal, "size vectors do not match the rank");
  const bool transposed = layer == "conv_transpose";
  if (!transposed && layer != "conv") return fail(ct::StatusCode::internal, "unknown layer");
  if (pass != "forward" && pass != "input_grad" && pass != "weight_grad")
    return fail(ct::StatusCode::internal, "unknown pass");
  if (cuda.size() != 4) return fail(ct::StatusCode::internal, "bad cuda settings");

  ct::ConvGeometry g;
  ct::Status status;
  // The fields both layers' specs share.
  auto fill_common = [&](auto& spec) {
    spec.rank = rank;
    spec.batch = static_cast<std::int64_t>(batch);
    spec.in_channels = in_channels;
    spec.out_channels = out_channels;
    spec.groups = groups;
    fill(spec.input_size, input_size, rank);
    fill(spec.kernel_size, kernel_size, rank);
    fill(spec.stride, stride, rank);
    fill(spec.dilation, dilation, rank);
  };
  if (transposed) {
    ct::ConvTransposeSpec spec;
    fill_common(spec);
    fill(spec.padding, padding, rank);
    fill(spec.output_padding, output_padding, rank);
    status = ct::resolve_conv_transpose(spec, &g);
  } else {
    ct::ConvSpec spec;
    fill_common(spec);
    fill(spec.padding_left, padding, rank);
    fill(spec.padding_right, padding_right, rank);
    status = ct::resolve_conv(spec, &g);
  }
  if (!status.ok()) return status_to_r(status);

  // The layer's input and output sides in the coarse/fine geometry.
  const std::int64_t input_elements = transposed ? g.coarse_elements : g.fine_elements;
  const std::int64_t output_elements = transposed ? g.fine_elements : g.coarse_elements;
  const std::int64_t out_channels_count = transposed ? g.fine_channels : g.coarse_channels;
  const bool weight_pass = pass == "weight_grad";
  const std::int64_t a_expected = pass == "input_grad" ? output_elements : input_elements;
  const std::int64_t result_elements = weight_pass         ? g.weight_elements
                                       : pass == "forward" ? output_elements
                                                           : input_elements;
  if (static_cast<std::int64_t>(a.size()) != a_expected)
    return fail(ct::StatusCode::shape_mismatch, "array length does not match its dim");
  Rcpp::NumericVector b_vec, w_vec, bias_vec;
  const double* b_ptr = nullptr;
  const double* w_ptr = nullptr;
  const double* bias_ptr = nullptr;
  if (weight_pass) {
    if (b.isNull()) return fail(ct::StatusCode::internal, "grad_output missing");
    b_vec = Rcpp::NumericVector(b);
    if (static_cast<std::int64_t>(b_vec.size()) != output_elements)
      return fail(ct::StatusCode::shape_mismatch, "grad_output length does not match");
    b_ptr = b_vec.begin();
  } else {
    if (weight.isNull()) return fail(ct::StatusCode::internal, "weight missing");
    w_vec = Rcpp::NumericVector(weight);
    if (static_cast<std::int64_t>(w_vec.size()) != g.weight_elements)
      return fail(ct::StatusCode::shape_mismatch, "weight length does not match its dim");
    w_ptr = w_vec.begin();
  }
  if (bias.isNotNull() && pass == "forward") {
    bias_vec = Rcpp::NumericVector(bias);
    if (static_cast<std::int64_t>(bias_vec.size()) != out_channels_count)
      return fail(ct::StatusCode::shape_mismatch, "bias length is not out_channels");
    bias_ptr = bias_vec.begin();
  }
  double expected = 1;
  for (int i = 0; i < output_dim.size(); ++i) expected *= output_dim[i];
  if (expected != static_cast<double>(result_elements))
    return fail(ct::StatusCode::internal, "result dim disagrees with the core's geometry");

  Rcpp::NumericVector result(Rcpp::no_init(static_cast<R_xlen_t>(result_elements)));
  result.attr("dim") = output_dim;
  ct::advise_huge_pages(result.begin(), static_cast<std::size_t>(result_elements) * sizeof(double));
  // One pass = one core operation (see api.hpp's table).
  const bool to_fine = transposed ? pass == "forward" : pass == "input_grad";
  const int operation = weight_pass ? CONVTRANSPOSE_WEIGHT_GRADIENT
                        : to_fine   ? CONVTRANSPOSE_COARSE_TO_FINE
                                    : CONVTRANSPOSE_FINE_TO_COARSE;
  // For the weight gradient the two arrays are (coarse side, fine side).
  const double* x = a.begin();
  const double* first = weight_pass ? (transposed ? x : b_ptr) : x;
  const double* second = weight_pass ? (transposed ? b_ptr : x) : w_ptr;
  double* out = result.begin();
  last_path = LastPath();
  last_of_operation[operation] = LastPath();
  if (cuda[0] >= 0) {
    CudaCallSettings settings;
    settings.device = cuda[0];
    settings.deterministic = cuda[1] != 0;
    settings.benchmark = cuda[2] != 0;
    settings.allow_tf32 = cuda[3] != 0;
    status = run_operation_on_cuda(operation, single_precision, g, first, second, bias_ptr, out,
                                   settings);
    if (!status.ok()) return status_to_r(status);
    return result;
  }
  num_threads = usable_threads(num_threads);
  start_workers_without_sigint(num_threads);
  // (a result of 32 MB or more is fresh memory: its faults taken here, by
  // this thread alone; see layout.hpp)
  ct::touch_fresh_pages(out, static_cast<std::size_t>(result_elements) * sizeof(double));
  ct::ComputeOptions options;
  options.num_threads = num_threads;
  options.interrupt_check = r_interrupt_pending;
  if (layout_chunk_bytes >= 1)
    options.layout_chunk_bytes = static_cast<std::int64_t>(layout_chunk_bytes);
  options.l2_bytes = l2_cache_bytes();
  options.forced_path = forced_path;
  options.report = &last_path.report;
  last_path.operation = operation;
  last_path.isa = current_isa();
  last_path.dtype = single_precision ? "float32" : "float64";
  status = run_on_current_isa(operation, single_precision, g, first, second, bias_ptr, out,
                              options);
  last_of_operation[operation] = last_path;
  if (status.code == ct::StatusCode::interrupted)
    throw Rcpp::internal::InterruptedException();  // Rcpp re-raises R's interrupt
  if (!status.ok()) return status_to_r(status);
  return result;
}

// Per-channel sums of an R array with dim c(batch, channels, ...) (or
// c(channels, ...) with batch = 1): a bias gradient.
// [[Rcpp::export(.ct_channel_sums)]]
Rcpp::NumericVector ct_channel_sums(Rcpp::NumericVector x, double batch, double channels,
                                    int num_threads) {
  const std::int64_t n = static_cast<std::int64_t>(batch), c = static_cast<std::int64_t>(channels);
  Rcpp::NumericVector out(Rcpp::no_init(static_cast<R_xlen_t>(c)));
  const std::int64_t per = n * c;
  const std::int64_t pixels = per > 0 ? static_cast<std::int64_t>(x.size()) / per : 0;
  if (per > 0 && pixels * per != static_cast<std::int64_t>(x.size()))
    Rcpp::stop("array length is not a multiple of batch x channels");
  num_threads = usable_threads(num_threads);
  start_workers_without_sigint(num_threads);
  ct::channel_sums(x.begin(), n, c, pixels, out.begin(), num_threads);
  return out;
}

// Loads the copies of the core this CPU runs from the package's kernels
// directory; returns the instruction set now in use.
// [[Rcpp::export(.ct_load_isa)]]
std::string ct_load_isa(std::string libs_dir) { return load_isa_libraries(libs_dir); }

// [[Rcpp::export(.ct_unload_isa)]]
void ct_unload_isa() { unload_isa_libraries(); }

// The instruction set the kernels run with now.
// [[Rcpp::export(.ct_kernel_isa)]]
std::string ct_kernel_isa() { return current_isa(); }

// The CPU kernel paths (paths.hpp), one element per column.
// [[Rcpp::export(.ct_path_table)]]
Rcpp::List ct_path_table() {
  const int n = static_cast<int>(ct::Path::count);
  Rcpp::CharacterVector operation(n), path(n), isas(n), dtypes(n), description(n);
  Rcpp::IntegerVector id(n);
  for (int i = 0; i < n; ++i) {
    const ct::PathInfo& info = ct::path_table()[i];
    id[i] = static_cast<int>(info.path);
    operation[i] = ct::operation_name(info.operation);
    path[i] = info.name;
    isas[i] = (info.traits & ct::kSimdOnly) ? "avx2,avx512" : "baseline,avx2,avx512";
    const bool f64 = (info.traits & ct::kFloat64) != 0, f32 = (info.traits & ct::kFloat32) != 0;
    dtypes[i] = f64 && f32 ? "float64,float32" : f64 ? "float64" : "float32";
    description[i] = info.description;
  }
  return Rcpp::List::create(Rcpp::_["operation"] = operation, Rcpp::_["path"] = path,
                            Rcpp::_["isas"] = isas, Rcpp::_["dtypes"] = dtypes,
                            Rcpp::_["description"] = description, Rcpp::_["id"] = id);
}

// The path the last CPU operation took (`operation` 0), or the last one of
// operation 1, 2 or 3 (isa_entry.h); NULL if there was none.
// [[Rcpp::export(.ct_last_path)]]
SEXP ct_last_path(int operation = 0) {
  if (operation < 0 || operation > 3) Rcpp::stop("no such operation");
  const LastPath& last = operation == 0 ? last_path : last_of_operation[operation];
  if (last.operation == 0) return R_NilValue;
  const int path = last.report.path;
  return Rcpp::List::create(
      Rcpp::_["operation"] = ct::operation_name(static_cast<ct::Operation>(last.operation)),
      Rcpp::_["path"] = path >= 0 ? ct::path_table()[path].name : "none",
      Rcpp::_["isa"] = last.isa, Rcpp::_["dtype"] = last.dtype,
      Rcpp::_["reason"] = std::string(last.report.reason));
}

// Facts the R layer needs to pick a default thread count.
// [[Rcpp::export(.ct_openmp_info)]]
Rcpp::IntegerVector ct_openmp_info() {
#ifdef _OPENMP
  return Rcpp::IntegerVector::create(Rcpp::_["available"] = 1,
                                     Rcpp::_["procs"] = omp_get_num_procs(),
                                     Rcpp::_["thread_limit"] = omp_get_thread_limit(),
                                     Rcpp::_["max_threads"] = omp_get_max_threads(),
                                     Rcpp::_["forked_child"] = in_forked_child() ? 1 : 0);
#else
  return Rcpp::IntegerVector::create(Rcpp::_["available"] = 0, Rcpp::_["procs"] = 1,
                                     Rcpp::_["thread_limit"] = 1, Rcpp::_["max_threads"] = 1,
                                     Rcpp::_["forked_child"] = 0);
#endif
}
