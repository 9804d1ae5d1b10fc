// The package's own CUDA kernels (kernels.cu), launched on a stream:
// the layout change between R's column-major arrays and cuDNN's packed
// NC(D)HW, and direct convolutions for the cases cuDNN refuses. Launchers
// return the launch's cudaError_t.
#ifndef CONVTRANSPOSE_CUDA_KERNELS_CUH
#define CONVTRANSPOSE_CUDA_KERNELS_CUH

#include <cuda_runtime.h>

#include <cstdint>

#include <convtranspose/geometry.hpp>

namespace convtranspose {
namespace cuda {

constexpr int kMaxAxes = 5;  // batch, channels, 3 spatial

// The dim() of an R array: R stores it column-major (first index fastest),
// cuDNN wants the same indices row-major (last index fastest).
struct Axes {
  int count = 0;
  std::int64_t size[kMaxAxes] = {1, 1, 1, 1, 1};
  std::int64_t elements() const {
    std::int64_t n = 1;
    for (int a = 0; a < count; ++a) n *= size[a];
    return n;
  }
};

// R layout (double) -> packed row-major (T).
template <class T>
cudaError_t pack_from_r(const double* r_layout, T* packed, const Axes& axes, cudaStream_t stream);

// Packed row-major (T) -> R layout (double), adding bias[index on axis 1]
// when bias is not null.
template <class T>
cudaError_t unpack_to_r(const T* packed, double* r_layout, const Axes& axes, const double* bias,
                        cudaStream_t stream);

// Direct convolutions on packed arrays; each output element is computed by
// one thread (a block for the weight gradient) in a fixed order, so results
// are deterministic. Operations as in api.hpp.
template <class T>
cudaError_t coarse_to_fine_direct(const ConvGeometry& g, const T* coarse, const T* weight, T* fine,
                                  cudaStream_t stream);
template <class T>
cudaError_t fine_to_coarse_direct(const ConvGeometry& g, const T* fine, const T* weight, T* coarse,
                                  cudaStream_t stream);
template <class T>
cudaError_t weight_gradient_direct(const ConvGeometry& g, const T* coarse, const T* fine,
                                   T* grad_weight, cudaStream_t stream);

// Fills `n` values with a deterministic pattern in [-1, 1) (timing inputs).
template <class T>
cudaError_t fill_pattern(T* data, std::int64_t n, cudaStream_t stream);

}  // namespace cuda
}  // namespace convtranspose

#endif
