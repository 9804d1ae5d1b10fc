// The coarse -> fine direction by stride phase, for the AVX-512 build (its
// indirect product kernel, gemm.hpp). The fine pixels split into stride^rank
// phases by (fine + padding) mod stride. Within a phase, every fine pixel is
// reached by the same taps (those with tap * dilation = phase mod stride),
// each from the coarse pixel at a fixed offset, so one phase of one group is
// a single matrix product:
//
//   fine[phase positions] += [W_t1^T ... W_tT^T] (C_fine/g x T C_coarse/g)
//                             * [x at offset t1; ...; x at offset tT]
//
// with the coarse vectors read in place (a zero vector where an offset falls
// outside the image) and the result added in place onto the bias: no column
// matrix, no scatter of sums (col2im), each fine value written by one thread,
// so results do not depend on the thread count.
#ifndef CONVTRANSPOSE_PHASE_GEMM_HPP
#define CONVTRANSPOSE_PHASE_GEMM_HPP

#if defined(CONVTRANSPOSE_GEMM_AVX512)

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "gemm.hpp"
#include "geometry.hpp"
#include "layout.hpp"
#include "options.hpp"
#include "parallel.hpp"
#include "status.hpp"

namespace convtranspose {
namespace detail {

// One dimension of one phase: the fine positions first, first + stride, ...
// (count of them), and the taps reaching them with their coarse offsets:
// fine position first + stride * j is reached by tap taps[i] from coarse
// position j + offsets[i].
struct PhaseAxis {
  std::int64_t first = 0, count = 0;
  std::vector<std::int64_t> taps, offsets;
};

inline PhaseAxis phase_axis(const ConvGeometry& g, int d, std::int64_t residue) {
  const std::int64_t s = g.stride[d], p = g.padding[d], dil = g.dilation[d];
  PhaseAxis axis;
  axis.first = ((residue - p) % s + s) % s;
  axis.count = axis.first < g.fine_size[d] ? (g.fine_size[d] - axis.first + s - 1) / s : 0;
  for (std::int64_t t = 0; t < g.kernel_size[d]; ++t) {
    if ((t * dil) % s != residue) continue;
    axis.taps.push_back(t);
    axis.offsets.push_back((axis.first + p - t * dil) / s);  // exact
  }
  return axis;
}

struct Phase {
  PhaseAxis axis[kMaxRank];
  std::int64_t columns = 0;  // fine pixels of the phase, per sample
  std::int64_t taps = 0;     // taps reaching them
  // their indices in the weight, in the order the products take them
  // (dimension 0 fastest, as the offsets are walked)
  std::vector<std::int64_t> tap_index;
};

// The phases with at least one tap and one fine pixel.
inline std::vector<Phase> phases_of(const ConvGeometry& g) {
  std::vector<Phase> phases;
  for (std::int64_t r0 = 0; r0 < g.stride[0]; ++r0)
    for (std::int64_t r1 = 0; r1 < g.stride[1]; ++r1)
      for (std::int64_t r2 = 0; r2 < g.stride[2]; ++r2) {
        Phase ph;
        const std::int64_t residue[kMaxRank] = {r0, r1, r2};
        ph.columns = ph.taps = 1;
        for (int d = 0; d < kMaxRank; ++d) {
          ph.axis[d] = phase_axis(g, d, residue[d]);
          ph.columns *= ph.axis[d].count;
          ph.taps *= static_cast<std::int64_t>(ph.axis[d].taps.size());
        }
        if (ph.columns == 0 || ph.taps == 0) continue;
        // (pixels and taps are numbered column-major, dimension 0 fastest)
        for (std::int64_t t2 : ph.axis[2].taps)
          for (std::int64_t t1 : ph.axis[1].taps)
            for (std::int64_t t0 : ph.axis[0].taps)
              ph.tap_index.push_back(t0 + g.kernel_size[0] * (t1 + g.kernel_size[1] * t2));
        phases.push_back(std::move(ph));
      }
  return phases;
}

// Columns per work item: about 1e7 flops, but at least two items per thread
// where the work allows (so that threads finish together), and at least 48
// columns (four register blocks, so that edges waste little).
inline std::int64_t columns_per_item(double flops_per_column, std::int64_t columns, int threads) {
  const std::int64_t by_flops = static_cast<std::int64_t>(1e7 / std::max(1.0, flops_per_column));
  const std::int64_t by_threads = (columns + 2 * threads - 1) / (2 * threads);
  return std::max<std::int64_t>(48, std::min(std::max<std::int64_t>(by_flops, 96), by_threads));
}

// Pointer tables of one product (indirect_gemm), reused between items.
template <class T>
struct PointerTables {
  std::vector<const T*> b_cols;
  std::vector<T*> c_cols;
};

// Whether the phase path should run: it multiplies, for every fine pixel,
// all the taps of its phase (a zero vector where a tap's coarse pixel is off
// the image), in blocks of 16 (double) or 32 (float) fine channels; the
// column path multiplies every tap of every coarse pixel, then adds each of
// those column values into place, at about the cost of 48 multiply-adds
// each (a read-modify-write scattered over the output, against 16
// multiply-adds a cycle): with few coarse channels per group the scatter is
// most of its work. Small images under large kernels (most taps off the
// image) and single output channels are cheaper by columns.
template <class T>
bool phase_gemm_pays(const ConvGeometry& g, const std::vector<Phase>& phases) {
  constexpr std::int64_t rows = gemm_detail::rows_per_block<T>();
  constexpr double kScatterCost = 48;  // multiply-adds per column value
  const std::int64_t cfg = g.fine_channels_per_group;
  const double ccg = static_cast<double>(g.coarse_channels_per_group);
  double phase_work = 0;
  for (const Phase& ph : phases) phase_work += static_cast<double>(ph.columns) * ph.taps;
  phase_work *= static_cast<double>((cfg + rows - 1) / rows * rows) * ccg;
  const double column_work =
      static_cast<double>(g.coarse_pixels) * g.kernel_taps * cfg * (ccg + kScatterCost);
  return phase_work <= column_work;
}

// For the fine pixel with index j among a phase's pixels (per sample): calls
// at(ti, pixel) for each of the phase's taps ti, in the order of its
// tap_index, with the coarse pixel the tap reads, or -1 off the image; returns
// the fine pixel's index within a sample.
template <class At>
inline std::int64_t phase_pixel_taps(const ConvGeometry& g, const Phase& phase, std::int64_t j,
                                     At at) {
  const PhaseAxis* ax = phase.axis;
  const std::int64_t j0 = j % ax[0].count, j1 = (j / ax[0].count) % ax[1].count,
                     j2 = j / (ax[0].count * ax[1].count);
  std::int64_t ti = 0;
  for (std::int64_t o2 : ax[2].offsets)
    for (std::int64_t o1 : ax[1].offsets)
      for (std::int64_t o0 : ax[0].offsets) {
        const std::int64_t q0 = j0 + o0, q1 = j1 + o1, q2 = j2 + o2;
        const bool inside = q0 >= 0 && q0 < g.coarse_size[0] && q1 >= 0 && q1 < g.coarse_size[1] &&
                            q2 >= 0 && q2 < g.coarse_size[2];
        at(ti++, inside ? q0 + g.coarse_size[0] * (q1 + g.coarse_size[1] * q2) : -1);
      }
  return ax[0].first + g.stride[0] * j0 +
         g.fine_size[0] *
             (ax[1].first + g.stride[1] * j1 + g.fine_size[1] * (ax[2].first + g.stride[2] * j2));
}

// Calls at(t, pixel) for every tap t (numbered column-major, dimension 0
// fastest) of coarse pixel q (its index within a sample), with the fine pixel
// the tap reads, or -1 off the image (where the implicit products read zeros,
// as PyTorch's im2col does).
template <class At>
inline void fine_pixels_of(const ConvGeometry& g, std::int64_t q, At at) {
  const std::int64_t* C = g.coarse_size;
  const std::int64_t* F = g.fine_size;
  const std::int64_t q0 = q % C[0], q1 = (q / C[0]) % C[1], q2 = q / (C[0] * C[1]);
  std::int64_t t = 0;
  for (std::int64_t t2 = 0; t2 < g.kernel_size[2]; ++t2) {
    const std::int64_t f2 = q2 * g.stride[2] - g.padding[2] + t2 * g.dilation[2];
    for (std::int64_t t1 = 0; t1 < g.kernel_size[1]; ++t1) {
      const std::int64_t f1 = q1 * g.stride[1] - g.padding[1] + t1 * g.dilation[1];
      for (std::int64_t t0 = 0; t0 < g.kernel_size[0]; ++t0, ++t) {
        const std::int64_t f0 = q0 * g.stride[0] - g.padding[0] + t0 * g.dilation[0];
        const bool inside = f0 >= 0 && f0 < F[0] && f1 >= 0 && f1 < F[1] && f2 >= 0 && f2 < F[2];
        at(t, inside ? f0 + F[0] * (f1 + F[1] * f2) : -1);
      }
    }
  }
}

// Runs pack(pair, phase, group) for every (phase, group) pair, pair = phase
// index * groups + group, on the team: the phases' packed weights together
// are as large as the layer's weight.
template <class Pack>
Status for_each_phase_and_group(const ConvGeometry& g, const std::vector<Phase>& phases,
                                const ComputeOptions& options, Pack pack) {
  const std::size_t pairs = phases.size() * static_cast<std::size_t>(g.groups);
  const double per_pair =
      static_cast<double>(g.weight_elements) / static_cast<double>(std::max<std::size_t>(1, pairs));
  return run_items<char>(
      pairs, per_pair, options,
      [&](std::size_t pair, char&) {
        pack(pair, phases[pair / static_cast<std::size_t>(g.groups)],
             static_cast<std::int64_t>(pair % static_cast<std::size_t>(g.groups)));
      },
      /*team_from=*/65536);
}

// fine: sample-major. With `overwrite` (the phases cover every fine pixel)
// each fine value is stored as bias (or zero) plus its products; otherwise
// fine already holds the bias and the products are added to it. Requires a
// finite weight: a zero vector standing for a coarse pixel outside the image
// must contribute nothing.
template <class T>
Status phase_gemm(const ConvGeometry& g, const std::vector<Phase>& phases, const T* coarse,
                  const T* weight, const T* bias, bool overwrite, T* fine,
                  const ComputeOptions& options) {
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t coarse_sample = cc * g.coarse_pixels, fine_sample = cf * g.fine_pixels;
  try {
    // The phase's weight, per group: (C_fine/g x taps C_coarse/g), packed
    // for the product kernel; column ti * C_coarse/g + c is coarse channel c
    // of the phase's tap ti.
    std::vector<AlignedVector<T>> lhs(phases.size() * static_cast<std::size_t>(g.groups));
    Status packed = for_each_phase_and_group(
        g, phases, options, [&](std::size_t pair, const Phase& phase, std::int64_t grp) {
          const std::int64_t depth = phase.taps * ccg;  // the product's inner size
          AlignedVector<T> a = gemm_detail::packed_zeros<T>(cfg, depth);
          for (std::int64_t ti = 0; ti < phase.taps; ++ti) {
            const std::int64_t tap = phase.tap_index[static_cast<std::size_t>(ti)];
            for (std::int64_t f = 0; f < cfg; ++f) {
              const T* src = weight + grp * ccg + cc * (f + cfg * tap);  // contiguous in c
              T* dst = a.data() + gemm_detail::packed_index<T>(f, ti * ccg, depth);
              for (std::int64_t c = 0; c < ccg; ++c)
                dst[c * gemm_detail::rows_per_block<T>()] = src[c];
            }
          }
          lhs[pair] = std::move(a);
        });
    if (!packed.ok()) return packed;
    // Work items: (group, block of fine-pixel indices over all samples,
    // sample-major) for every phase at once, sized by columns_per_item():
    // index j of each phase reads nearly the same coarse pixels, which after
    // the first phase come from cache.
    std::int64_t most_columns = 0;
    double per_index = 0;  // flops of one index j over the phases
    for (const Phase& ph : phases) {
      most_columns = std::max(most_columns, g.batch * ph.columns);
      per_index += 2.0 * cfg * ph.taps * ccg;
    }
    const std::int64_t block =
        columns_per_item(per_index, most_columns * g.groups, options.num_threads);
    const std::vector<GroupBlock> items = group_blocks(g.groups, most_columns, block);
    const std::vector<T> zeros(static_cast<std::size_t>(std::max(ccg, cf)), T(0));
    const T* row_bias = bias != nullptr ? bias : zeros.data();
    return run_items<PointerTables<T>>(
        items.size(), per_index * static_cast<double>(block), options,
        [&](std::size_t i, PointerTables<T>& tables) {
          const GroupBlock& it = items[i];
          for (std::size_t ph = 0; ph < phases.size(); ++ph) {
            const Phase& phase = phases[ph];
            const std::int64_t begin = std::min(it.begin, g.batch * phase.columns);
            const std::int64_t end = std::min(it.end, g.batch * phase.columns);
            const std::int64_t width = end - begin;
            if (width == 0) continue;
            tables.b_cols.resize(static_cast<std::size_t>(phase.taps * width));
            tables.c_cols.resize(static_cast<std::size_t>(width));
            for (std::int64_t jn = begin; jn < end; ++jn) {
              const std::int64_t col = jn - begin;
              const std::int64_t n = jn / phase.columns, j = jn % phase.columns;
              const T* x = coarse + n * coarse_sample + it.grp * ccg;
              T* y = fine + n * fine_sample + it.grp * cfg;
              const std::int64_t fine_pixel =
                  phase_pixel_taps(g, phase, j, [&](std::int64_t ti, std::int64_t pixel) {
                    tables.b_cols[static_cast<std::size_t>(ti * width + col)] =
                        pixel >= 0 ? x + pixel * cc : zeros.data();
                  });
              tables.c_cols[static_cast<std::size_t>(col)] = y + fine_pixel * cf;
            }
            gemm_detail::indirect_gemm<T>(
                cfg, width, phase.taps, ccg,
                lhs[static_cast<std::size_t>(static_cast<std::int64_t>(ph) * g.groups + it.grp)]
                    .data(),
                tables.b_cols.data(), tables.c_cols.data(), zeros.data(),
                overwrite ? row_bias + it.grp * cfg : nullptr);
          }
        });
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
  return Status::success();
}

// The fine -> coarse direction (a convolution's forward pass, a transposed
// convolution's input gradient) in the AVX-512 build, as an implicit
// product: coarse pixel q of a group = W_g (C_coarse/g x taps C_fine/g) times
// the fine vectors its taps reach (a zero vector off the image), read in
// place, with no im2col column matrix. coarse: sample-major, overwritten
// with the bias (or zero) plus the products. Like the column path, taps off
// the image multiply zeros (as PyTorch's im2col does).
template <class T>
Status implicit_gather_gemm(const ConvGeometry& g, const T* fine, const T* weight, const T* bias,
                            T* coarse, const ComputeOptions& options) {
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cf = g.fine_channels, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps, depth = K * cfg;
  const std::int64_t coarse_sample = cc * g.coarse_pixels, fine_sample = cf * g.fine_pixels;
  try {
    // Each group's weight packed in panels of kMr coarse channels (zeros past
    // C_coarse/g); column t * C_fine/g + c is fine channel c of tap t, which
    // is the weight's own column order: read contiguously, channel fastest.
    std::vector<AlignedVector<T>> lhs(static_cast<std::size_t>(g.groups));
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      AlignedVector<T> a = gemm_detail::packed_zeros<T>(ccg, depth);
      for (std::int64_t col = 0; col < depth; ++col) {
        const T* src = weight + grp * ccg + cc * col;
        for (std::int64_t i = 0; i < ccg; ++i)
          a[gemm_detail::packed_index<T>(i, col, depth)] = src[i];
      }
      lhs[static_cast<std::size_t>(grp)] = std::move(a);
    }
    const double per_column = 2.0 * ccg * depth;
    const std::int64_t columns = g.batch * g.coarse_pixels;
    const std::int64_t block =
        columns_per_item(per_column, columns * g.groups, options.num_threads);
    const std::vector<GroupBlock> items = group_blocks(g.groups, columns, block);
    const std::vector<T> zeros(static_cast<std::size_t>(std::max(cfg, cc)), T(0));
    const T* row_bias = bias != nullptr ? bias : zeros.data();
    return run_items<PointerTables<T>>(
        items.size(), per_column * static_cast<double>(block), options,
        [&](std::size_t i, PointerTables<T>& tables) {
          const GroupBlock& it = items[i];
          const std::int64_t width = it.end - it.begin;
          tables.b_cols.resize(static_cast<std::size_t>(K * width));
          tables.c_cols.resize(static_cast<std::size_t>(width));
          for (std::int64_t jn = it.begin; jn < it.end; ++jn) {
            const std::int64_t col = jn - it.begin;
            const std::int64_t n = jn / g.coarse_pixels, q = jn % g.coarse_pixels;
            tables.c_cols[static_cast<std::size_t>(col)] =
                coarse + n * coarse_sample + q * cc + it.grp * ccg;
            const T* y = fine + n * fine_sample + it.grp * cfg;
            fine_pixels_of(g, q, [&](std::int64_t t, std::int64_t pixel) {
              tables.b_cols[static_cast<std::size_t>(t * width + col)] =
                  pixel >= 0 ? y + pixel * cf : zeros.data();
            });
          }
          gemm_detail::indirect_gemm<T>(
              ccg, width, K, cfg, lhs[static_cast<std::size_t>(it.grp)].data(),
              tables.b_cols.data(), tables.c_cols.data(), zeros.data(), row_bias + it.grp * ccg);
        });
  } catch (const std::bad_alloc&) {
    return Status::error(StatusCode::out_of_memory, "could not allocate working memory");
  }
}

}  // namespace detail
}  // namespace convtranspose

#endif
#endif
