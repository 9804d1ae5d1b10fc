// The per-ISA copies of the core (core/isa_entry.cpp): loaded once, chosen
// per call (isa_loader.cpp).
#ifndef CONVTRANSPOSE_SRC_ISA_LOADER_H
#define CONVTRANSPOSE_SRC_ISA_LOADER_H

#include <convtranspose/geometry.hpp>
#include <convtranspose/options.hpp>
#include <convtranspose/status.hpp>

#include <string>

// Loads every copy this CPU runs from `libs_dir`; returns the best one's name.
std::string load_isa_libraries(const std::string& libs_dir);
void unload_isa_libraries();

// The build the next call runs: "avx512", "avx2" or "baseline", the best
// one loaded unless the environment variable CONVTRANSPOSE_ISA names a
// lower one.
std::string current_isa();

// One core operation (isa_entry.h) on the current build.
convtranspose::Status run_on_current_isa(int operation, bool single_precision,
                                         const convtranspose::ConvGeometry& g,
                                         const double* first, const double* second,
                                         const double* bias, double* out,
                                         const convtranspose::ComputeOptions& options);

#endif
