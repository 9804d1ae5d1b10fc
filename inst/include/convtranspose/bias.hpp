// The bias: filling an output with it, and summing a gradient into it.
#ifndef CONVTRANSPOSE_BIAS_HPP
#define CONVTRANSPOSE_BIAS_HPP

#include <algorithm>
#include <cstdint>
#include <vector>

#include "parallel.hpp"

namespace convtranspose {

// A sample-major array of `pixels` vectors of `channels` values set to the
// bias (or zeros): the starting point of kernels that add into it.
template <class T>
void fill_with_bias(T* data, std::int64_t pixels, std::int64_t channels, const T* bias,
                    int num_threads) {
  detail::parallel_for(pixels, num_threads, pixels * channels > tuning::kLoopTeamFromValues,
                       [=](std::int64_t first, std::int64_t last) {
                         for (std::int64_t p = first; p < last; ++p) {
                           T* dst = data + p * channels;
                           for (std::int64_t c = 0; c < channels; ++c)
                             dst[c] = bias != nullptr ? bias[c] : T(0);
                         }
                       });
}

// Per-channel sums of an R-layout array (batch fastest, then channel, then
// pixels): the gradient of a bias. out has `channels` values. Each
// (sample, channel) is summed over the pixels element by element (vector
// adds, on the team), then the samples of each channel in order. The order
// of the additions never depends on the number of threads: short pixels are summed in blocks of about 2^16 values, each
// into its own partial sum (together about a sixteenth of the array at
// most), added up in block order; long pixels are split by value.
template <class T>
void channel_sums(const T* data, std::int64_t batch, std::int64_t channels, std::int64_t pixels,
                  T* out, int num_threads) {
  std::fill(out, out + channels, T(0));
  const std::int64_t per_pixel = batch * channels;
  if (per_pixel == 0 || pixels == 0) return;
  constexpr std::int64_t kBlockValues = std::int64_t(1) << 16;
  const bool by_pixels = per_pixel <= kBlockValues / 16;
  const std::int64_t block = by_pixels ? kBlockValues / per_pixel : pixels;
  const std::int64_t blocks = (pixels + block - 1) / block;
  // by values: pieces of at least 2^10 values
  const std::int64_t piece = by_pixels ? per_pixel : std::int64_t(1) << 10;
  const std::int64_t pieces = (per_pixel + piece - 1) / piece;
  std::vector<T> sums(static_cast<std::size_t>(blocks * per_pixel), T(0));
  T* const partial = sums.data();
  detail::parallel_for(blocks * pieces, num_threads, pixels * per_pixel > kBlockValues,
                       [=](std::int64_t first, std::int64_t last) {
    for (std::int64_t item = first; item < last; ++item) {
      const std::int64_t b = item / pieces, i0 = (item % pieces) * piece;
      const std::int64_t width = std::min(piece, per_pixel - i0);
      T* sum = partial + b * per_pixel + i0;
      const std::int64_t p1 = std::min(pixels, (b + 1) * block);
      for (std::int64_t p = b * block; p < p1; ++p) {
        const T* values = data + p * per_pixel + i0;
        CONVTRANSPOSE_SIMD
        for (std::int64_t i = 0; i < width; ++i) sum[i] += values[i];
      }
    }
  });
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t n = 0; n < batch; ++n)
        out[c] += sums[static_cast<std::size_t>(b * per_pixel + c * batch + n)];
}

}  // namespace convtranspose

#endif
