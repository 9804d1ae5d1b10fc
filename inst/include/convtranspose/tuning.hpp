// Every threshold and blocking constant of the CPU core, named, in one place.
// Sizes that must fit a cache come from ComputeOptions::l2_bytes, read off
// the machine; vector-width constants are those of the wide vector of the
// AVX2 and AVX-512 kernels (micro_kernel.hpp's Wide: 8 doubles, 16 floats).
#ifndef CONVTRANSPOSE_TUNING_HPP
#define CONVTRANSPOSE_TUNING_HPP

#include <cstdint>

namespace convtranspose {
namespace tuning {

// Below this many flops a call runs on one thread: a team's start and
// barrier cost more, and a scheduler time slice when other cores are busy.
constexpr double kTeamFromFlops = 4e6;
// The same for one tile of gemm_col2im's product.
constexpr double kTileTeamFromFlops = 2e5;
// Values written (a bias fill) or packed (weights) before a team pays.
constexpr double kFillTeamFromValues = 1e6;
constexpr double kPackTeamFromValues = 65536;
// Weight rows per share of a packing team: a slice packed one round at a
// time is split by rows (each share reads one stretch of the weight).
constexpr std::int64_t kPackRowsPerItem = 32;
// Values per share of a team packing a whole weight at once (implicit_
// sample_major): tens of KB, so that the shares even out among the threads.
constexpr std::int64_t kPackValuesPerItem = 32768;
// Values moved (layout changes, bias fills) before a team pays.
constexpr std::int64_t kLoopTeamFromValues = std::int64_t(1) << 16;
// Values checked for NaN/Inf before the check runs on a team.
constexpr std::int64_t kFiniteParallelFrom = std::int64_t(1) << 20;

// Work between interrupt checks: rounds of work items, the direct kernels'
// pixel blocks and the phase/implicit products' items.
constexpr double kRoundFlops = 4e8;
constexpr double kWeightRoundFlops = 4e9;
constexpr double kDirectBlockFlops = 1e7;
constexpr double kItemFlops = 1e7;

// The vector builds' products: samples per row group (one wide vector of
// doubles), the columns of a weight panel, and rows of a register block
// per type.
constexpr std::int64_t kRowGroup = 8;
constexpr std::int64_t kPanelColumns = 12;
template <class T>
constexpr std::int64_t block_rows() {
  return sizeof(T) == 8 ? 16 : 32;
}
// Row groups per work item of the in-place products: 128 rows, whose packed
// slice stays in L2 while every weight panel passes over it.
constexpr std::int64_t kRowGroupsPerItem = 16;

// phase_sample_major, phase_stacked and implicit_sample_major pack their
// weights in rounds of at most this many bytes (with a layout chunk of
// layout_chunk_bytes, a call stays within its result plus 64 MB).
constexpr std::int64_t kPhaseWeightRoundBytes = std::int64_t(8) << 20;
// The column path's cost in multiply-adds per column value beyond its
// product: the scatter into place (col2im) and the sample-major copies, as
// measured against the phase products on both CPUs seen here (DESIGN.md).
constexpr double kScatterCost = 256;
// phase_in_place with at most this many fine channels per group reads its
// input in place instead of packing it (each packed value would serve as
// few multiply-adds as its packing costs).
constexpr std::int64_t kNarrowColumns = 4;
// The implicit products read runs of the group's fine channels: a single
// channel's runs leave the vector units idle (3 channels still pay).
constexpr std::int64_t kImplicitMinChannels = 2;
// Depth of one slice of the packed products (gemm's kKc): a slice of A
// and B stays in L1/L2 while C is updated once per slice.
constexpr std::int64_t kGemmDepth = 256;
// weight_row_pointers: runs of at least this many fine channels, and a
// multiple of 4 (its 4-, 8- and 12-column kernels cover a run exactly).
constexpr std::int64_t kRowPointerMinChannels = 8;
// weight_in_place_packed reads runs of `batch` values (its vectors run over
// coarse channels, not samples): runs shorter than this leave it slower
// than the sample-major paths (batches 1 and 2 in the suite).
constexpr std::int64_t kPackedWeightMinBatch = 4;
// weight_in_place_registers: sums of fewer row groups do not pay for the
// lanes' final addition and spills.
constexpr std::int64_t kRegisterWeightMinRowGroups = 128;
// Pixel tiles of the sample-major weight gradient: at least this many
// pixels (a tile is also kept within the L2 cache).
constexpr std::int64_t kWeightTileMinPixels = 256;
constexpr std::int64_t kGatherTileMinPixels = 64;

}  // namespace tuning
}  // namespace convtranspose

#endif
