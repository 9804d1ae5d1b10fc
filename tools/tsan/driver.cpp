// Runs every CPU kernel path of this build (paths.hpp), forced, on 2 and 3
// threads, on geometries large enough that each path's parallel regions run
// on a team, for ThreadSanitizer (tools/tsan/run.sh). Each result is
// compared with the same operation on the general path on one thread.
// Exit status 1 on a wrong result or a path that did not run.
#include <convtranspose/convtranspose.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace ct = convtranspose;

namespace {

// A geometry `path` can run: one input channel per group for the direct
// paths, 8 fine channels per group otherwise (the row-pointer kernel wants a
// multiple of 4), batch 16 (whole row groups); for phase_stacked a 1-D
// layer of one group whose kernel is two strides.
ct::ConvGeometry geometry_for(const ct::PathInfo& info) {
  const bool direct = std::string(info.name).compare(0, 6, "direct") == 0;
  const bool stacked = info.path == ct::Path::phase_stacked;
  ct::ConvTransposeSpec spec;
  spec.rank = stacked ? 1 : 2;
  spec.batch = 16;
  spec.groups = direct ? 16 : stacked ? 1 : 2;
  spec.in_channels = 16;
  spec.out_channels = 16;
  for (int d = 0; d < spec.rank; ++d) {
    spec.input_size[d] = stacked ? 64 : 16;
    spec.kernel_size[d] = stacked ? 4 : 3;
    spec.stride[d] = 2;
    spec.padding[d] = 1;
    spec.output_padding[d] = 1;
    spec.dilation[d] = 1;
  }
  ct::ConvGeometry g;
  ct::Status s = ct::resolve_conv_transpose(spec, &g);
  if (!s.ok()) std::fprintf(stderr, "geometry: %s\n", s.message.c_str());
  return g;
}

ct::Path general_path(ct::Operation op) {
  return op == ct::Operation::coarse_to_fine   ? ct::Path::gemm_col2im
         : op == ct::Operation::fine_to_coarse ? ct::Path::im2col_gemm
                                               : ct::Path::weight_im2col;
}

template <class T>
ct::Status run(ct::Operation op, const ct::ConvGeometry& g, const std::vector<double>& coarse,
               const std::vector<double>& fine, const std::vector<double>& weight,
               const std::vector<double>& bias, std::vector<double>* out, ct::Path path,
               int threads, ct::PathReport* report) {
  ct::ComputeOptions options;
  options.num_threads = threads;
  options.forced_path = static_cast<int>(path);
  options.report = report;
  switch (op) {
    case ct::Operation::coarse_to_fine:
      out->assign(static_cast<std::size_t>(g.fine_elements), 0.0);
      return ct::coarse_to_fine<T>(g, coarse.data(), weight.data(), bias.data(), out->data(),
                                   options);
    case ct::Operation::fine_to_coarse:
      out->assign(static_cast<std::size_t>(g.coarse_elements), 0.0);
      return ct::fine_to_coarse<T>(g, fine.data(), weight.data(), bias.data(), out->data(),
                                   options);
    default:
      out->assign(static_cast<std::size_t>(g.weight_elements), 0.0);
      return ct::weight_gradient<T>(g, coarse.data(), fine.data(), out->data(), options);
  }
}

template <class T>
int check(const ct::PathInfo& info, int threads) {
  const ct::ConvGeometry g = geometry_for(info);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  auto draw = [&](std::int64_t n) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (double& x : v) x = normal(rng);
    return v;
  };
  const std::vector<double> coarse = draw(g.coarse_elements), fine = draw(g.fine_elements);
  const std::vector<double> weight = draw(g.weight_elements);
  const std::vector<double> bias =
      draw(info.operation == ct::Operation::coarse_to_fine ? g.fine_channels : g.coarse_channels);
  std::vector<double> out, expected;
  ct::PathReport report, general_report;
  ct::Status s = run<T>(info.operation, g, coarse, fine, weight, bias, &out, info.path, threads,
                        &report);
  ct::Status e = run<T>(info.operation, g, coarse, fine, weight, bias, &expected,
                        general_path(info.operation), 1, &general_report);
  const char* dtype = sizeof(T) == 8 ? "float64" : "float32";
  if (!s.ok() || !e.ok() || report.path != static_cast<int>(info.path)) {
    std::printf("FAIL %s %s %d threads: %s %s\n", info.name, dtype, threads, s.message.c_str(),
                e.message.c_str());
    return 1;
  }
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < out.size(); ++i) {
    err = std::max(err, std::fabs(out[i] - expected[i]));
    scale = std::max(scale, std::fabs(expected[i]));
  }
  const double tol = sizeof(T) == 8 ? 1e-12 : 1e-5;
  std::printf("%s %-26s %s %d threads: relative error %.2g\n", err / scale <= tol ? "ok  " : "FAIL",
              info.name, dtype, threads, err / scale);
  return err / scale <= tol ? 0 : 1;
}

}  // namespace

int main() {
  int failures = 0, runs = 0;
  for (int i = 0; i < static_cast<int>(ct::Path::count); ++i) {
    const ct::PathInfo& info = ct::path_table()[i];
#if !defined(CONVTRANSPOSE_SIMD_GEMM)
    if (info.traits & ct::kSimdOnly) continue;
#endif
    for (int threads : {2, 3}) {
      if (info.traits & ct::kFloat64) failures += check<double>(info, threads), ++runs;
      if (info.traits & ct::kFloat32) failures += check<float>(info, threads), ++runs;
    }
  }
  std::printf("%d runs, %d failures\n", runs, failures);
  return failures == 0 ? 0 : 1;
}
