// The C entry point of the core compiled for one instruction set into its
// own shared library (convtranspose_avx2.so, convtranspose_avx512.so; see
// Makevars), which isa_loader.cpp dlopen()s when the CPU runs it. The whole
// file, with the standard library's and Eigen's templates it instantiates,
// is compiled for that ISA; every symbol but the two below is hidden and
// bound inside the library (-Bsymbolic), so none mixes with the baseline
// copy's. GCC's C++ front end does not define the ISA macros under `#pragma
// GCC target`, and Eigen reads them to choose its vector code, so they are
// defined here. Both libraries run the package's own kernels
// (CONVTRANSPOSE_SIMD_GEMM: gemm.hpp and the in-place products), on 512-bit
// vectors with CONVTRANSPOSE_ISA_AVX512, else on 256-bit ones; Eigen, which
// the remaining products use, keeps its AVX2 code (its AVX-512 code crashed
// in our products).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#if defined(CONVTRANSPOSE_ISA_AVX512)
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#define CONVTRANSPOSE_GEMM_AVX512 1
#else
#pragma GCC target("avx2,fma")
#endif
#define CONVTRANSPOSE_SIMD_GEMM 1
#define __SSE3__ 1
#define __SSSE3__ 1
#define __SSE4_1__ 1
#define __SSE4_2__ 1
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#endif

#include "isa_entry.h"

#include <convtranspose/convtranspose.hpp>
#include <cstring>

#include "run_operation.hpp"

namespace ct = convtranspose;

extern "C" __attribute__((visibility("default"))) int convtranspose_isa_level() {
#if defined(CONVTRANSPOSE_GEMM_AVX512)
  return 512;
#elif defined(__AVX2__) && !defined(CONVTRANSPOSE_ISA_AVX512)
  return 2;
#else
  return 0;
#endif
}

extern "C" __attribute__((visibility("default"))) int convtranspose_isa_run(
    int operation, int single_precision, const ct::ConvGeometry* g, const double* a,
    const double* b, const double* bias, double* out, const ct::ComputeOptions* options,
    char* message, int message_size) {
  const ct::Status s =
      ct::run_operation(operation, single_precision != 0, *g, a, b, bias, out, *options);
  if (!s.ok() && message_size > 0) {
    std::strncpy(message, s.message.c_str(), static_cast<std::size_t>(message_size) - 1);
    message[message_size - 1] = '\0';
  }
  return static_cast<int>(s.code);
}
