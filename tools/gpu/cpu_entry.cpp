// The CPU core behind a C ABI for the GPU harness (harness.py, via ctypes):
// shape resolution and the three operations, exactly the code the R package
// runs (src/core/run_operation.hpp), so CUDA is checked against it.
#include <cstdint>
#include <cstring>
#include <string>

#include <convtranspose/convtranspose.hpp>

#include "core/run_operation.hpp"

namespace ct = convtranspose;

namespace {
int report(const ct::Status& status, char* message, int message_size) {
  if (!status.ok() && message != nullptr && message_size > 0) {
    const std::size_t n = std::min(status.message.size(), static_cast<std::size_t>(message_size - 1));
    std::memcpy(message, status.message.data(), n);
    message[n] = '\0';
  }
  return static_cast<int>(status.code);
}
}  // namespace

extern "C" {

int convtranspose_geometry_bytes(void) { return static_cast<int>(sizeof(ct::ConvGeometry)); }

// sizes: rank values each of input, kernel, stride, padding (left),
// padding_right (conv only), output_padding (transposed only), dilation.
int convtranspose_resolve(int transposed, int rank, std::int64_t batch, std::int64_t in_channels,
                          std::int64_t out_channels, std::int64_t groups, const std::int64_t* input,
                          const std::int64_t* kernel, const std::int64_t* stride,
                          const std::int64_t* padding, const std::int64_t* padding_right,
                          const std::int64_t* output_padding, const std::int64_t* dilation,
                          ct::ConvGeometry* geometry, char* message, int message_size) {
  auto common = [&](auto& spec) {
    spec.rank = rank;
    spec.batch = batch;
    spec.in_channels = in_channels;
    spec.out_channels = out_channels;
    spec.groups = groups;
    for (int d = 0; d < rank && d < ct::kMaxRank; ++d) {
      spec.input_size[d] = input[d];
      spec.kernel_size[d] = kernel[d];
      spec.stride[d] = stride[d];
      spec.dilation[d] = dilation[d];
    }
  };
  if (transposed) {
    ct::ConvTransposeSpec spec;
    common(spec);
    for (int d = 0; d < rank && d < ct::kMaxRank; ++d) {
      spec.padding[d] = padding[d];
      spec.output_padding[d] = output_padding[d];
    }
    return report(ct::resolve_conv_transpose(spec, geometry), message, message_size);
  }
  ct::ConvSpec spec;
  common(spec);
  for (int d = 0; d < rank && d < ct::kMaxRank; ++d) {
    spec.padding_left[d] = padding[d];
    spec.padding_right[d] = padding_right[d];
  }
  return report(ct::resolve_conv(spec, geometry), message, message_size);
}

// counts: coarse elements, fine elements, weight elements, coarse channels,
// fine channels, then rank coarse sizes and rank fine sizes.
void convtranspose_geometry_counts(const ct::ConvGeometry* g, std::int64_t* counts) {
  counts[0] = g->coarse_elements;
  counts[1] = g->fine_elements;
  counts[2] = g->weight_elements;
  counts[3] = g->coarse_channels;
  counts[4] = g->fine_channels;
  for (int d = 0; d < g->rank; ++d) {
    counts[5 + d] = g->coarse_size[d];
    counts[5 + g->rank + d] = g->fine_size[d];
  }
}

int convtranspose_cpu_run(int operation, int single_precision, const ct::ConvGeometry* g,
                          const double* first, const double* second, const double* bias,
                          double* out, int threads, char* message, int message_size) {
  ct::ComputeOptions options;
  options.num_threads = threads;
  return report(ct::run_operation(operation, single_precision != 0, *g, first, second, bias, out,
                                  options),
                message, message_size);
}

}  // extern "C"
