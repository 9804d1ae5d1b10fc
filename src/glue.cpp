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

// POSIX-only parts (loading the ISA builds, fork detection, the workers'
// signal mask) fall back to the baseline kernels and no-ops elsewhere;
// CONVTRANSPOSE_NO_POSIX builds that fallback on a POSIX system, to test it.
#if (defined(__unix__) || defined(__APPLE__)) && !defined(CONVTRANSPOSE_NO_POSIX)
#define CONVTRANSPOSE_POSIX 1
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>
#endif

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/instantiate.hpp"
#include "core/isa_entry.h"
#include "core/run_operation.hpp"
#include "glue_cuda.h"

namespace {

namespace ct = convtranspose;

void check_interrupt_unprotected(void*) { R_CheckUserInterrupt(); }

// Called by the core between chunks, on this (R's) thread only.
bool r_interrupt_pending(void*) {
  return R_ToplevelExec(check_interrupt_unprotected, nullptr) == FALSE;
}

// The process that created the OpenMP thread pool. libgomp's pool does not
// survive fork(): a forked child (parallel::mclapply) that enters a parallel
// region with more than one thread waits forever for threads that do not
// exist in it. So a child runs single-threaded.
#ifdef CONVTRANSPOSE_POSIX
pid_t pool_owner = 0;

bool in_forked_child() { return pool_owner != 0 && getpid() != pool_owner; }
#else
bool in_forked_child() { return false; }
#endif

// SIGINT must reach R's own thread, where the core's interrupt check runs;
// a signal taken by an OpenMP worker is not seen there. Worker threads
// inherit the signal mask of the thread that creates them, so the pool is
// created once with SIGINT blocked, then the mask is restored.
void start_workers_without_sigint(int threads) {
#if defined(_OPENMP) && defined(CONVTRANSPOSE_POSIX)
  static int started = 0;
  if (started >= threads || in_forked_child()) return;
  sigset_t block, previous;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &block, &previous) != 0) return;
#pragma omp parallel num_threads(threads)
  { (void)0; }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  started = threads;
  pool_owner = getpid();
#else
  (void)threads;
#endif
}

// The copy of the core for this CPU's instruction set (core/isa_entry.cpp),
// loaded by .ct_load_isa() when the package loads; absent, or with
// CONVTRANSPOSE_ISA=baseline in the environment, the built-in copy runs.
typedef int (*IsaRun)(int, int, const ct::ConvGeometry*, const double*, const double*,
                      const double*, double*, const ct::ComputeOptions*, char*, int);
struct IsaLibrary {
  void* handle = nullptr;
  IsaRun run = nullptr;
  std::string name = "baseline";
} isa;

#ifdef CONVTRANSPOSE_POSIX
bool cpu_has(const char* name) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (std::strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::strcmp(name, "avx512") == 0)  // (libgcc also checks the OS saves zmm state)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           cpu_has("avx2");
#else
  (void)name;
#endif
  return false;
}
#endif

bool isa_enabled() {
  const char* forced = std::getenv("CONVTRANSPOSE_ISA");
  return isa.run != nullptr && !(forced != nullptr && std::strcmp(forced, "baseline") == 0);
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
// the CPU.
// [[Rcpp::export(.ct_run)]]
SEXP ct_run(std::string layer, std::string pass, Rcpp::NumericVector a,
            Rcpp::Nullable<Rcpp::NumericVector> b, Rcpp::Nullable<Rcpp::NumericVector> weight,
            Rcpp::Nullable<Rcpp::NumericVector> bias, int rank, double batch, int in_channels,
            int out_channels, int groups, Rcpp::IntegerVector input_size,
            Rcpp::IntegerVector kernel_size, Rcpp::IntegerVector stride,
            Rcpp::IntegerVector padding, Rcpp::IntegerVector padding_right,
            Rcpp::IntegerVector output_padding, Rcpp::IntegerVector dilation,
            Rcpp::IntegerVector output_dim, bool single_precision, int num_threads,
            double layout_chunk_bytes, Rcpp::IntegerVector cuda) {
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
  if (in_forked_child()) num_threads = 1;
  start_workers_without_sigint(num_threads);
  // (a result of 32 MB or more is fresh memory: its faults taken here, by
  // this thread alone; see layout.hpp)
  ct::touch_fresh_pages(out, static_cast<std::size_t>(result_elements) * sizeof(double));
  ct::ComputeOptions options;
  options.num_threads = num_threads;
  options.interrupt_check = r_interrupt_pending;
  if (layout_chunk_bytes >= 1) options.layout_chunk_bytes = static_cast<std::int64_t>(layout_chunk_bytes);
  // Run by the AVX2 library when it is loaded, else by the built-in copy.
  if (isa_enabled()) {
    char message[512] = {0};
    const int code = isa.run(operation, single_precision, &g, first, second, bias_ptr, out,
                             &options, message, sizeof message);
    status = code == 0 ? ct::Status::success()
                       : ct::Status::error(static_cast<ct::StatusCode>(code), message);
  } else {
    status =
        ct::run_operation(operation, single_precision, g, first, second, bias_ptr, out, options);
  }
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
  if (in_forked_child()) num_threads = 1;
  start_workers_without_sigint(num_threads);
  ct::channel_sums(x.begin(), n, c, pixels, out.begin(), num_threads);
  return out;
}

// Loads the best copy of the core for this CPU from the package's libs
// directory; returns the instruction set now in use.
// [[Rcpp::export(.ct_load_isa)]]
std::string ct_load_isa(std::string libs_dir) {
#ifdef CONVTRANSPOSE_POSIX
  if (isa.handle != nullptr) return isa.name;
  // CONVTRANSPOSE_ISA=avx2 at load time skips the AVX-512 build
  const char* forced = std::getenv("CONVTRANSPOSE_ISA");
  for (const char* name : {"avx512", "avx2"}) {
    if (!cpu_has(name)) continue;
    if (forced != nullptr && std::strcmp(forced, "avx2") == 0 && std::strcmp(name, "avx2") != 0)
      continue;
    const std::string path = libs_dir + "/convtranspose_" + name + ".so";
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) continue;
    IsaRun run = reinterpret_cast<IsaRun>(dlsym(handle, CONVTRANSPOSE_ISA_ENTRY));
    // a copy the compiler built for the baseline (clang) is no faster: skip it
    typedef int (*IsaLevel)();
    IsaLevel level = reinterpret_cast<IsaLevel>(dlsym(handle, CONVTRANSPOSE_ISA_LEVEL));
    const int wanted = std::strcmp(name, "avx512") == 0 ? 512 : 2;
    if (run == nullptr || level == nullptr || level() != wanted) {
      dlclose(handle);
      continue;
    }
    isa.handle = handle;
    isa.run = run;
    isa.name = name;
    break;
  }
#else
  (void)libs_dir;
#endif
  return isa.name;
}

// [[Rcpp::export(.ct_unload_isa)]]
void ct_unload_isa() {
#ifdef CONVTRANSPOSE_POSIX
  if (isa.handle != nullptr) dlclose(isa.handle);
#endif
  isa = IsaLibrary();
}

// The instruction set the kernels run with now.
// [[Rcpp::export(.ct_kernel_isa)]]
std::string ct_kernel_isa() { return isa_enabled() ? isa.name : "baseline"; }

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
