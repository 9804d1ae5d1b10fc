// The one place where a CPU call's kernel path is chosen. Given the
// operation, geometry, compute type, build (ISA) and thread count, each
// plan_* function walks its operation's paths in the order of paths.hpp and
// takes the first that can run and pays, with the work split it needs; the
// kernels execute the plan and choose nothing. The reason names the path's
// condition and why each path before it was passed over; a path forced by
// the caller is taken if it can run, else the plan carries an error.
#ifndef CONVTRANSPOSE_PLAN_HPP
#define CONVTRANSPOSE_PLAN_HPP

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "geometry.hpp"
#include "options.hpp"
#include "paths.hpp"
#include "status.hpp"
#include "taps.hpp"
#include "tuning.hpp"

namespace convtranspose {

struct Plan {
  Path path = Path::none;
  Status status;       // an error where a forced path cannot run this call
  std::string reason;  // why this path, and why not those before it
  // Sample-major paths: samples per layout chunk (the geometry below is
  // that of a full chunk; the last one may be smaller).
  std::int64_t chunk_samples = 0;
  ConvGeometry chunk;
  int team = 1;  // threads of the sample-major kernels' parallel regions
  // Column tiles of gemm_col2im, im2col_gemm and the sample-major weight
  // paths: coarse pixels and taps per tile.
  std::int64_t tile_pixels = 0, tile_taps = 0;
  bool split_taps = false;  // weight paths: threads own taps (else pixels, private sums)
  bool by_slice = false;    // implicit_in_place: weight packed one depth slice at a time
  bool by_phase = false;    // phase_in_place: each work item takes one phase
  bool narrow = false;      // phase_in_place: few fine channels, input read in place
  // implicit_in_place: a padded layer, whose blocks reading only taps off
  // the image skip them in a round whose packed weight is finite
  bool skips_off_image = false;
  // implicit_sample_major: taps per run of fine values it reads in place
  std::int64_t run_taps = 1;
  // phase_stacked: coarse channels per run of B it reads in place
  std::int64_t run_channels = 0;
  std::vector<detail::Phase> phases;  // the phase paths
};

namespace detail {

// Whether the values some paths need finite are (the direct and phase
// kernels skip products with zeros that im2col/col2im make, which differ
// from them only for NaN and Inf): worked out once, when a candidate asks.
class LazyFlag {
 public:
  explicit LazyFlag(std::function<bool()> compute) : compute_(std::move(compute)) {}
  bool operator()() {
    if (state_ < 0) state_ = compute_() ? 1 : 0;
    return state_ == 1;
  }

 private:
  std::function<bool()> compute_;
  int state_ = -1;
};

// Walks the candidates of one operation.
class Planner {
 public:
  Planner(Operation op, const ComputeOptions& options) {
    const int forced = options.forced_path;
    if (forced >= 0 && forced < static_cast<int>(Path::count) &&
        path_table()[forced].operation == op)
      forced_ = static_cast<Path>(forced);
  }

  // Whether `path` is still a candidate (not when another one is forced).
  bool considers(Path path) const { return forced_ == Path::none || forced_ == path; }
  // Whether the caller forces `path`.
  bool forces(Path path) const { return forced_ == path; }

  // Offers `path`: `cannot` says why it cannot run this call (empty: it
  // can), `not_worth` why it would be slower (empty: it pays), `because` why
  // it is right. Returns true when the plan is settled (taken, or forced and
  // impossible).
  bool offer(Path path, const std::string& cannot, const std::string& not_worth,
             const std::string& because) {
    if (!considers(path)) return false;
    const char* name = path_info(path).name;
    if (forced_ == path) {
      plan.path = path;
      if (!cannot.empty())
        plan.status = Status::error(
            StatusCode::invalid_argument,
            std::string("path \"") + name + "\" (option convtranspose.force_path) cannot run " +
                "this call: " + cannot);
      plan.reason = "forced by option convtranspose.force_path";
      return true;
    }
    if (!cannot.empty() || !not_worth.empty()) {
      passed_ += std::string(passed_.empty() ? "" : "; ") + name + " (" +
                 (cannot.empty() ? not_worth : cannot) + ")";
      return false;
    }
    plan.path = path;
    plan.reason = because;
    if (!passed_.empty()) plan.reason += ". Passed over: " + passed_;
    return true;
  }

  Plan plan;

 private:
  Path forced_ = Path::none;
  std::string passed_;
};

inline std::string text(std::int64_t v) { return std::to_string(v); }

#if defined(CONVTRANSPOSE_SIMD_GEMM)
constexpr bool kSimdBuild = true;
#else
constexpr bool kSimdBuild = false;
#endif

inline std::string needs_simd_build() {
  return kSimdBuild ? "" : "it is compiled in the AVX2 and AVX-512 builds only (cvt_kernel_isa())";
}

inline std::int64_t row_groups_per_pixel(std::int64_t batch) {
  return (batch + tuning::kRowGroup - 1) / tuning::kRowGroup;
}

// Whether the in-place products pay on R's layout: 8 samples or more, with
// at least three quarters of the row groups' lanes in use (every batch from
// 8 but 9 to 11 and 17). Empty when they do.
inline std::string in_place_not_worth(const ConvGeometry& g) {
  const std::int64_t used = 4 * g.batch, lanes = 3 * tuning::kRowGroup * row_groups_per_pixel(g.batch);
  if (g.batch < tuning::kRowGroup)
    return "batch " + text(g.batch) + " is under one row group of " + text(tuning::kRowGroup);
  if (used < lanes)
    return "batch " + text(g.batch) + " leaves over a quarter of the row groups' lanes empty";
  return "";
}

// Row groups per work item of the in-place products: kRowGroupsPerItem,
// fewer where that would leave less than two items per thread.
inline std::int64_t row_groups_per_item(std::int64_t row_groups, std::int64_t groups, int threads) {
  const std::int64_t by_threads = row_groups * groups / (2 * std::max(1, threads));
  return std::max<std::int64_t>(1, std::min<std::int64_t>(tuning::kRowGroupsPerItem, by_threads));
}

inline int team_for(double flops, int threads) {
  return flops < tuning::kTeamFromFlops ? 1 : std::max(1, threads);
}

// Whether the phase product is less work than columns + col2im: it
// multiplies, for every fine pixel, all the taps of its phase (zero vectors
// off the image), the fine channels in blocks of `channel_block` (the
// in-place product's weight panels, the sample-major one's register rows);
// the column path multiplies every tap of every coarse pixel, then adds each
// column value into place (kScatterCost each). Empty when it is.
inline std::string phase_not_worth(const ConvGeometry& g, const std::vector<Phase>& phases,
                                   std::int64_t channel_block) {
  const std::int64_t rows = channel_block;
  const std::int64_t cfg = g.fine_channels_per_group;
  const double ccg = static_cast<double>(g.coarse_channels_per_group);
  double phase_work = 0;
  for (const Phase& ph : phases) phase_work += static_cast<double>(ph.columns) * ph.taps;
  phase_work *= static_cast<double>((cfg + rows - 1) / rows * rows) * ccg;
  const double column_work =
      static_cast<double>(g.coarse_pixels) * g.kernel_taps * cfg * (ccg + tuning::kScatterCost);
  if (phase_work <= column_work) return "";
  return "the phase products (" + text(static_cast<std::int64_t>(phase_work)) +
         " multiply-adds) would outweigh columns + col2im (" +
         text(static_cast<std::int64_t>(column_work)) + ")";
}

// phase_stacked's blocks of `stride` fine pixels (from Q * stride - padding
// on) in one sample: Q from `first`, `count` of them, those that hold at
// least one fine pixel of a 1-D layer.
struct StackedBlocks {
  std::int64_t first, count;
};

inline StackedBlocks stacked_blocks(const ConvGeometry& g) {
  const std::int64_t s = g.stride[0], p = g.padding[0];
  const std::int64_t first = floor_div(p, s), last = floor_div(g.fine_pixels - 1 + p, s);
  return {first, g.fine_pixels > 0 ? last - first + 1 : 0};
}

// Why phase_stacked cannot run a layer (empty: it can).
inline std::string stacked_cannot(const ConvGeometry& g) {
  if (g.rank != 1) return "it needs a 1-D layer";
  if (g.groups != 1) return "it needs groups = 1";
  if (g.dilation[0] != 1) return "it needs dilation 1";
  if (g.coarse_channels == 0) return "it needs at least one coarse channel";
  if (g.kernel_size[0] % g.stride[0] != 0)
    return "kernel size " + text(g.kernel_size[0]) + " is not a multiple of stride " +
           text(g.stride[0]);
  return "";
}

// Whether the stacked product is less work than columns + col2im: every
// block of `stride` fine pixels multiplies J = kernel / stride coarse
// pixels, its stride x C_fine rows in register blocks of `block_rows`
// (col2im's cost as in phase_not_worth). Empty when it is.
inline std::string stacked_not_worth(const ConvGeometry& g, std::int64_t block_rows) {
  const std::int64_t s = g.stride[0];
  const double rows = static_cast<double>((s * g.fine_channels + block_rows - 1) / block_rows *
                                          block_rows);
  const double stacked_work = rows * static_cast<double>(g.kernel_taps / s) * g.coarse_channels *
                              static_cast<double>(stacked_blocks(g).count);
  const double column_work = static_cast<double>(g.coarse_pixels) * g.kernel_taps *
                             g.fine_channels * (g.coarse_channels + tuning::kScatterCost);
  if (stacked_work <= column_work) return "";
  return "the stacked product (" + text(static_cast<std::int64_t>(stacked_work)) +
         " multiply-adds) would outweigh columns + col2im (" +
         text(static_cast<std::int64_t>(column_work)) + ")";
}

// Coarse channels per run of phase_stacked's right operand: all of them up
// to gemm's depth; past it the divisor (32 or more) whose whole runs fill
// the deepest slice, the longest among equals, or all of them where none.
inline std::int64_t stacked_run(std::int64_t coarse_channels) {
  const std::int64_t depth = tuning::kGemmDepth;
  if (coarse_channels <= depth) return coarse_channels;
  std::int64_t best = coarse_channels, best_fill = 0;
  for (std::int64_t d = depth; d >= 32; --d)
    if (coarse_channels % d == 0 && depth / d * d > best_fill) {
      best = d;
      best_fill = depth / d * d;
    }
  return best;
}

// The geometry of `count` samples of a batch.
inline ConvGeometry batch_chunk(const ConvGeometry& g, std::int64_t count) {
  ConvGeometry chunk = g;
  chunk.batch = count;
  chunk.coarse_elements = count * g.coarse_channels * g.coarse_pixels;
  chunk.fine_elements = count * g.fine_channels * g.fine_pixels;
  return chunk;
}

// Samples per chunk of the sample-major copies, within
// options.layout_chunk_bytes (at least one sample); one sample in the
// compute type needs no copy at all (0).
template <class T>
std::int64_t chunk_samples(const ConvGeometry& g, std::int64_t values_per_sample,
                           bool storage_is_compute, const ComputeOptions& options) {
  if (storage_is_compute && g.batch <= 1) return 0;
  const std::int64_t bytes = values_per_sample * static_cast<std::int64_t>(sizeof(T));
  if (bytes <= 0) return std::max<std::int64_t>(g.batch, 1);
  return std::max<std::int64_t>(1, std::min(g.batch, options.layout_chunk_bytes / bytes));
}

template <class T>
void set_chunk(Plan* plan, const ConvGeometry& g, std::int64_t values_per_sample,
               bool storage_is_compute, const ComputeOptions& options) {
  plan->chunk_samples = chunk_samples<T>(g, values_per_sample, storage_is_compute, options);
  plan->chunk = plan->chunk_samples == 0 ? g : batch_chunk(g, plan->chunk_samples);
}

// The chunk of the batch the sample-major paths take and their team (by
// the flops of a chunk, the same count for all three operations); returns
// the chunk's coarse pixels over its samples.
template <class T>
std::int64_t start_plan(Plan* plan, const ConvGeometry& g, bool storage_is_compute,
                        const ComputeOptions& options) {
  set_chunk<T>(plan, g, g.coarse_channels * g.coarse_pixels + g.fine_channels * g.fine_pixels,
               storage_is_compute, options);
  const std::int64_t Q = plan->chunk.batch * plan->chunk.coarse_pixels;
  plan->team = team_for(2.0 * static_cast<double>(g.coarse_channels) *
                            g.fine_channels_per_group * g.kernel_taps * Q,
                        options.num_threads);
  return Q;
}

}  // namespace detail

// coarse -> fine. `finite_weight`: whether the weight (in T) has no NaN/Inf.
// With `in_place_checks_weight` phase_in_place is offered without asking:
// its packing checks the weight and the caller plans again, without it,
// where that finds a NaN or Inf.
template <class T>
Plan plan_coarse_to_fine(const ConvGeometry& g, bool storage_is_compute,
                         const ComputeOptions& options, std::function<bool()> finite_weight,
                         bool in_place_checks_weight = false) {
  using namespace detail;
  Planner p(Operation::coarse_to_fine, options);
  LazyFlag finite(std::move(finite_weight));
  const std::int64_t ccg = g.coarse_channels_per_group, cfg = g.fine_channels_per_group;
  const std::int64_t K = g.kernel_taps;
  const std::int64_t Q = start_plan<T>(&p.plan, g, storage_is_compute, options);

  if (p.offer(Path::direct_scatter, ccg == 1 ? "" : "it needs one coarse channel per group", "",
              "one coarse channel per group"))
    return p.plan;
  const std::string non_finite = "the weight has NaN or Inf values (zero rows for coarse pixels "
                                 "off the image would turn them into NaN where col2im adds nothing)";
  if (p.considers(Path::phase_in_place) || p.considers(Path::phase_sample_major))
    p.plan.phases = phases_of(g);
  // (the weight's finiteness, a pass over it, is asked only of a path that
  // would otherwise be taken)
  if (p.considers(Path::phase_in_place)) {
    std::string cannot = needs_simd_build();
    std::string not_worth = in_place_not_worth(g);
    if (not_worth.empty() && ccg < 2) not_worth = "one coarse channel per group";
    // (a narrow product's columns are the fine channels themselves; the
    // packed one pads them to whole panels)
    const bool narrow = cfg <= tuning::kNarrowColumns;
    if (not_worth.empty())
      not_worth = phase_not_worth(g, p.plan.phases, narrow ? 1 : tuning::kPanelColumns);
    if (cannot.empty() && (not_worth.empty() || p.forces(Path::phase_in_place)) &&
        !in_place_checks_weight && !finite())
      cannot = non_finite;
    if (p.offer(Path::phase_in_place, cannot, not_worth,
                "batch " + text(g.batch) + " on R's layout, " +
                    text(static_cast<std::int64_t>(p.plan.phases.size())) +
                    " stride phases cheaper than col2im" +
                    (narrow ? ", " + text(cfg) + (cfg == 1 ? " fine channel" : " fine channels") +
                                 " a group: input read in place"
                            : ""))) {
      // Where the packed weights outweigh the input, each item takes one
      // phase: it streams that phase's weight alone.
      const std::int64_t panels = (cfg + tuning::kPanelColumns - 1) / tuning::kPanelColumns;
      std::int64_t packed = 0;
      for (const Phase& ph : p.plan.phases) packed += ph.taps * ccg * panels * tuning::kPanelColumns;
      p.plan.by_phase = packed * g.groups > g.batch * g.coarse_channels * g.coarse_pixels;
      p.plan.narrow = narrow;
      p.plan.chunk_samples = 0;
      p.plan.chunk = g;
      return p.plan;
    }
  }
  if (p.considers(Path::phase_stacked)) {
    std::string cannot = needs_simd_build();
    if (cannot.empty()) cannot = stacked_cannot(g);
    const std::string not_worth =
        cannot.empty() ? stacked_not_worth(g, tuning::block_rows<T>()) : "";
    if (cannot.empty() && (not_worth.empty() || p.forces(Path::phase_stacked)) && !finite())
      cannot = non_finite;
    if (p.offer(Path::phase_stacked, cannot, not_worth,
                "1-D, kernel " + text(g.kernel_size[0] / g.stride[0]) +
                    " strides: the stride phases stacked, " +
                    text(g.stride[0] * g.fine_channels) + " rows a block")) {
      p.plan.run_channels = stacked_run(g.coarse_channels);
      return p.plan;
    }
  }
  if (p.considers(Path::phase_sample_major)) {
    std::string cannot = needs_simd_build();
    const std::string not_worth = phase_not_worth(g, p.plan.phases, tuning::block_rows<T>());
    if (cannot.empty() && (not_worth.empty() || p.forces(Path::phase_sample_major)) && !finite())
      cannot = non_finite;
    if (p.offer(Path::phase_sample_major, cannot, not_worth,
                text(static_cast<std::int64_t>(p.plan.phases.size())) +
                    " stride phases cheaper than col2im"))
      return p.plan;
  }
  // The column tiles: (fine channel, tap) rows by coarse pixels, within
  // options.tile_bytes.
  const std::int64_t budget =
      std::max<std::int64_t>(1, options.tile_bytes / static_cast<std::int64_t>(sizeof(T)));
  if (cfg * K * Q <= budget) {
    p.plan.tile_pixels = Q;
    p.plan.tile_taps = K;
  } else if (cfg * Q <= budget) {
    p.plan.tile_pixels = Q;
    p.plan.tile_taps = std::max<std::int64_t>(1, budget / (cfg * Q));
  } else {
    p.plan.tile_taps = 1;
    p.plan.tile_pixels = std::max<std::int64_t>(1, budget / cfg);
  }
  p.plan.tile_pixels = std::max<std::int64_t>(1, p.plan.tile_pixels);
  p.offer(Path::gemm_col2im, "", "", "the general path");
  return p.plan;
}

// fine -> coarse. `finite_weight` as above.
template <class T>
Plan plan_fine_to_coarse(const ConvGeometry& g, bool storage_is_compute,
                         const ComputeOptions& options, std::function<bool()> finite_weight) {
  using namespace detail;
  Planner p(Operation::fine_to_coarse, options);
  LazyFlag finite(std::move(finite_weight));
  const int nt = std::max(1, options.num_threads);
  const std::int64_t cc = g.coarse_channels, ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const std::int64_t Q = start_plan<T>(&p.plan, g, storage_is_compute, options);

  std::string cannot = ccg == 1 ? "" : "it needs one coarse channel per group";
  if (cannot.empty() && !finite())
    cannot = "the weight has NaN or Inf values (it skips taps off the image, where im2col "
             "multiplies them by zero)";
  if (p.offer(Path::direct_gather, cannot, "", "one coarse channel per group, finite weight"))
    return p.plan;
  const std::string short_runs =
      cfg < tuning::kImplicitMinChannels
          ? text(cfg) + " fine channels per group make runs too short to read in place"
          : "";
  if (p.considers(Path::implicit_in_place)) {
    std::string not_worth = in_place_not_worth(g);
    if (not_worth.empty()) not_worth = short_runs;
    if (p.offer(Path::implicit_in_place, needs_simd_build(), not_worth,
                "batch " + text(g.batch) + " on R's layout")) {
      // Items of few row groups use each packed weight value for few flops;
      // where the weight also outweighs the output it is packed one depth
      // slice at a time, which every item multiplies while it is in cache.
      const std::int64_t row_groups = g.coarse_pixels * row_groups_per_pixel(g.batch);
      const std::int64_t step = row_groups_per_item(row_groups, g.groups, nt);
      const std::int64_t panels = (ccg + tuning::kPanelColumns - 1) / tuning::kPanelColumns;
      p.plan.by_slice = step < tuning::kRowGroupsPerItem &&
                        g.groups * panels * tuning::kPanelColumns * K * cfg >
                            g.batch * cc * g.coarse_pixels;
      bool padded = false;
      for (int d = 0; d < g.rank; ++d) padded = padded || g.padding[d] > 0;
      p.plan.skips_off_image = padded;
      p.plan.chunk_samples = 0;
      p.plan.chunk = g;
      return p.plan;
    }
  }
  p.plan.run_taps = taps_per_run(g, tuning::kGemmDepth);
  const std::string short_merged_runs =
      cfg * p.plan.run_taps < tuning::kImplicitMinChannels
          ? text(cfg) + " fine channels per group make runs too short to read in place"
          : "";
  if (p.offer(Path::implicit_sample_major, needs_simd_build(), short_merged_runs,
              "fine pixels read in place, " + text(p.plan.run_taps) +
                  (p.plan.run_taps == 1 ? " tap" : " taps") + " a run"))
    return p.plan;
  // Per-thread column tiles of tile_pixels coarse pixels, tile_taps taps.
  const int team = p.plan.team;
  const std::int64_t budget = std::max<std::int64_t>(
      1, options.tile_bytes / static_cast<std::int64_t>(sizeof(T)) / team);
  p.plan.tile_pixels = std::max<std::int64_t>(
      1, std::min<std::int64_t>((Q + team - 1) / team,
                                std::max<std::int64_t>(tuning::kGatherTileMinPixels,
                                                       budget / std::max<std::int64_t>(1, cfg * K))));
  p.plan.tile_taps = std::max<std::int64_t>(
      1, std::min(K, budget / std::max<std::int64_t>(1, cfg * p.plan.tile_pixels)));
  p.offer(Path::im2col_gemm, "", "", "the general path");
  return p.plan;
}

// The weight gradient. `finite_coarse`: whether the coarse values (in T)
// have no NaN/Inf.
template <class T>
Plan plan_weight_gradient(const ConvGeometry& g, bool storage_is_compute,
                          const ComputeOptions& options, std::function<bool()> finite_coarse) {
  using namespace detail;
  Planner p(Operation::weight_gradient, options);
  LazyFlag finite(std::move(finite_coarse));
  const std::int64_t ccg = g.coarse_channels_per_group;
  const std::int64_t cfg = g.fine_channels_per_group, K = g.kernel_taps;
  const bool single = sizeof(T) == 4;
  const std::int64_t Q = start_plan<T>(&p.plan, g, storage_is_compute, options);

  std::string cannot = ccg == 1 ? "" : "it needs one coarse channel per group";
  if (cannot.empty() && !finite())
    cannot = "the input has NaN or Inf values (it skips taps off the image, where im2col "
             "multiplies them by zero)";
  if (p.offer(Path::direct_weight, cannot, "", "one coarse channel per group, finite values"))
    return p.plan;
  std::string in_place = in_place_not_worth(g);
  if (in_place.empty() && ccg < 2) in_place = "one coarse channel per group";
  auto on_r_layout = [&]() {
    p.plan.chunk_samples = 0;
    p.plan.chunk = g;
    return p.plan;
  };
  // (float32 reads a float copy of the fine array: within the layout
  // copies' allowance)
  const double fine_copy_bytes = single ? 4.0 * static_cast<double>(g.fine_elements) : 0.0;
  std::string packed_not_worth =
      g.batch < tuning::kPackedWeightMinBatch
          ? "batch " + text(g.batch) + " makes runs too short to read in place"
      : ccg < 2 ? "one coarse channel per group"
                : "";
  if (packed_not_worth.empty() && fine_copy_bytes > static_cast<double>(options.layout_chunk_bytes))
    packed_not_worth = "its float copy of the fine array (" +
                       text(static_cast<std::int64_t>(fine_copy_bytes)) +
                       " bytes) would exceed layout_chunk_bytes";
  if (p.offer(Path::weight_in_place_packed, needs_simd_build(), packed_not_worth,
              "batch " + text(g.batch) + " on R's layout"))
    return on_r_layout();
  // The sample-major paths: threads own taps where there are enough of
  // them, else a share of the pixels each (private sums, added at the end);
  // each thread's tile stays within L2.
  const int team = p.plan.team;
  p.plan.split_taps = K >= team;
  const std::int64_t taps_per_thread = p.plan.split_taps ? (K + team - 1) / team : K;
  const std::int64_t tile_bytes = std::min<std::int64_t>(options.tile_bytes / team, options.l2_bytes);
  const std::int64_t budget =
      std::max<std::int64_t>(1, tile_bytes / static_cast<std::int64_t>(sizeof(T)));
  p.plan.tile_pixels = std::max<std::int64_t>(
      1, std::min<std::int64_t>(Q, std::max<std::int64_t>(tuning::kWeightTileMinPixels,
                                                          budget / (cfg * taps_per_thread))));
  p.plan.tile_taps =
      std::max<std::int64_t>(1, std::min(taps_per_thread, budget / (cfg * p.plan.tile_pixels)));
  cannot = needs_simd_build();
  if (cannot.empty() && cfg % 4 != 0)
    cannot = text(cfg) + " fine channels per group is not a multiple of 4";
  // (a thread's tile of kWeightTileMinPixels pixels that fills L2, with a
  // share of dW that does not fit there either, leaves the row-pointer
  // kernel waiting on memory; im2col's product blocks for the cache)
  const std::int64_t tile_fits = budget / (cfg * taps_per_thread);
  const std::int64_t dw_share_bytes =
      ccg * cfg * taps_per_thread * static_cast<std::int64_t>(sizeof(T));
  std::string not_worth =
      cfg < tuning::kRowPointerMinChannels
          ? text(cfg) + " fine channels per group make runs too short"
      : tile_fits <= tuning::kWeightTileMinPixels && dw_share_bytes >= options.l2_bytes
          ? "a tile of " + text(tuning::kWeightTileMinPixels) + " pixels x " +
                text(cfg * taps_per_thread) + " (tap, channel) columns fills L2, and so does " +
                "a thread's share of dW (" + text(dw_share_bytes) + " bytes)"
          : "";
  if (p.offer(Path::weight_row_pointers, cannot, not_worth, "fine rows read in place"))
    return p.plan;
  cannot = needs_simd_build();
  if (cannot.empty() && !single) cannot = "it computes in float32 only";
  if (cannot.empty() && g.batch % tuning::kRowGroup != 0)
    cannot = "batch " + text(g.batch) + " is not a multiple of " + text(tuning::kRowGroup);
  not_worth = in_place;
  const std::int64_t row_groups = g.coarse_pixels * row_groups_per_pixel(g.batch);
  if (not_worth.empty() && row_groups < tuning::kRegisterWeightMinRowGroups)
    not_worth = "sums of " + text(row_groups) + " row groups are too short";
  if (p.offer(Path::weight_in_place_registers, cannot, not_worth,
              "batch " + text(g.batch) + " on R's layout, long sums"))
    return on_r_layout();
  p.offer(Path::weight_im2col, "", "", "the general path");
  return p.plan;
}

}  // namespace convtranspose

#endif
