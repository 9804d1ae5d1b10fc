// The closed list of CPU kernel paths: what plan.hpp chooses from, what the
// R layer lists (cvt_paths()), reports (convtranspose.verbose) and forces
// (convtranspose.force_path). Each operation's paths are in its order of
// preference: the planner takes the first that can run and pays.
#ifndef CONVTRANSPOSE_PATHS_HPP
#define CONVTRANSPOSE_PATHS_HPP

#include <cstring>

namespace convtranspose {

// The three operations of api.hpp (the same numbers as the C ABI's).
enum class Operation : int { coarse_to_fine = 1, fine_to_coarse = 2, weight_gradient = 3 };

enum class Path : int {
  none = -1,
  // coarse_to_fine
  direct_scatter = 0,
  phase_in_place,
  phase_stacked,
  phase_sample_major,
  gemm_col2im,
  // fine_to_coarse
  direct_gather,
  implicit_in_place,
  implicit_sample_major,
  im2col_gemm,
  // weight_gradient
  direct_weight,
  weight_in_place_packed,
  weight_in_place_registers,
  weight_row_pointers,
  weight_im2col,
  count
};

enum PathTraits : unsigned {
  kSimdOnly = 1u,  // compiled in the AVX2 and AVX-512 builds alone
  kFloat64 = 2u,
  kFloat32 = 4u,
  kBothTypes = kFloat64 | kFloat32
};

struct PathInfo {
  Path path;
  Operation operation;
  const char* name;
  unsigned traits;
  const char* description;
};

inline const PathInfo* path_table() {
  static const PathInfo table[] = {
      {Path::direct_scatter, Operation::coarse_to_fine, "direct_scatter", kBothTypes,
       "one coarse channel per group: each coarse value times its taps' weights, added straight "
       "into the fine pixels they reach"},
      {Path::phase_in_place, Operation::coarse_to_fine, "phase_in_place",
       kSimdOnly | kBothTypes,
       "one product per stride phase on R's layout, 8 samples a vector; no layout copies, no "
       "col2im"},
      {Path::phase_stacked, Operation::coarse_to_fine, "phase_stacked", kSimdOnly | kBothTypes,
       "1-D, kernel a whole number of strides: the stride phases stacked into one product on "
       "sample-major copies, blocks of stride fine pixels written in place"},
      {Path::phase_sample_major, Operation::coarse_to_fine, "phase_sample_major",
       kSimdOnly | kBothTypes,
       "one product per stride phase on sample-major copies, coarse pixels read in place"},
      {Path::gemm_col2im, Operation::coarse_to_fine, "gemm_col2im", kBothTypes,
       "column tiles by GEMM, split across threads, then col2im (the general path)"},
      {Path::direct_gather, Operation::fine_to_coarse, "direct_gather", kBothTypes,
       "one coarse channel per group: each coarse value summed straight from the fine pixels "
       "its taps read"},
      {Path::implicit_in_place, Operation::fine_to_coarse, "implicit_in_place",
       kSimdOnly | kBothTypes,
       "implicit GEMM on R's layout, 8 samples a vector, fine pixels read in place"},
      {Path::implicit_sample_major, Operation::fine_to_coarse, "implicit_sample_major",
       kSimdOnly | kBothTypes,
       "implicit GEMM on sample-major copies, fine pixels read in place (no im2col)"},
      {Path::im2col_gemm, Operation::fine_to_coarse, "im2col_gemm", kBothTypes,
       "im2col column tiles per thread, then GEMM (the general path)"},
      {Path::direct_weight, Operation::weight_gradient, "direct_weight", kBothTypes,
       "one coarse channel per group: coarse values times the fine values their taps reach, "
       "private sums per thread"},
      {Path::weight_in_place_packed, Operation::weight_gradient, "weight_in_place_packed",
       kSimdOnly | kBothTypes,
       "GEMM over (pixel, sample) on R's layout: coarse channels packed, fine runs read in place "
       "(float32: from a float copy)"},
      {Path::weight_in_place_registers, Operation::weight_gradient, "weight_in_place_registers",
       kSimdOnly | kFloat32,
       "sums over the batch in registers on R's layout, 8 samples a vector, no packing"},
      {Path::weight_row_pointers, Operation::weight_gradient, "weight_row_pointers",
       kSimdOnly | kBothTypes,
       "GEMM on sample-major copies, fine rows read in place through a table of row pointers"},
      {Path::weight_im2col, Operation::weight_gradient, "weight_im2col", kBothTypes,
       "im2col column tiles, then GEMM (the general path)"},
  };
  static_assert(sizeof(table) / sizeof(table[0]) == static_cast<std::size_t>(Path::count),
                "one row per path");
  return table;
}

inline const PathInfo& path_info(Path path) { return path_table()[static_cast<int>(path)]; }

inline const char* operation_name(Operation op) {
  switch (op) {
    case Operation::coarse_to_fine:
      return "coarse_to_fine";
    case Operation::fine_to_coarse:
      return "fine_to_coarse";
    default:
      return "weight_gradient";
  }
}

// What a call reports back: the path that ran and why (plain data: it
// crosses the C ABI of the ISA libraries inside ComputeOptions).
struct PathReport {
  int path = -1;
  char reason[480] = {0};
};

}  // namespace convtranspose

#endif
