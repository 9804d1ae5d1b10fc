// The machine's FMA peak: every thread runs independent chains of vector
// FMAs (enough chains to cover the FMA latency on two FMA units) for a fixed
// time; the widest ISA the CPU runs is used. Prints one TSV line per dtype.
// Usage: peak [threads]   (build: g++ -O2 -fopenmp bench/peak.cpp)
#include <immintrin.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Chains: at least 2 units x 4-5 cycles of latency, and with the two
// constants within the register file (16 vector registers under AVX2: 16
// chains there would spill one and read below the peak).
constexpr int kChainsAvx512 = 16;
constexpr int kChainsAvx2 = 12;
constexpr long kSteps = 1L << 22;  // FMA steps per chain in one trial (~0.1 s)

volatile double sink;

#define PEAK_LOOP(kChains, VEC, SET1, FMA, ADD)               \
  VEC acc[kChains];                                                   \
  _Pragma("GCC unroll 16")                                            \
  for (int c = 0; c < kChains; ++c) acc[c] = SET1(1.0 + c * 0.01);     \
  const VEC a = SET1(0.999), b = SET1(0.001);                        \
  for (long s = 0; s < steps; ++s) {                                  \
    _Pragma("GCC unroll 16")                                          \
    for (int c = 0; c < kChains; ++c) {                               \
      acc[c] = FMA(acc[c], a, b);                                     \
      __asm__("" : "+v"(acc[c])); /* opaque: chains stay apart */     \
    }                                                                 \
  }                                                                   \
  VEC total = acc[0];                                                 \
  _Pragma("GCC unroll 16")                                            \
  for (int c = 1; c < kChains; ++c) total = ADD(total, acc[c]);      \
  double first;                                                       \
  std::memcpy(&first, &total, sizeof first);                          \
  sink = sink + first;

__attribute__((target("avx512f"))) void loop_avx512_f64(long steps) {
  PEAK_LOOP(kChainsAvx512, __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd)
}
__attribute__((target("avx512f"))) void loop_avx512_f32(long steps) {
  PEAK_LOOP(kChainsAvx512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
}
__attribute__((target("avx2,fma"))) void loop_avx2_f64(long steps) {
  PEAK_LOOP(kChainsAvx2, __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd)
}
__attribute__((target("avx2,fma"))) void loop_avx2_f32(long steps) {
  PEAK_LOOP(kChainsAvx2, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)
}

// GFLOP/s of `threads` threads each running loop(steps), best of 5 trials.
double measure(void (*loop)(long), int lanes, int chains, int threads) {
  double best = 0;
  for (int trial = 0; trial < 5; ++trial) {
    double t0 = 0, t1 = 0;
#pragma omp parallel num_threads(threads)
    {
#pragma omp barrier
#pragma omp master
      t0 = omp_get_wtime();
      loop(kSteps);
#pragma omp barrier
#pragma omp master
      t1 = omp_get_wtime();
    }
    const double flops = 2.0 * lanes * chains * double(kSteps) * threads;
    if (flops / (t1 - t0) / 1e9 > best) best = flops / (t1 - t0) / 1e9;
  }
  return best;
}

std::string cpu_model() {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown";
  char line[512];
  std::string model = "unknown", family = "?", number = "?";
  auto value = [](const char* l) {
    std::string v = std::strchr(l, ':') ? std::strchr(l, ':') + 1 : "";
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  };
  // the first processor's entry; a VM's model name can be as bare as "AMD EPYC"
  while (std::fgets(line, sizeof line, f) && line[0] != '\n') {
    if (std::strncmp(line, "model name", 10) == 0) model = value(line);
    else if (std::strncmp(line, "cpu family", 10) == 0) family = value(line);
    else if (std::strncmp(line, "model\t", 6) == 0) number = value(line);
  }
  std::fclose(f);
  return model + " (family " + family + ", model " + number + ")";
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    std::fprintf(stderr, "peak: the CPU has neither AVX-512 nor AVX2 + FMA\n");
    return 1;
  }
  const char* isa = avx512 ? "avx512" : "avx2";
  const std::string model = cpu_model();
  std::printf("cpu\tisa\tdtype\tthreads\tgflops\tgflops_one_thread\n");
  const int lanes64 = avx512 ? 8 : 4;
  const int chains = avx512 ? kChainsAvx512 : kChainsAvx2;
  void (*f64)(long) = avx512 ? loop_avx512_f64 : loop_avx2_f64;
  void (*f32)(long) = avx512 ? loop_avx512_f32 : loop_avx2_f32;
  std::printf("%s\t%s\tfloat64\t%d\t%.1f\t%.1f\n", model.c_str(), isa, threads,
              measure(f64, lanes64, chains, threads), measure(f64, lanes64, chains, 1));
  std::printf("%s\t%s\tfloat32\t%d\t%.1f\t%.1f\n", model.c_str(), isa, threads,
              measure(f32, 2 * lanes64, chains, threads),
              measure(f32, 2 * lanes64, chains, 1));
  return 0;
}
