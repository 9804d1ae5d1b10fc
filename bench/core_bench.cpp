// Times the native core alone on the benchmark suite: the installed ISA
// library called through its C entry point, outputs reused from call to
// call, no R. Beside bench.R's whole R calls it splits a row's time into
// the kernel's and R's (allocating the result, page faults, collections).
// Usage: core_bench kernels/convtranspose_avx512.so suite.tsv out.tsv threads
// With BENCH_PARTS=1 it also times the backward pass's two products apart,
// as directions input_gradient and weight_gradient (bench/modes.sh).
// BENCH_ONLY=direction/dtype[,...] (say input_gradient/float32) times those
// cases alone, for a profiler.
// (bench/run.sh runs it; same warm-up and repetition rule as bench.R)
#include <convtranspose/geometry.hpp>
#include <convtranspose/options.hpp>
#include <unistd.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../src/core/isa_entry.h"

namespace ct = convtranspose;
using Entry = int (*)(int, int, const ct::ConvGeometry*, const double*, const double*,
                      const double*, double*, const ct::ComputeOptions*, char*, int);

namespace {

std::vector<std::int64_t> ints(const std::string& field) {
  std::vector<std::int64_t> v;
  std::stringstream s(field);
  std::string item;
  while (std::getline(s, item, ',')) v.push_back(std::stoll(item));
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: core_bench library suite.tsv out.tsv threads\n");
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) return std::fprintf(stderr, "%s\n", dlerror()), 2;
  Entry run = reinterpret_cast<Entry>(dlsym(lib, CONVTRANSPOSE_ISA_ENTRY));
  if (!run) return std::fprintf(stderr, "no entry point\n"), 2;
  const int threads = std::stoi(argv[4]);
  std::ifstream suite(argv[2]);
  std::ofstream out(argv[3]);
  out << "name\tdirection\tdtype\tmedian_s\tmin_s\n";
  std::string line;
  std::getline(suite, line);  // header
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  while (std::getline(suite, line)) {
    std::vector<std::string> f;
    std::stringstream s(line);
    std::string item;
    while (std::getline(s, item, '\t')) f.push_back(item);
    if (f.size() < 12) continue;
    ct::ConvTransposeSpec spec;
    spec.rank = std::stoi(f[1]);
    spec.batch = std::stoll(f[2]);
    spec.in_channels = std::stoll(f[3]);
    spec.out_channels = std::stoll(f[4]);
    spec.groups = std::stoll(f[10]);
    const auto size = ints(f[5]), kernel = ints(f[6]), stride = ints(f[7]), pad = ints(f[8]),
               outpad = ints(f[9]), dil = ints(f[11]);
    for (int d = 0; d < spec.rank; ++d) {
      spec.input_size[d] = size[d];
      spec.kernel_size[d] = kernel[d];
      spec.stride[d] = stride[d];
      spec.padding[d] = pad[d];
      spec.output_padding[d] = outpad[d];
      spec.dilation[d] = dil[d];
    }
    ct::ConvGeometry g;
    if (!ct::resolve_conv_transpose(spec, &g).ok()) continue;
    auto draw = [&](std::int64_t n) {
      std::vector<double> v(static_cast<std::size_t>(n));
      for (double& x : v) x = normal(rng);
      return v;
    };
    const auto coarse = draw(g.coarse_elements), fine = draw(g.fine_elements),
               weight = draw(g.weight_elements), bias = draw(g.fine_channels);
    std::vector<double> y(g.fine_elements), gx(g.coarse_elements), gw(g.weight_elements);
    ct::ComputeOptions options;
    options.num_threads = threads;
    if (sysconf(_SC_LEVEL2_CACHE_SIZE) > 0) options.l2_bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    char message[256];
    for (int single = 0; single <= 1; ++single) {
      const bool parts = std::getenv("BENCH_PARTS") != nullptr;
      const char* only = std::getenv("BENCH_ONLY");
      // 0 forward, 1 backward, 2 and 3 its input and weight gradients
      for (int backward = 0; backward <= (parts || only ? 3 : 1); ++backward) {
        const char* const directions[] = {"forward", "backward", "input_gradient",
                                          "weight_gradient"};
        const char* direction = directions[backward];
        const char* dtype = single ? "float32" : "float64";
        if (only && ("," + std::string(only) + ",").find("," + std::string(direction) + "/" +
                                                         dtype + ",") == std::string::npos)
          continue;
        auto call = [&] {
          if (backward == 3)
            return run(CONVTRANSPOSE_WEIGHT_GRADIENT, single, &g, coarse.data(), fine.data(),
                       nullptr, gw.data(), &options, message, sizeof message);
          if (!backward)
            return run(CONVTRANSPOSE_COARSE_TO_FINE, single, &g, coarse.data(), weight.data(),
                       bias.data(), y.data(), &options, message, sizeof message);
          int c = run(CONVTRANSPOSE_FINE_TO_COARSE, single, &g, fine.data(), weight.data(),
                      nullptr, gx.data(), &options, message, sizeof message);
          if (backward == 2) return c;
          return c ? c
                   : run(CONVTRANSPOSE_WEIGHT_GRADIENT, single, &g, coarse.data(), fine.data(),
                         nullptr, gw.data(), &options, message, sizeof message);
        };
        for (int warm = 0; warm < 3; ++warm)
          if (call()) return std::fprintf(stderr, "%s: %s\n", f[0].c_str(), message), 1;
        std::vector<double> times;
        double total = 0;
        while (times.size() < 7 || (total < 0.3 && times.size() < 500)) {
          const auto t0 = std::chrono::steady_clock::now();
          call();
          const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          times.push_back(t);
          total += t;
        }
        out << f[0] << '\t' << direction << '\t' << dtype << '\t' << median(times) << '\t'
            << *std::min_element(times.begin(), times.end()) << '\n';
        std::printf("%-14s %-8s %-8s %9.2f ms\n", f[0].c_str(), direction, dtype,
                    1e3 * median(times));
      }
    }
  }
  return 0;
}
