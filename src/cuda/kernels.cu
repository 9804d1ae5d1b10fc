// The package's own CUDA kernels: see kernels.cuh.
#include "kernels.cuh"

#include <algorithm>

namespace convtranspose {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// Enough blocks to fill the GPU; the kernels loop with a grid stride.
unsigned int blocks_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::max<std::int64_t>(1, std::min<std::int64_t>(blocks, 65535)));
}

__device__ inline std::int64_t first_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

// Both kernels write consecutive addresses (coalesced) and gather their reads.
template <class T>
__global__ void pack_kernel(const double* src, T* dst, Axes axes, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    // i is row-major over axes; the source is column-major.
    std::int64_t rest = i, offset = 0, column_stride = 1;
    std::int64_t index[kMaxAxes];
    for (int a = axes.count - 1; a >= 0; --a) {
      index[a] = rest % axes.size[a];
      rest /= axes.size[a];
    }
    for (int a = 0; a < axes.count; ++a) {
      offset += index[a] * column_stride;
      column_stride *= axes.size[a];
    }
    dst[i] = static_cast<T>(src[offset]);
  }
}

template <class T>
__global__ void unpack_kernel(const T* src, double* dst, Axes axes, const double* bias,
                              std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    // i is column-major over axes; the source is row-major.
    std::int64_t rest = i, offset = 0, row_stride = 1;
    std::int64_t index[kMaxAxes];
    for (int a = 0; a < axes.count; ++a) {
      index[a] = rest % axes.size[a];
      rest /= axes.size[a];
    }
    for (int a = axes.count - 1; a >= 0; --a) {
      offset += index[a] * row_stride;
      row_stride *= axes.size[a];
    }
    double value = static_cast<double>(src[offset]);
    if (bias != nullptr) value += bias[index[1]];
    dst[i] = value;
  }
}

// Unused spatial dimensions have size 1, so every kernel loops over three.
__device__ inline void split_pixel(std::int64_t pixel, const std::int64_t* size, std::int64_t* at) {
  at[2] = pixel % size[2];
  at[1] = (pixel / size[2]) % size[1];
  at[0] = pixel / (size[2] * size[1]);
}

__device__ inline std::int64_t join_pixel(const std::int64_t* at, const std::int64_t* size) {
  return (at[0] * size[1] + at[1]) * size[2] + at[2];
}

// fine[n, cf, f] = sum over the group's coarse channels cc and the taps t
// with f = q * stride - padding + t * dilation of coarse[n, cc, q] * w[cc, cf', t]
template <class T>
__global__ void coarse_to_fine_kernel(ConvGeometry g, const T* coarse, const T* weight, T* fine) {
  const std::int64_t n_out = g.batch * g.fine_channels * g.fine_pixels;
  for (std::int64_t i = first_index(); i < n_out; i += grid_stride()) {
    const std::int64_t pixel = i % g.fine_pixels;
    const std::int64_t cf = (i / g.fine_pixels) % g.fine_channels;
    const std::int64_t n = i / (g.fine_pixels * g.fine_channels);
    const std::int64_t group = cf / g.fine_channels_per_group;
    const std::int64_t cf_local = cf % g.fine_channels_per_group;
    std::int64_t f[3], k[3], q[3];
    split_pixel(pixel, g.fine_size, f);
    T sum = 0;
    for (k[0] = 0; k[0] < g.kernel_size[0]; ++k[0]) {
      const std::int64_t r0 = f[0] + g.padding[0] - k[0] * g.dilation[0];
      if (r0 < 0 || r0 % g.stride[0] != 0 || (q[0] = r0 / g.stride[0]) >= g.coarse_size[0]) continue;
      for (k[1] = 0; k[1] < g.kernel_size[1]; ++k[1]) {
        const std::int64_t r1 = f[1] + g.padding[1] - k[1] * g.dilation[1];
        if (r1 < 0 || r1 % g.stride[1] != 0 || (q[1] = r1 / g.stride[1]) >= g.coarse_size[1])
          continue;
        for (k[2] = 0; k[2] < g.kernel_size[2]; ++k[2]) {
          const std::int64_t r2 = f[2] + g.padding[2] - k[2] * g.dilation[2];
          if (r2 < 0 || r2 % g.stride[2] != 0 || (q[2] = r2 / g.stride[2]) >= g.coarse_size[2])
            continue;
          const std::int64_t tap = join_pixel(k, g.kernel_size);
          const std::int64_t q_pixel = join_pixel(q, g.coarse_size);
          for (std::int64_t c = 0; c < g.coarse_channels_per_group; ++c) {
            const std::int64_t cc = group * g.coarse_channels_per_group + c;
            sum += coarse[(n * g.coarse_channels + cc) * g.coarse_pixels + q_pixel] *
                   weight[(cc * g.fine_channels_per_group + cf_local) * g.kernel_taps + tap];
          }
        }
      }
    }
    fine[i] = sum;
  }
}

// coarse[n, cc, q] = sum over the group's fine channels and the taps of
// fine[n, cf, q * stride - padding + t * dilation] * w[cc, cf', t]
template <class T>
__global__ void fine_to_coarse_kernel(ConvGeometry g, const T* fine, const T* weight, T* coarse) {
  const std::int64_t n_out = g.batch * g.coarse_channels * g.coarse_pixels;
  for (std::int64_t i = first_index(); i < n_out; i += grid_stride()) {
    const std::int64_t pixel = i % g.coarse_pixels;
    const std::int64_t cc = (i / g.coarse_pixels) % g.coarse_channels;
    const std::int64_t n = i / (g.coarse_pixels * g.coarse_channels);
    const std::int64_t group = cc / g.coarse_channels_per_group;
    std::int64_t q[3], k[3], f[3];
    split_pixel(pixel, g.coarse_size, q);
    T sum = 0;
    for (k[0] = 0; k[0] < g.kernel_size[0]; ++k[0]) {
      f[0] = q[0] * g.stride[0] - g.padding[0] + k[0] * g.dilation[0];
      if (f[0] < 0 || f[0] >= g.fine_size[0]) continue;
      for (k[1] = 0; k[1] < g.kernel_size[1]; ++k[1]) {
        f[1] = q[1] * g.stride[1] - g.padding[1] + k[1] * g.dilation[1];
        if (f[1] < 0 || f[1] >= g.fine_size[1]) continue;
        for (k[2] = 0; k[2] < g.kernel_size[2]; ++k[2]) {
          f[2] = q[2] * g.stride[2] - g.padding[2] + k[2] * g.dilation[2];
          if (f[2] < 0 || f[2] >= g.fine_size[2]) continue;
          const std::int64_t tap = join_pixel(k, g.kernel_size);
          const std::int64_t f_pixel = join_pixel(f, g.fine_size);
          for (std::int64_t c = 0; c < g.fine_channels_per_group; ++c) {
            const std::int64_t cf = group * g.fine_channels_per_group + c;
            sum += fine[(n * g.fine_channels + cf) * g.fine_pixels + f_pixel] *
                   weight[(cc * g.fine_channels_per_group + c) * g.kernel_taps + tap];
          }
        }
      }
    }
    coarse[i] = sum;
  }
}

// grad_w[cc, cf', t] = sum over samples and coarse pixels q of
// coarse[n, cc, q] * fine[n, cf, q * stride - padding + t * dilation]:
// one block per weight element, reduced in a fixed order.
template <class T>
__global__ void weight_gradient_kernel(ConvGeometry g, const T* coarse, const T* fine,
                                       T* grad_weight) {
  __shared__ T partial[kThreads];
  const std::int64_t terms = g.batch * g.coarse_pixels;
  for (std::int64_t e = blockIdx.x; e < g.weight_elements; e += gridDim.x) {
    const std::int64_t tap = e % g.kernel_taps;
    const std::int64_t cf_local = (e / g.kernel_taps) % g.fine_channels_per_group;
    const std::int64_t cc = e / (g.kernel_taps * g.fine_channels_per_group);
    const std::int64_t cf =
        (cc / g.coarse_channels_per_group) * g.fine_channels_per_group + cf_local;
    std::int64_t k[3], q[3], f[3];
    split_pixel(tap, g.kernel_size, k);
    T sum = 0;
    for (std::int64_t j = threadIdx.x; j < terms; j += blockDim.x) {
      const std::int64_t n = j / g.coarse_pixels, q_pixel = j % g.coarse_pixels;
      split_pixel(q_pixel, g.coarse_size, q);
      bool inside = true;
      for (int d = 0; d < 3; ++d) {
        f[d] = q[d] * g.stride[d] - g.padding[d] + k[d] * g.dilation[d];
        inside = inside && f[d] >= 0 && f[d] < g.fine_size[d];
      }
      if (!inside) continue;
      sum += coarse[(n * g.coarse_channels + cc) * g.coarse_pixels + q_pixel] *
             fine[(n * g.fine_channels + cf) * g.fine_pixels + join_pixel(f, g.fine_size)];
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
      if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
      __syncthreads();
    }
    if (threadIdx.x == 0) grad_weight[e] = partial[0];
    __syncthreads();  // partial[] is reused by the next element
  }
}

template <class T>
__global__ void fill_pattern_kernel(T* data, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    // a cheap integer hash mapped to [-1, 1)
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u;
    h ^= h >> 16;
    h *= 2246822519u;
    h ^= h >> 13;
    data[i] = static_cast<T>(static_cast<double>(h) / 2147483648.0 - 1.0);
  }
}

}  // namespace

template <class T>
cudaError_t pack_from_r(const double* r_layout, T* packed, const Axes& axes, cudaStream_t stream) {
  const std::int64_t n = axes.elements();
  if (n == 0) return cudaSuccess;
  pack_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(r_layout, packed, axes, n);
  return cudaGetLastError();
}

template <class T>
cudaError_t unpack_to_r(const T* packed, double* r_layout, const Axes& axes, const double* bias,
                        cudaStream_t stream) {
  const std::int64_t n = axes.elements();
  if (n == 0) return cudaSuccess;
  unpack_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(packed, r_layout, axes, bias, n);
  return cudaGetLastError();
}

template <class T>
cudaError_t coarse_to_fine_direct(const ConvGeometry& g, const T* coarse, const T* weight, T* fine,
                                  cudaStream_t stream) {
  if (g.fine_elements == 0) return cudaSuccess;
  coarse_to_fine_kernel<T><<<blocks_for(g.fine_elements), kThreads, 0, stream>>>(g, coarse, weight,
                                                                                 fine);
  return cudaGetLastError();
}

template <class T>
cudaError_t fine_to_coarse_direct(const ConvGeometry& g, const T* fine, const T* weight, T* coarse,
                                  cudaStream_t stream) {
  if (g.coarse_elements == 0) return cudaSuccess;
  fine_to_coarse_kernel<T><<<blocks_for(g.coarse_elements), kThreads, 0, stream>>>(g, fine, weight,
                                                                                   coarse);
  return cudaGetLastError();
}

template <class T>
cudaError_t weight_gradient_direct(const ConvGeometry& g, const T* coarse, const T* fine,
                                   T* grad_weight, cudaStream_t stream) {
  if (g.weight_elements == 0) return cudaSuccess;
  const unsigned int blocks =
      static_cast<unsigned int>(std::min<std::int64_t>(g.weight_elements, 1 << 20));
  weight_gradient_kernel<T><<<blocks, kThreads, 0, stream>>>(g, coarse, fine, grad_weight);
  return cudaGetLastError();
}

template <class T>
cudaError_t fill_pattern(T* data, std::int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_pattern_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(data, n);
  return cudaGetLastError();
}

#define CONVTRANSPOSE_CUDA_INSTANTIATE(T)                                                      \
  template cudaError_t pack_from_r<T>(const double*, T*, const Axes&, cudaStream_t);           \
  template cudaError_t unpack_to_r<T>(const T*, double*, const Axes&, const double*,           \
                                      cudaStream_t);                                           \
  template cudaError_t coarse_to_fine_direct<T>(const ConvGeometry&, const T*, const T*, T*,   \
                                                cudaStream_t);                                 \
  template cudaError_t fine_to_coarse_direct<T>(const ConvGeometry&, const T*, const T*, T*,   \
                                                cudaStream_t);                                 \
  template cudaError_t weight_gradient_direct<T>(const ConvGeometry&, const T*, const T*, T*,  \
                                                 cudaStream_t);                                \
  template cudaError_t fill_pattern<T>(T*, std::int64_t, cudaStream_t);

CONVTRANSPOSE_CUDA_INSTANTIATE(double)
CONVTRANSPOSE_CUDA_INSTANTIATE(float)

}  // namespace cuda
}  // namespace convtranspose
