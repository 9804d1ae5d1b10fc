// The CUDA backend: per-device contexts (stream, cuDNN handle, descriptors,
// cached device buffers, pinned staging buffers, chosen algorithms), the
// transfers, and the mapping of the core's three operations onto cuDNN:
//
//   operation        cuDNN call                      (as a convolution fine -> coarse)
//   coarse_to_fine   cudnnConvolutionBackwardData    dx = fine, dy = coarse
//   fine_to_coarse   cudnnConvolutionForward         x = fine,  y = coarse
//   weight_gradient  cudnnConvolutionBackwardFilter  x = fine,  dy = coarse
//
// The weight is (coarse channels, fine channels / groups, kernel...) for both
// layers, which is cuDNN's filter (K, C / groups, ...) of that convolution.
//
// Why cuDNN's legacy convolution API: it maps one to one onto the three
// operations, supports double precision, groups, dilation and 1-3 spatial
// dimensions, and ships in cuDNN 9 (deprecated, not removed). The graph API
// needs cudnn-frontend (not part of cuDNN's install) or several hundred lines
// of backend descriptors for the same calls. The deprecation is contained in
// this file: cuDNN only marks the functions deprecated when
// CUDNN_WARN_DEPRECATED is defined, which we never do.
//
// Where cuDNN cannot run a case (output sizes outside its formula, as with
// output_padding >= stride; tensors over 2^31 elements per sample; or no
// algorithm it supports), the package's own kernels (kernels.cu) run it.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <convtranspose/geometry.hpp>
#include <convtranspose/status.hpp>

#include "cuda_backend.h"
#include "kernels.cuh"

namespace convtranspose {
namespace cuda {
namespace {

// A failure inside the backend; turned into a status code and a message at
// the C ABI boundary (exceptions never cross it).
struct Failure {
  StatusCode code;
  std::string message;
};

[[noreturn]] void fail(StatusCode code, const std::string& message) {
  throw Failure{code, message};
}

void check_cuda(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return;
  cudaGetLastError();  // clears a non-sticky error so later calls can run
  if (error == cudaErrorMemoryAllocation)
    fail(StatusCode::out_of_memory, std::string("CUDA out of memory (") + what + ")");
  fail(StatusCode::device_error,
       std::string(what) + " failed: " + cudaGetErrorName(error) + ": " + cudaGetErrorString(error));
}

// cuDNN's "not supported" is not an error: the caller falls back to the
// package's own kernels, and records why (`reason`, shown by
// cvt_cuda_last_paths() and the GPU harness).
struct NotSupported {
  std::string reason;
};

// `environment`: cuDNN cannot run on this machine at all (driver, runtime,
// architecture, a missing sub-library): an error to report, never a quiet
// fall back to our kernels.
enum class CudnnOutcome { ok, not_supported, bad_param, out_of_memory, environment, other };

CudnnOutcome classify(cudnnStatus_t status) {
  if (status == CUDNN_STATUS_SUCCESS) return CudnnOutcome::ok;
#if CUDNN_MAJOR >= 9
  // cuDNN 9 groups its codes by thousands; 3005-3009 and 3013 say the
  // machine, not the problem, is what cuDNN cannot handle.
  const int code = static_cast<int>(status);
  if ((code >= 3005 && code <= 3009) || code == 3013) return CudnnOutcome::environment;
  if (code / 1000 == 3) return CudnnOutcome::not_supported;
  if (code / 1000 == 2) return CudnnOutcome::bad_param;
  if (code == 4003 || code == 4004) return CudnnOutcome::out_of_memory;
#else
  if (status == CUDNN_STATUS_NOT_SUPPORTED) return CudnnOutcome::not_supported;
  if (status == CUDNN_STATUS_BAD_PARAM) return CudnnOutcome::bad_param;
  if (status == CUDNN_STATUS_ALLOC_FAILED) return CudnnOutcome::out_of_memory;
#endif
  return CudnnOutcome::other;
}

// `setup`: describing the problem or asking for algorithms, where a refusal
// (bad or unsupported parameters) sends the case to our kernels. At run
// time only "not supported" does; anything else is reported.
void check_cudnn(cudnnStatus_t status, const char* what, bool setup = false) {
  const CudnnOutcome outcome = classify(status);
  if (outcome == CudnnOutcome::ok) return;
  if (outcome == CudnnOutcome::not_supported || (setup && outcome == CudnnOutcome::bad_param))
    throw NotSupported{std::string(what) + ": " + cudnnGetErrorString(status)};
  if (outcome == CudnnOutcome::environment)
    fail(StatusCode::device_error, std::string("cuDNN cannot run on this machine (") + what +
                                       "): " + cudnnGetErrorString(status));
  if (outcome == CudnnOutcome::out_of_memory)
    fail(StatusCode::out_of_memory, std::string("cuDNN could not allocate memory (") + what + ")");
  fail(StatusCode::device_error, std::string(what) + " failed: " + cudnnGetErrorString(status));
}

// A device allocation kept between calls and grown when a call needs more.
struct DeviceBuffer {
  void* data = nullptr;
  std::size_t bytes = 0;
  void release() {
    if (data != nullptr) cudaFree(data);
    data = nullptr;
    bytes = 0;
  }
};

// Device buffers of a call, reused by the next.
enum Slot { kRaw, kFirst, kSecond, kOut, kBias, kWorkspace, kSlots };

constexpr std::size_t kStagingBytes = std::size_t(8) << 20;  // per pinned buffer

struct Context {
  int device = -1;
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cudnnTensorDescriptor_t coarse_desc = nullptr, fine_desc = nullptr;
  cudnnFilterDescriptor_t filter_desc = nullptr;
  cudnnConvolutionDescriptor_t conv_desc = nullptr;
  DeviceBuffer buffers[kSlots];
  // Two pinned host buffers: one fills while the other is in flight.
  void* staging[2] = {nullptr, nullptr};
  cudaEvent_t staging_free[2] = {nullptr, nullptr};
  // The algorithm, math type and workspace chosen per (shape, dtype,
  // options): cuDNN's heuristics or timing run once per key, as PyTorch
  // caches them. Bounded: the oldest choice goes first.
  struct Choice {
    int algo;
    cudnnMathType_t math;
    std::size_t workspace;
  };
  std::map<std::string, Choice> chosen;
  std::deque<std::string> chosen_order;
  static constexpr std::size_t kMaxChoices = 512;

  void remember(const std::string& key, const Choice& choice) {
    if (chosen.emplace(key, choice).second) {
      chosen_order.push_back(key);
      if (chosen_order.size() > kMaxChoices) {
        chosen.erase(chosen_order.front());
        chosen_order.pop_front();
      }
    } else {
      chosen[key] = choice;
    }
  }

  void forget(const std::string& key) {
    chosen.erase(key);
    chosen_order.erase(std::remove(chosen_order.begin(), chosen_order.end(), key),
                       chosen_order.end());
  }

  std::size_t cached_bytes() const {
    std::size_t n = 0;
    for (const DeviceBuffer& b : buffers) n += b.bytes;
    return n;
  }

  // Grows `slot` to at least `bytes`; false (and nothing thrown) when the
  // device is out of memory, true otherwise.
  bool try_grow(Slot slot, std::size_t bytes) {
    DeviceBuffer& b = buffers[slot];
    if (bytes <= b.bytes && b.data != nullptr) return true;
    b.release();
    if (bytes == 0) return true;
    const cudaError_t error = cudaMalloc(&b.data, bytes);
    if (error == cudaSuccess) {
      b.bytes = bytes;
      return true;
    }
    b.data = nullptr;
    if (error != cudaErrorMemoryAllocation) check_cuda(error, "cudaMalloc");
    cudaGetLastError();
    return false;
  }

  // The data buffers of one call, all at once (before any is written): when
  // they do not fit, every cached buffer is freed and they are tried again.
  void reserve(const std::size_t (&bytes)[kSlots]) {
    bool ok = true;
    for (int s = 0; s < kSlots && ok; ++s) ok = try_grow(static_cast<Slot>(s), bytes[s]);
    if (ok) return;
    for (DeviceBuffer& b : buffers) b.release();
    std::size_t total = 0;
    for (int s = 0; s < kSlots; ++s) {
      total += bytes[s];
      if (!try_grow(static_cast<Slot>(s), bytes[s])) {
        std::ostringstream msg;
        msg << "CUDA out of memory: this call needs " << total / 1048576.0
            << " MB or more on cuda:" << device;
        fail(StatusCode::out_of_memory, msg.str());
      }
    }
  }

  template <class T>
  T* data(Slot slot) {
    return static_cast<T*>(buffers[slot].data);
  }

  void release() {
    // Errors are ignored: this runs at unload, maybe after a device failure.
    for (DeviceBuffer& b : buffers) b.release();
    for (int i = 0; i < 2; ++i) {
      if (staging[i] != nullptr) cudaFreeHost(staging[i]);
      if (staging_free[i] != nullptr) cudaEventDestroy(staging_free[i]);
      staging[i] = nullptr;
      staging_free[i] = nullptr;
    }
    if (conv_desc != nullptr) cudnnDestroyConvolutionDescriptor(conv_desc);
    if (filter_desc != nullptr) cudnnDestroyFilterDescriptor(filter_desc);
    if (coarse_desc != nullptr) cudnnDestroyTensorDescriptor(coarse_desc);
    if (fine_desc != nullptr) cudnnDestroyTensorDescriptor(fine_desc);
    if (cudnn != nullptr) cudnnDestroy(cudnn);
    if (stream != nullptr) cudaStreamDestroy(stream);
    conv_desc = nullptr;
    filter_desc = nullptr;
    coarse_desc = fine_desc = nullptr;
    cudnn = nullptr;
    stream = nullptr;
    chosen.clear();
    chosen_order.clear();
  }

  // Buffers larger than this are given back at the end of the call that
  // needed them, so that one unusually large call does not hold the device
  // memory until the package unloads.
  static constexpr std::size_t kKeepBytes = std::size_t(256) << 20;
  void trim() {
    for (DeviceBuffer& b : buffers)
      if (b.bytes > kKeepBytes) b.release();
  }
};

// One context per device, created on first use. Raw pointers: nothing is
// freed by static destructors at exit (the driver may be gone by then);
// convtranspose_cuda_release() frees them.
std::vector<Context*> contexts;

// No driver, no device, or a driver too old: 0 devices, and why in `why`.
int device_count(std::string* why = nullptr) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    if (why != nullptr) *why = cudaGetErrorString(error);
    return 0;
  }
  return count;
}

// Makes `device` current for the call and restores the caller's device.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

Context& context_for(int device) {
  if (contexts.size() <= static_cast<std::size_t>(device)) contexts.resize(device + 1, nullptr);
  if (contexts[device] != nullptr) return *contexts[device];
  Context* ctx = new Context();
  ctx->device = device;
  try {
    check_cuda(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cudnn(cudnnCreate(&ctx->cudnn), "cudnnCreate");
    check_cudnn(cudnnSetStream(ctx->cudnn, ctx->stream), "cudnnSetStream");
    check_cudnn(cudnnCreateTensorDescriptor(&ctx->coarse_desc), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&ctx->fine_desc), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateFilterDescriptor(&ctx->filter_desc), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnnCreateConvolutionDescriptor(&ctx->conv_desc),
                "cudnnCreateConvolutionDescriptor");
    for (int i = 0; i < 2; ++i) {
      check_cuda(cudaMallocHost(&ctx->staging[i], kStagingBytes), "cudaMallocHost");
      check_cuda(cudaEventCreateWithFlags(&ctx->staging_free[i], cudaEventDisableTiming),
                 "cudaEventCreate");
    }
  } catch (const NotSupported& e) {
    ctx->release();
    delete ctx;
    fail(StatusCode::device_error, "cuDNN does not support this GPU (" + e.reason + ")");
  } catch (...) {
    ctx->release();
    delete ctx;
    throw;
  }
  contexts[device] = ctx;
  return *ctx;
}

// Host (pageable, R's memory) -> device, through the pinned buffers.
void upload(Context& ctx, const double* host, double* device, std::int64_t n) {
  const std::size_t chunk = kStagingBytes / sizeof(double);
  std::size_t done = 0;
  for (int i = 0; done < static_cast<std::size_t>(n); ++i) {
    const int b = i % 2;
    const std::size_t len = std::min(chunk, static_cast<std::size_t>(n) - done);
    // the copy that last read this buffer must have finished
    check_cuda(cudaEventSynchronize(ctx.staging_free[b]), "cudaEventSynchronize");
    std::memcpy(ctx.staging[b], host + done, len * sizeof(double));
    check_cuda(cudaMemcpyAsync(device + done, ctx.staging[b], len * sizeof(double),
                               cudaMemcpyHostToDevice, ctx.stream),
               "cudaMemcpyAsync (to the GPU)");
    check_cuda(cudaEventRecord(ctx.staging_free[b], ctx.stream), "cudaEventRecord");
    done += len;
  }
}

// Device -> host: chunk i + 1 is in flight while chunk i is copied out.
void download(Context& ctx, const double* device, double* host, std::int64_t n) {
  const std::size_t chunk = kStagingBytes / sizeof(double);
  const std::size_t chunks = (static_cast<std::size_t>(n) + chunk - 1) / chunk;
  auto length = [&](std::size_t i) { return std::min(chunk, static_cast<std::size_t>(n) - i * chunk); };
  auto issue = [&](std::size_t i) {
    const int b = static_cast<int>(i % 2);
    check_cuda(cudaMemcpyAsync(ctx.staging[b], device + i * chunk, length(i) * sizeof(double),
                               cudaMemcpyDeviceToHost, ctx.stream),
               "cudaMemcpyAsync (from the GPU)");
    check_cuda(cudaEventRecord(ctx.staging_free[b], ctx.stream), "cudaEventRecord");
  };
  if (chunks > 0) issue(0);
  for (std::size_t i = 0; i < chunks; ++i) {
    if (i + 1 < chunks) issue(i + 1);
    const int b = static_cast<int>(i % 2);
    check_cuda(cudaEventSynchronize(ctx.staging_free[b]), "cudaEventSynchronize");
    std::memcpy(host + i * chunk, ctx.staging[b], length(i) * sizeof(double));
  }
}

// ---------------------------------------------------------------------------
// cuDNN

// cuDNN computes the convolution's output size as
// (fine + 2 padding - dilation (kernel - 1) - 1) / stride + 1 with symmetric
// padding. Our geometry allows more fine pixels than that (output_padding,
// or a right padding larger than the left): cuDNN runs the case when the
// extra pixels do not change the coarse size (they are then never reached,
// or receive nothing), else our kernels do.
bool cudnn_geometry_fits(const ConvGeometry& g) {
  for (int d = 0; d < g.rank; ++d) {
    const std::int64_t span =
        g.fine_size[d] + 2 * g.padding[d] - g.dilation[d] * (g.kernel_size[d] - 1) - 1;
    if (span < 0 || span / g.stride[d] + 1 != g.coarse_size[d]) return false;
    if (g.padding[d] > INT_MAX || g.stride[d] > INT_MAX || g.dilation[d] > INT_MAX) return false;
  }
  return g.weight_elements <= INT_MAX;
}

// Samples per cuDNN call: its legacy API indexes tensors with 32-bit ints.
std::int64_t samples_per_call(const ConvGeometry& g) {
  const std::int64_t per_sample =
      std::max(g.coarse_channels * g.coarse_pixels, g.fine_channels * g.fine_pixels);
  if (per_sample <= 0) return g.batch;
  return std::min<std::int64_t>(g.batch, INT_MAX / per_sample);
}

void set_tensor(cudnnTensorDescriptor_t desc, cudnnDataType_t type, std::int64_t batch,
                std::int64_t channels, const std::int64_t* size, int rank) {
  // 1-D layers run as 2-D ones with a leading spatial size of 1.
  const int spatial = std::max(rank, 2);
  int dims[kMaxAxes], strides[kMaxAxes];
  dims[0] = static_cast<int>(batch);
  dims[1] = static_cast<int>(channels);
  for (int d = 0; d < spatial; ++d)
    dims[2 + d] = static_cast<int>(rank == 1 ? (d == 0 ? 1 : size[0]) : size[d]);
  const int n = spatial + 2;
  strides[n - 1] = 1;
  for (int a = n - 2; a >= 0; --a) strides[a] = strides[a + 1] * dims[a + 1];
  check_cudnn(cudnnSetTensorNdDescriptor(desc, type, n, dims, strides), "cudnnSetTensorNdDescriptor", true);
}

// One layout of the spatial hyperparameters for cuDNN (1-D as 2-D).
void spatial_ints(const std::int64_t* values, int rank, std::int64_t unused, int* out) {
  if (rank == 1) {
    out[0] = static_cast<int>(unused);
    out[1] = static_cast<int>(values[0]);
  } else {
    for (int d = 0; d < rank; ++d) out[d] = static_cast<int>(values[d]);
  }
}

struct CudnnCall {
  cudnnDataType_t type;
  cudnnMathType_t math;
  bool allow_tensor_math;
};

void describe(Context& ctx, const ConvGeometry& g, std::int64_t batch, const CudnnCall& call) {
  const int spatial = std::max(g.rank, 2);
  set_tensor(ctx.coarse_desc, call.type, batch, g.coarse_channels, g.coarse_size, g.rank);
  set_tensor(ctx.fine_desc, call.type, batch, g.fine_channels, g.fine_size, g.rank);
  int filter[kMaxAxes];
  filter[0] = static_cast<int>(g.coarse_channels);
  filter[1] = static_cast<int>(g.fine_channels_per_group);
  spatial_ints(g.kernel_size, g.rank, 1, filter + 2);
  check_cudnn(cudnnSetFilterNdDescriptor(ctx.filter_desc, call.type, CUDNN_TENSOR_NCHW,
                                         spatial + 2, filter),
              "cudnnSetFilterNdDescriptor", true);
  int pad[3], stride[3], dilation[3];
  spatial_ints(g.padding, g.rank, 0, pad);
  spatial_ints(g.stride, g.rank, 1, stride);
  spatial_ints(g.dilation, g.rank, 1, dilation);
  check_cudnn(cudnnSetConvolutionNdDescriptor(ctx.conv_desc, spatial, pad, stride, dilation,
                                              CUDNN_CROSS_CORRELATION, call.type),
              "cudnnSetConvolutionNdDescriptor", true);
  check_cudnn(cudnnSetConvolutionGroupCount(ctx.conv_desc, static_cast<int>(g.groups)),
              "cudnnSetConvolutionGroupCount", true);
  check_cudnn(cudnnSetConvolutionMathType(ctx.conv_desc, call.math),
              "cudnnSetConvolutionMathType");
}

bool tensor_math(cudnnMathType_t math) {
  return math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

std::string shape_key(int operation, const ConvGeometry& g, std::int64_t batch,
                      const convtranspose_cuda_options& o) {
  std::ostringstream key;
  key << operation << ':' << o.single_precision << o.deterministic << o.allow_tf32 << o.benchmark
      << ':' << batch
      << ':' << g.rank << ':' << g.groups << ':' << g.coarse_channels << ':' << g.fine_channels;
  for (int d = 0; d < g.rank; ++d)
    key << ':' << g.coarse_size[d] << ',' << g.fine_size[d] << ',' << g.kernel_size[d] << ','
        << g.stride[d] << ',' << g.padding[d] << ',' << g.dilation[d];
  return key.str();
}

constexpr int kCandidates = 16;

// Each operation's cuDNN calls, for the generic loop below.
struct BackwardData {  // coarse -> fine
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr const char* name = "cudnnConvolutionBackwardData";
  static cudnnStatus_t heuristic(Context& c, int n, int* count, Perf* perfs) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(c.cudnn, c.filter_desc, c.coarse_desc,
                                                       c.conv_desc, c.fine_desc, n, count, perfs);
  }
  static cudnnStatus_t find(Context& c, int n, int* count, Perf* perfs) {
    return cudnnFindConvolutionBackwardDataAlgorithm(c.cudnn, c.filter_desc, c.coarse_desc,
                                                     c.conv_desc, c.fine_desc, n, count, perfs);
  }
  static cudnnStatus_t workspace(Context& c, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(c.cudnn, c.filter_desc, c.coarse_desc,
                                                        c.conv_desc, c.fine_desc, algo, bytes);
  }
  // (coarse, weight) -> fine
  static cudnnStatus_t run(Context& c, Algo algo, void* ws, std::size_t bytes, const void* alpha,
                           const void* coarse, const void* weight, const void* beta, void* fine) {
    return cudnnConvolutionBackwardData(c.cudnn, alpha, c.filter_desc, weight, c.coarse_desc,
                                        coarse, c.conv_desc, algo, ws, bytes, beta, c.fine_desc,
                                        fine);
  }
};

struct Forward {  // fine -> coarse
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr const char* name = "cudnnConvolutionForward";
  static cudnnStatus_t heuristic(Context& c, int n, int* count, Perf* perfs) {
    return cudnnGetConvolutionForwardAlgorithm_v7(c.cudnn, c.fine_desc, c.filter_desc,
                                                  c.conv_desc, c.coarse_desc, n, count, perfs);
  }
  static cudnnStatus_t find(Context& c, int n, int* count, Perf* perfs) {
    return cudnnFindConvolutionForwardAlgorithm(c.cudnn, c.fine_desc, c.filter_desc, c.conv_desc,
                                                c.coarse_desc, n, count, perfs);
  }
  static cudnnStatus_t workspace(Context& c, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(c.cudnn, c.fine_desc, c.filter_desc,
                                                   c.conv_desc, c.coarse_desc, algo, bytes);
  }
  // (fine, weight) -> coarse
  static cudnnStatus_t run(Context& c, Algo algo, void* ws, std::size_t bytes, const void* alpha,
                           const void* fine, const void* weight, const void* beta, void* coarse) {
    return cudnnConvolutionForward(c.cudnn, alpha, c.fine_desc, fine, c.filter_desc, weight,
                                   c.conv_desc, algo, ws, bytes, beta, c.coarse_desc, coarse);
  }
};

struct BackwardFilter {  // (coarse, fine) -> weight gradient
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr const char* name = "cudnnConvolutionBackwardFilter";
  static cudnnStatus_t heuristic(Context& c, int n, int* count, Perf* perfs) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(c.cudnn, c.fine_desc, c.coarse_desc,
                                                         c.conv_desc, c.filter_desc, n, count,
                                                         perfs);
  }
  static cudnnStatus_t find(Context& c, int n, int* count, Perf* perfs) {
    return cudnnFindConvolutionBackwardFilterAlgorithm(c.cudnn, c.fine_desc, c.coarse_desc,
                                                       c.conv_desc, c.filter_desc, n, count, perfs);
  }
  static cudnnStatus_t workspace(Context& c, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(c.cudnn, c.fine_desc, c.coarse_desc,
                                                          c.conv_desc, c.filter_desc, algo, bytes);
  }
  static cudnnStatus_t run(Context& c, Algo algo, void* ws, std::size_t bytes, const void* alpha,
                           const void* coarse, const void* fine, const void* beta, void* grad) {
    return cudnnConvolutionBackwardFilter(c.cudnn, alpha, c.fine_desc, fine, c.coarse_desc,
                                          coarse, c.conv_desc, algo, ws, bytes, beta,
                                          c.filter_desc, grad);
  }
};

// What the last call of each operation ran, for cvt_cuda_last_paths() and
// the GPU harness: cuDNN's algorithm and math type, or our kernel and why
// cuDNN declined.
struct PathRecord {
  bool set = false;
  int path = 0;  // Path below
  std::string algorithm, math, reason;
};
PathRecord last_path[4];  // by operation code (1-3)

const char* math_name(cudnnMathType_t math) {
  switch (math) {
    case CUDNN_DEFAULT_MATH:
      return "default";
    case CUDNN_TENSOR_OP_MATH:
      return "tensor_op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "tensor_op_allow_conversion";
    case CUDNN_FMA_MATH:
      return "fma";
    default:
      return "?";
  }
}

// Runs one cuDNN call with the best usable algorithm. The choice for a key
// (shape, dtype, options) is made once and kept: by cuDNN's heuristics,
// which list candidates best first, or with `benchmark` by timing them
// (cudnnFind*; when that runs out of memory, the heuristics). A candidate
// whose workspace does not fit, or that cuDNN declines at run time, gives
// way to the next. float32 without TF32 runs with FMA math, as PyTorch
// does (cuDNN's default math may use TF32 tensor cores). Throws
// NotSupported, with the reason, when none runs.
template <class Calls>
void run_best(Context& ctx, int operation, const std::string& key,
              const convtranspose_cuda_options& o, const CudnnCall& call, const void* alpha,
              const void* a, const void* b, const void* beta, void* out) {
  using Algo = typename Calls::Algo;
  auto ran = [&](int algo, cudnnMathType_t math, const std::string& how) {
    PathRecord& r = last_path[operation];
    r.set = true;
    r.path = 1;
    r.algorithm = std::string(Calls::name) + " algo " + std::to_string(algo) + " (" + how + ")";
    r.math = math_name(math);
    r.reason.clear();
  };
  const auto cached = ctx.chosen.find(key);
  if (cached != ctx.chosen.end()) {
    const Context::Choice c = cached->second;
    check_cudnn(cudnnSetConvolutionMathType(ctx.conv_desc, c.math), "cudnnSetConvolutionMathType",
                true);
    if (ctx.try_grow(kWorkspace, c.workspace)) {
      const cudnnStatus_t status = Calls::run(ctx, static_cast<Algo>(c.algo),
                                              ctx.buffers[kWorkspace].data, c.workspace, alpha, a,
                                              b, beta, out);
      if (classify(status) != CudnnOutcome::not_supported) {
        check_cudnn(status, Calls::name);
        ran(c.algo, c.math, "kept choice");
        return;
      }
    }
    ctx.forget(key);  // no longer runs (memory, or cuDNN changed its mind): choose again
  }
  typename Calls::Perf perfs[kCandidates];
  int count = 0;
  std::string how = "heuristics";
  if (o.benchmark) {
    const cudnnStatus_t status = Calls::find(ctx, kCandidates, &count, perfs);
    if (classify(status) == CudnnOutcome::out_of_memory) {
      count = 0;
      how = "heuristics: timing ran out of memory";
    } else {
      check_cudnn(status, "cudnnFind*Algorithm", true);
      how = "timed";
    }
  }
  if (count == 0)
    check_cudnn(Calls::heuristic(ctx, kCandidates, &count, perfs), "cudnnGet*Algorithm_v7", true);
  int declined = 0, nondeterministic = 0, tensor = 0, too_large = 0;
  for (int i = 0; i < count; ++i) {
    const typename Calls::Perf& p = perfs[i];
    if (p.status != CUDNN_STATUS_SUCCESS) {
      ++declined;
      continue;
    }
    if (o.deterministic && p.determinism != CUDNN_DETERMINISTIC) {
      ++nondeterministic;
      continue;
    }
    if (!call.allow_tensor_math && tensor_math(p.mathType)) {
      ++tensor;
      continue;
    }
    const cudnnMathType_t math = call.allow_tensor_math ? p.mathType : CUDNN_FMA_MATH;
    check_cudnn(cudnnSetConvolutionMathType(ctx.conv_desc, math), "cudnnSetConvolutionMathType",
                true);
    std::size_t bytes = 0;
    if (classify(Calls::workspace(ctx, p.algo, &bytes)) != CudnnOutcome::ok) {
      ++declined;
      continue;
    }
    if (!ctx.try_grow(kWorkspace, bytes)) {
      ++too_large;
      continue;
    }
    const cudnnStatus_t status = Calls::run(ctx, p.algo, ctx.buffers[kWorkspace].data, bytes,
                                            alpha, a, b, beta, out);
    if (classify(status) == CudnnOutcome::not_supported) {
      ++declined;
      continue;
    }
    check_cudnn(status, Calls::name);
    ctx.remember(key, Context::Choice{static_cast<int>(p.algo), math, bytes});
    ran(static_cast<int>(p.algo), math, how);
    return;
  }
  std::ostringstream why;
  why << "no cuDNN algorithm ran (" << count << " candidates: " << declined << " declined, "
      << nondeterministic << " not deterministic, " << tensor << " tensor-op math without TF32, "
      << too_large << " workspace too large)";
  throw NotSupported{why.str()};
}

// One operation with cuDNN on packed device arrays, in calls of at most
// samples_per_call() samples. Throws NotSupported when cuDNN refuses.
template <class T>
void run_cudnn(Context& ctx, int operation, const ConvGeometry& g, const T* first, const T* second,
               T* out, const convtranspose_cuda_options& o) {
  const bool single = o.single_precision != 0;
  CudnnCall call;
  call.type = single ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
  // PyTorch's choice: float32 may use TF32 tensor cores only when allowed.
  call.allow_tensor_math = !single || o.allow_tf32 != 0;
  call.math = single && !o.allow_tf32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
  const T one = 1, zero = 0;  // cuDNN's scaling factors: double for double data
  const std::int64_t step = samples_per_call(g);
  const std::int64_t coarse_per_sample = g.coarse_channels * g.coarse_pixels;
  const std::int64_t fine_per_sample = g.fine_channels * g.fine_pixels;
  for (std::int64_t n0 = 0; n0 < g.batch; n0 += step) {
    const std::int64_t batch = std::min(step, g.batch - n0);
    describe(ctx, g, batch, call);
    const std::string key = shape_key(operation, g, batch, o);
    if (operation == CONVTRANSPOSE_COARSE_TO_FINE) {
      run_best<BackwardData>(ctx, operation, key, o, call, &one, first + n0 * coarse_per_sample, second,
                             &zero, out + n0 * fine_per_sample);
    } else if (operation == CONVTRANSPOSE_FINE_TO_COARSE) {
      run_best<Forward>(ctx, operation, key, o, call, &one, first + n0 * fine_per_sample, second, &zero,
                        out + n0 * coarse_per_sample);
    } else {
      // later calls add to the sum of the first
      run_best<BackwardFilter>(ctx, operation, key, o, call, &one, first + n0 * coarse_per_sample,
                               second + n0 * fine_per_sample, n0 == 0 ? &zero : &one, out);
    }
  }
}

// The package's own kernels for what cuDNN does not run.
template <class T>
void run_direct(Context& ctx, int operation, const ConvGeometry& g, const T* first,
                const T* second, T* out) {
  cudaError_t error;
  if (operation == CONVTRANSPOSE_COARSE_TO_FINE)
    error = coarse_to_fine_direct<T>(g, first, second, out, ctx.stream);
  else if (operation == CONVTRANSPOSE_FINE_TO_COARSE)
    error = fine_to_coarse_direct<T>(g, first, second, out, ctx.stream);
  else
    error = weight_gradient_direct<T>(g, first, second, out, ctx.stream);
  check_cuda(error, "a convolution kernel launch");
}

enum Path { kCudnnPath = 1, kDirectPath = 2 };

// Runs an operation on packed device arrays: cuDNN where it can, else ours.
template <class T>
Path run_packed(Context& ctx, int operation, const ConvGeometry& g, const T* first,
                const T* second, T* out, const convtranspose_cuda_options& o) {
  std::string reason;
  if (!cudnn_geometry_fits(g)) {
    reason = "a shape cuDNN cannot describe (output_padding >= stride, an asymmetric "
             "padding, or more than 2^31 elements a sample)";
  } else if (samples_per_call(g) < 1) {
    reason = "one sample is too large for one cuDNN call";
  } else {
    try {
      run_cudnn<T>(ctx, operation, g, first, second, out, o);
      return kCudnnPath;
    } catch (const NotSupported& e) {
      // falls through: nothing was written that the direct kernel won't overwrite
      reason = e.reason;
    }
  }
  run_direct<T>(ctx, operation, g, first, second, out);
  PathRecord& r = last_path[operation];
  r.set = true;
  r.path = kDirectPath;
  r.algorithm = "the package's direct CUDA kernel";
  r.math = "fma";
  r.reason = reason;
  return kDirectPath;
}

// The R dim() of each array of an operation.
Axes data_axes(const ConvGeometry& g, bool coarse) {
  Axes a;
  a.count = g.rank + 2;
  a.size[0] = g.batch;
  a.size[1] = coarse ? g.coarse_channels : g.fine_channels;
  for (int d = 0; d < g.rank; ++d) a.size[2 + d] = coarse ? g.coarse_size[d] : g.fine_size[d];
  return a;
}

Axes weight_axes(const ConvGeometry& g) {
  Axes a;
  a.count = g.rank + 2;
  a.size[0] = g.coarse_channels;
  a.size[1] = g.fine_channels_per_group;
  for (int d = 0; d < g.rank; ++d) a.size[2 + d] = g.kernel_size[d];
  return a;
}

struct OperationArrays {
  Axes first, second, out;
};

OperationArrays arrays_of(int operation, const ConvGeometry& g) {
  switch (operation) {
    case CONVTRANSPOSE_COARSE_TO_FINE:
      return {data_axes(g, true), weight_axes(g), data_axes(g, false)};
    case CONVTRANSPOSE_FINE_TO_COARSE:
      return {data_axes(g, false), weight_axes(g), data_axes(g, true)};
    case CONVTRANSPOSE_WEIGHT_GRADIENT:
      return {data_axes(g, true), data_axes(g, false), weight_axes(g)};
    default:
      fail(StatusCode::internal, "unknown operation");
  }
}

void check_device(int device) {
  const int count = device_count();
  if (count == 0) fail(StatusCode::device_error, "no CUDA device is available");
  if (device < 0 || device >= count) {
    std::ostringstream msg;
    msg << "device cuda:" << device << " does not exist (this machine has " << count
        << " CUDA device" << (count == 1 ? "" : "s") << ", cuda:0 to cuda:" << count - 1 << ")";
    fail(StatusCode::device_error, msg.str());
  }
}

template <class T>
void run_from_host(int operation, const ConvGeometry& g, const double* first, const double* second,
                   const double* bias, double* out, const convtranspose_cuda_options& o) {
  const OperationArrays arrays = arrays_of(operation, g);
  const std::int64_t n_first = arrays.first.elements(), n_second = arrays.second.elements(),
                     n_out = arrays.out.elements();
  if (g.batch == 0) {  // nothing to compute: an empty result, or a zero sum
    std::fill(out, out + n_out, 0.0);
    return;
  }
  Context& ctx = context_for(o.device);
  // One R-layout buffer serves each array in turn (same stream, in order).
  std::size_t bytes[kSlots] = {};
  bytes[kRaw] = static_cast<std::size_t>(std::max({n_first, n_second, n_out})) * sizeof(double);
  bytes[kFirst] = static_cast<std::size_t>(n_first) * sizeof(T);
  bytes[kSecond] = static_cast<std::size_t>(n_second) * sizeof(T);
  bytes[kOut] = static_cast<std::size_t>(n_out) * sizeof(T);
  bytes[kBias] = bias != nullptr ? static_cast<std::size_t>(arrays.out.size[1]) * sizeof(double) : 0;
  ctx.reserve(bytes);
  double* raw = ctx.data<double>(kRaw);
  T* packed_first = ctx.data<T>(kFirst);
  T* packed_second = ctx.data<T>(kSecond);
  T* packed_out = ctx.data<T>(kOut);
  double* bias_device = nullptr;
  if (bias != nullptr) {
    bias_device = ctx.data<double>(kBias);
    upload(ctx, bias, bias_device, arrays.out.size[1]);
  }
  upload(ctx, first, raw, n_first);
  check_cuda(pack_from_r<T>(raw, packed_first, arrays.first, ctx.stream), "a layout kernel launch");
  upload(ctx, second, raw, n_second);
  check_cuda(pack_from_r<T>(raw, packed_second, arrays.second, ctx.stream), "a layout kernel launch");
  run_packed<T>(ctx, operation, g, packed_first, packed_second, packed_out, o);
  check_cuda(unpack_to_r<T>(packed_out, raw, arrays.out, bias_device, ctx.stream),
             "a layout kernel launch");
  download(ctx, raw, out, n_out);
  check_cuda(cudaStreamSynchronize(ctx.stream), "the computation on the GPU");
  ctx.trim();
}

template <class T>
void time_packed(int operation, const ConvGeometry& g, const convtranspose_cuda_options& o,
                 int repeats, double* milliseconds, int* path) {
  const OperationArrays arrays = arrays_of(operation, g);
  Context& ctx = context_for(o.device);
  std::size_t bytes[kSlots] = {};
  bytes[kFirst] = static_cast<std::size_t>(arrays.first.elements()) * sizeof(T);
  bytes[kSecond] = static_cast<std::size_t>(arrays.second.elements()) * sizeof(T);
  bytes[kOut] = static_cast<std::size_t>(arrays.out.elements()) * sizeof(T);
  ctx.reserve(bytes);
  T* first = ctx.data<T>(kFirst);
  T* second = ctx.data<T>(kSecond);
  T* out = ctx.data<T>(kOut);
  check_cuda(fill_pattern<T>(first, arrays.first.elements(), ctx.stream), "fill");
  check_cuda(fill_pattern<T>(second, arrays.second.elements(), ctx.stream), "fill");
  *path = run_packed<T>(ctx, operation, g, first, second, out, o);  // warm-up, choices made
  cudaEvent_t start, stop;
  check_cuda(cudaEventCreate(&start), "cudaEventCreate");
  check_cuda(cudaEventCreate(&stop), "cudaEventCreate");
  cudaEventRecord(start, ctx.stream);
  for (int r = 0; r < repeats; ++r) run_packed<T>(ctx, operation, g, first, second, out, o);
  cudaEventRecord(stop, ctx.stream);
  const cudaError_t error = cudaEventSynchronize(stop);
  float elapsed = 0;
  if (error == cudaSuccess) cudaEventElapsedTime(&elapsed, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  check_cuda(error, "the timed computation on the GPU");
  *milliseconds = static_cast<double>(elapsed) / std::max(1, repeats);
}

int report(StatusCode code, const std::string& text, char* message, int message_size) {
  if (message != nullptr && message_size > 0) {
    const std::size_t n = std::min(text.size(), static_cast<std::size_t>(message_size - 1));
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
  }
  return static_cast<int>(code);
}

// Runs `body` and turns whatever it throws into a status code + message.
template <class Body>
int guarded(char* message, int message_size, Body body) {
  try {
    body();
    return 0;
  } catch (const Failure& f) {
    return report(f.code, f.message, message, message_size);
  } catch (const NotSupported& e) {
    return report(StatusCode::device_error, "cuDNN does not support this case: " + e.reason,
                  message, message_size);
  } catch (const std::bad_alloc&) {
    return report(StatusCode::out_of_memory, "out of host memory in the CUDA backend", message,
                  message_size);
  } catch (const std::exception& e) {
    return report(StatusCode::internal, e.what(), message, message_size);
  } catch (...) {
    return report(StatusCode::internal, "unknown failure in the CUDA backend", message,
                  message_size);
  }
}

}  // namespace
}  // namespace cuda
}  // namespace convtranspose

namespace ctc = convtranspose::cuda;

extern "C" int convtranspose_cuda_device_count(int* count, char* message, int message_size) {
  return ctc::guarded(message, message_size, [&] {
    std::string why;
    *count = ctc::device_count(&why);
    ctc::report(convtranspose::StatusCode::ok, why, message, message_size);
  });
}

extern "C" int convtranspose_cuda_run(int operation, const convtranspose::ConvGeometry* geometry,
                                      const double* first, const double* second,
                                      const double* bias, double* out,
                                      const convtranspose_cuda_options* options, char* message,
                                      int message_size) {
  return ctc::guarded(message, message_size, [&] {
    ctc::check_device(options->device);
    ctc::DeviceScope scope(options->device);
    if (options->single_precision)
      ctc::run_from_host<float>(operation, *geometry, first, second, bias, out, *options);
    else
      ctc::run_from_host<double>(operation, *geometry, first, second, bias, out, *options);
  });
}

extern "C" int convtranspose_cuda_memory(int device, double* in_use_bytes, double* cached_bytes,
                                         char* message, int message_size) {
  return ctc::guarded(message, message_size, [&] {
    ctc::check_device(device);
    ctc::DeviceScope scope(device);
    std::size_t free_bytes = 0, total_bytes = 0;
    ctc::check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    *in_use_bytes = static_cast<double>(total_bytes - free_bytes);
    const bool has = ctc::contexts.size() > static_cast<std::size_t>(device) &&
                     ctc::contexts[device] != nullptr;
    *cached_bytes = has ? static_cast<double>(ctc::contexts[device]->cached_bytes()) : 0.0;
  });
}

extern "C" void convtranspose_cuda_release(void) {
  for (std::size_t d = 0; d < ctc::contexts.size(); ++d) {
    ctc::Context* ctx = ctc::contexts[d];
    if (ctx == nullptr) continue;
    if (cudaSetDevice(static_cast<int>(d)) == cudaSuccess) {
      cudaStreamSynchronize(ctx->stream);
      ctx->release();
    }
    delete ctx;
    ctc::contexts[d] = nullptr;
  }
  ctc::contexts.clear();
}

extern "C" int convtranspose_cuda_time_operation(int operation,
                                                 const convtranspose::ConvGeometry* geometry,
                                                 const convtranspose_cuda_options* options,
                                                 int repeats, double* milliseconds, int* path,
                                                 char* message, int message_size) {
  return ctc::guarded(message, message_size, [&] {
    ctc::check_device(options->device);
    ctc::DeviceScope scope(options->device);
    if (options->single_precision)
      ctc::time_packed<float>(operation, *geometry, *options, repeats, milliseconds, path);
    else
      ctc::time_packed<double>(operation, *geometry, *options, repeats, milliseconds, path);
  });
}

extern "C" int convtranspose_cuda_last_path(int operation, int* path, char* algorithm,
                                            char* math, char* reason, int text_size) {
  if (operation < 1 || operation > 3 || !ctc::last_path[operation].set) return 0;
  const ctc::PathRecord& r = ctc::last_path[operation];
  *path = r.path;
  ctc::report(convtranspose::StatusCode::ok, r.algorithm, algorithm, text_size);
  ctc::report(convtranspose::StatusCode::ok, r.math, math, text_size);
  ctc::report(convtranspose::StatusCode::ok, r.reason, reason, text_size);
  return 1;
}

extern "C" const char* convtranspose_cuda_build_info(void) {
  static char info[256] = {0};
  if (info[0] == '\0') {
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    const std::size_t cudnn = cudnnGetVersion();
    std::ostringstream text;
    text << "CUDA runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", cuDNN "
         << cudnn / 10000 << "." << (cudnn % 10000) / 100 << "." << cudnn % 100
         << " (built with " << CUDNN_MAJOR << "." << CUDNN_MINOR << "." << CUDNN_PATCHLEVEL << ")";
    const std::string s = text.str();
    std::memcpy(info, s.data(), std::min(s.size(), sizeof info - 1));
  }
  return info;
}
