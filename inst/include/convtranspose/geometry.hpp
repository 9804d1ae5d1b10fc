// Shape resolution: the one place where hyperparameters are validated and
// every size is computed. Compute kernels take a resolved ConvGeometry and
// trust it.
//
// A convolution and its transpose relate two grids of pixels:
//   the coarse side (a convolution's output, a transposed convolution's input)
//   the fine side   (a convolution's input,  a transposed convolution's output)
// through  fine = coarse * stride - padding + tap * dilation  (per dimension).
// The weight is always (coarse_channels, fine_channels / groups, kernel...),
// which is PyTorch's layout for ConvTranspose (in, out/g, k) and for Conv
// (out, in/g, k) alike. Describing both directions with one geometry is what
// lets the transposed convolution and the gradient of a convolution share
// their kernels.
//
// Unused dimensions (d >= rank) are filled with size 1, kernel 1, stride 1,
// padding 0, dilation 1 so the kernels can always iterate over three.
#ifndef CONVTRANSPOSE_GEOMETRY_HPP
#define CONVTRANSPOSE_GEOMETRY_HPP

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "status.hpp"

namespace convtranspose {

constexpr int kMaxRank = 3;

// Hyperparameters of a transposed convolution, as the user gives them.
struct ConvTransposeSpec {
  int rank = 0;                   // number of spatial dimensions, 1..3
  std::int64_t batch = 0;         // N (0 allowed: empty result)
  std::int64_t in_channels = 0;   // C_in  (== dim(weight)[1])
  std::int64_t out_channels = 0;  // C_out (== dim(weight)[2] * groups)
  std::int64_t groups = 1;
  std::int64_t input_size[kMaxRank] = {1, 1, 1};
  std::int64_t kernel_size[kMaxRank] = {1, 1, 1};
  std::int64_t stride[kMaxRank] = {1, 1, 1};
  std::int64_t padding[kMaxRank] = {0, 0, 0};
  std::int64_t output_padding[kMaxRank] = {0, 0, 0};
  std::int64_t dilation[kMaxRank] = {1, 1, 1};
};

// Hyperparameters of a convolution (PyTorch's Conv1d/2d/3d with zero
// padding; other padding modes pad the input first and use padding 0).
// Left and right padding are separate because padding = "same" with an even
// kernel pads one more on the right.
struct ConvSpec {
  int rank = 0;
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;   // C_in  (== dim(weight)[2] * groups)
  std::int64_t out_channels = 0;  // C_out (== dim(weight)[1])
  std::int64_t groups = 1;
  std::int64_t input_size[kMaxRank] = {1, 1, 1};
  std::int64_t kernel_size[kMaxRank] = {1, 1, 1};
  std::int64_t stride[kMaxRank] = {1, 1, 1};
  std::int64_t padding_left[kMaxRank] = {0, 0, 0};
  std::int64_t padding_right[kMaxRank] = {0, 0, 0};
  std::int64_t dilation[kMaxRank] = {1, 1, 1};
};

// Everything a kernel needs, validated and derived once.
struct ConvGeometry {
  int rank = 0;
  std::int64_t batch = 0;
  std::int64_t groups = 1;
  std::int64_t coarse_channels = 0;  // per sample, all groups
  std::int64_t fine_channels = 0;
  std::int64_t coarse_size[kMaxRank] = {1, 1, 1};
  std::int64_t fine_size[kMaxRank] = {1, 1, 1};
  std::int64_t kernel_size[kMaxRank] = {1, 1, 1};
  std::int64_t stride[kMaxRank] = {1, 1, 1};
  std::int64_t padding[kMaxRank] = {0, 0, 0};
  std::int64_t dilation[kMaxRank] = {1, 1, 1};

  // Derived counts (all checked against overflow by the resolver).
  std::int64_t coarse_pixels = 1;  // prod(coarse_size)
  std::int64_t fine_pixels = 1;    // prod(fine_size)
  std::int64_t kernel_taps = 1;    // prod(kernel_size)
  std::int64_t coarse_channels_per_group = 0;
  std::int64_t fine_channels_per_group = 0;
  std::int64_t coarse_elements = 0;  // batch * coarse_channels * coarse_pixels
  std::int64_t fine_elements = 0;
  std::int64_t weight_elements = 0;
};

namespace detail {

// Largest element count we accept for one array: R's long-vector limit
// (2^52), which also keeps byte counts of doubles far from int64 overflow.
constexpr std::int64_t kMaxElements = std::int64_t(1) << 52;

inline bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t* out) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > kMaxElements / a) return false;
  *out = a * b;
  return *out <= kMaxElements;
}

inline std::string dims_text(const std::int64_t* v, int rank) {
  std::ostringstream os;
  if (rank == 1) {
    os << v[0];
    return os.str();
  }
  os << "c(";
  for (int d = 0; d < rank; ++d) os << (d ? ", " : "") << v[d];
  os << ")";
  return os.str();
}

inline Status fail(StatusCode code, const std::string& msg) { return Status::error(code, msg); }

// Checks shared by both resolvers and the geometry's channel fields.
inline Status start_geometry(int rank, std::int64_t batch, std::int64_t groups,
                             std::int64_t in_channels, std::int64_t out_channels,
                             bool coarse_is_input, ConvGeometry* g) {
  if (rank < 1 || rank > kMaxRank)
    return fail(StatusCode::invalid_argument, "rank must be 1, 2 or 3");
  if (batch < 0) return fail(StatusCode::invalid_argument, "batch size must not be negative");
  if (groups < 1) return fail(StatusCode::invalid_argument, "groups must be a positive integer");
  if (in_channels < 1 || out_channels < 1)
    return fail(StatusCode::invalid_argument, "channel counts must be positive");
  if (in_channels % groups != 0)
    return fail(StatusCode::shape_mismatch, "in_channels must be divisible by groups");
  if (out_channels % groups != 0)
    return fail(StatusCode::shape_mismatch, "out_channels must be divisible by groups");
  g->rank = rank;
  g->batch = batch;
  g->groups = groups;
  g->coarse_channels = coarse_is_input ? in_channels : out_channels;
  g->fine_channels = coarse_is_input ? out_channels : in_channels;
  g->coarse_channels_per_group = g->coarse_channels / groups;
  g->fine_channels_per_group = g->fine_channels / groups;
  return Status::success();
}

inline Status check_sizes(std::int64_t input, std::int64_t kernel, std::int64_t stride,
                          std::int64_t dilation) {
  if (input < 1) return fail(StatusCode::shape_mismatch, "input spatial sizes must be positive");
  if (kernel < 1) return fail(StatusCode::invalid_argument, "kernel_size must be positive");
  if (stride < 1) return fail(StatusCode::invalid_argument, "stride must be positive");
  if (dilation < 1) return fail(StatusCode::invalid_argument, "dilation must be positive");
  return Status::success();
}

// Fills the derived element counts of a geometry whose sizes are set,
// refusing any that overflow.
inline Status derive_counts(ConvGeometry* geometry) {
  ConvGeometry& g = *geometry;
  bool ok = true;
  std::int64_t t = 0;
  g.coarse_pixels = g.fine_pixels = g.kernel_taps = 1;
  for (int d = 0; d < g.rank; ++d) {
    ok = ok && checked_mul(g.coarse_pixels, g.coarse_size[d], &g.coarse_pixels);
    ok = ok && checked_mul(g.fine_pixels, g.fine_size[d], &g.fine_pixels);
    ok = ok && checked_mul(g.kernel_taps, g.kernel_size[d], &g.kernel_taps);
  }
  ok = ok && checked_mul(g.batch, g.coarse_channels, &t) &&
       checked_mul(t, g.coarse_pixels, &g.coarse_elements);
  ok = ok && checked_mul(g.batch, g.fine_channels, &t) &&
       checked_mul(t, g.fine_pixels, &g.fine_elements);
  ok = ok && checked_mul(g.coarse_channels, g.fine_channels_per_group, &t) &&
       checked_mul(t, g.kernel_taps, &g.weight_elements);
  // The GEMM's column buffer row count (fine channels per group x taps).
  ok = ok && checked_mul(g.fine_channels_per_group, g.kernel_taps, &t);
  if (!ok)
    return Status::error(StatusCode::size_overflow,
                         "array sizes overflow: the result would have more than 2^52 elements");
  return Status::success();
}

}  // namespace detail

// Validates a transposed convolution and fills `geometry`. Mirrors PyTorch's
// checks (slow_conv_transpose*_shape_check and ConvTranspose's constructor),
// with R's wording of sizes. Never throws.
inline Status resolve_conv_transpose(const ConvTransposeSpec& spec, ConvGeometry* geometry) {
  using detail::checked_mul;
  using detail::dims_text;
  using detail::fail;
  const int rank = spec.rank;
  ConvGeometry g;
  Status common = detail::start_geometry(rank, spec.batch, spec.groups, spec.in_channels,
                                         spec.out_channels, /*coarse_is_input=*/true, &g);
  if (!common.ok()) return common;

  for (int d = 0; d < rank; ++d) {
    const std::int64_t in = spec.input_size[d], k = spec.kernel_size[d], s = spec.stride[d],
                       p = spec.padding[d], op = spec.output_padding[d], dil = spec.dilation[d];
    Status sizes = detail::check_sizes(in, k, s, dil);
    if (!sizes.ok()) return sizes;
    if (p < 0) return fail(StatusCode::invalid_argument, "padding must not be negative");
    if (op < 0) return fail(StatusCode::invalid_argument, "output_padding must not be negative");
    if (op >= s && op >= dil)
      return fail(StatusCode::invalid_argument,
                  "output_padding must be smaller than either stride or dilation");
    // (in - 1) * s - 2p + dil * (k - 1) + op + 1, each step overflow-checked.
    std::int64_t a = 0, b = 0;
    if (!checked_mul(in - 1, s, &a) || !checked_mul(dil, k - 1, &b))
      return fail(StatusCode::size_overflow, "output size overflows");
    const std::int64_t out = a - 2 * p + b + op + 1;
    if (out < 1) {
      std::ostringstream os;
      os << "computed output size " << dims_text(spec.input_size, rank) << " -> output size " << out
         << " in dimension " << (d + 1) << " is too small";
      return fail(StatusCode::shape_mismatch, os.str());
    }
    if (out > std::numeric_limits<int>::max())
      return fail(StatusCode::size_overflow, "output size exceeds R's dimension limit");
    g.coarse_size[d] = in;
    g.fine_size[d] = out;
    g.kernel_size[d] = k;
    g.stride[d] = s;
    g.padding[d] = p;
    g.dilation[d] = dil;
  }

  Status counted = detail::derive_counts(&g);
  if (!counted.ok()) return counted;
  *geometry = g;
  return Status::success();
}

// Validates a convolution and fills `geometry` (fine side = the input).
// Mirrors PyTorch's checks for ConvNd with zero padding.
inline Status resolve_conv(const ConvSpec& spec, ConvGeometry* geometry) {
  using detail::checked_mul;
  using detail::dims_text;
  using detail::fail;
  const int rank = spec.rank;
  ConvGeometry g;
  Status common = detail::start_geometry(rank, spec.batch, spec.groups, spec.in_channels,
                                         spec.out_channels, /*coarse_is_input=*/false, &g);
  if (!common.ok()) return common;
  for (int d = 0; d < rank; ++d) {
    const std::int64_t in = spec.input_size[d], k = spec.kernel_size[d], s = spec.stride[d],
                       pl = spec.padding_left[d], pr = spec.padding_right[d],
                       dil = spec.dilation[d];
    Status sizes = detail::check_sizes(in, k, s, dil);
    if (!sizes.ok()) return sizes;
    if (pl < 0 || pr < 0) return fail(StatusCode::invalid_argument, "padding must not be negative");
    std::int64_t span = 0;
    if (!checked_mul(dil, k - 1, &span) || in + pl + pr > detail::kMaxElements)
      return fail(StatusCode::size_overflow, "sizes overflow");
    const std::int64_t padded = in + pl + pr;
    if (padded < span + 1) {
      std::ostringstream os;
      os << "padded input size " << padded << " is smaller than the dilated kernel size "
         << (span + 1) << " in dimension " << (d + 1);
      return fail(StatusCode::shape_mismatch, os.str());
    }
    g.coarse_size[d] = (padded - span - 1) / s + 1;
    g.fine_size[d] = in;
    g.kernel_size[d] = k;
    g.stride[d] = s;
    g.padding[d] = pl;
    g.dilation[d] = dil;
  }
  Status counted = detail::derive_counts(&g);
  if (!counted.ok()) return counted;
  *geometry = g;
  return Status::success();
}

// The geometry the kernels compute with. Along a dimension with a single
// coarse position, any stride maps the taps onto the same fine positions
// (fine = tap * dilation - padding), so there the kernels may take the
// stride as the kernel size: each stride phase then holds one tap, and a
// 1 x 1 input (a generator's first layer) becomes one product per output
// pixel with that pixel's tap, instead of a product over all taps of which
// one reaches the image. (Dilated kernels and kernels over 64 wide keep
// their stride: the phases are counted by walking every residue.)
inline ConvGeometry compute_geometry(ConvGeometry g) {
  for (int d = 0; d < kMaxRank; ++d)
    if (g.coarse_size[d] == 1 && g.dilation[d] == 1 && g.kernel_size[d] > g.stride[d] &&
        g.kernel_size[d] <= 64)
      g.stride[d] = g.kernel_size[d];
  return g;
}

}  // namespace convtranspose

#endif
