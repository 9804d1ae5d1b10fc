// Times oneDNN's deconvolution (float32) on the benchmark suite, the
// anchor for PyTorch 2.x and R torch, whose CPU float32 transposed
// convolutions are oneDNN's. Two figures per row and direction:
//   blocked: the primitive alone, every tensor already in the layout oneDNN
//            prefers (format_tag::any), reorders excluded;
//   plain:   PyTorch's plain layouts (NCHW data, the weight as
//            (in, out / groups, k...)), reorders to and from the primitive's
//            layout included: the job convtranspose does on R arrays.
// backward = backward-data + backward-weights (with the bias gradient).
// Before timing it checks both figures' path against a naive loop.
// With BENCH_PARTS=1 it also times backward-data and backward-weights
// apart (blocked), as directions input_gradient and weight_gradient.
// Usage: onednn_bench suite.tsv out.tsv [threads]; writes out.tsv and
// out-env.tsv (the version and threads).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dims = memory::dims;

struct Layer {
  std::string name;
  int nd = 2;
  long batch = 1, in_channels = 1, out_channels = 1, groups = 1;
  std::vector<long> size, kernel, stride, padding, output_padding, dilation;

  long out_size(int d) const {
    return (size[d] - 1) * stride[d] - 2 * padding[d] + dilation[d] * (kernel[d] - 1) +
           output_padding[d] + 1;
  }
  double flops() const {  // as bench.R counts them
    double f = 2.0 * batch * in_channels * (out_channels / groups);
    for (int d = 0; d < nd; ++d) f *= double(kernel[d]) * double(size[d]);
    return f;
  }
};

std::vector<long> ints(const std::string& s) {
  std::vector<long> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(std::stol(item));
  return v;
}

std::vector<Layer> read_suite(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> header;
  std::vector<Layer> layers;
  auto split = [](const std::string& l) {
    std::vector<std::string> f;
    std::stringstream s(l);
    std::string x;
    while (std::getline(s, x, '\t')) f.push_back(x);
    return f;
  };
  if (!std::getline(in, line)) return layers;
  header = split(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = split(line);
    auto col = [&](const char* name) -> std::string {
      for (size_t i = 0; i < header.size() && i < f.size(); ++i)
        if (header[i] == name) return f[i];
      return "";
    };
    Layer l;
    l.name = col("name");
    l.nd = std::stoi(col("nd"));
    l.batch = std::stol(col("batch"));
    l.in_channels = std::stol(col("in_channels"));
    l.out_channels = std::stol(col("out_channels"));
    l.groups = std::stol(col("groups"));
    l.size = ints(col("input_size"));
    l.kernel = ints(col("kernel_size"));
    l.stride = ints(col("stride"));
    l.padding = ints(col("padding"));
    l.output_padding = ints(col("output_padding"));
    l.dilation = ints(col("dilation"));
    layers.push_back(l);
  }
  return layers;
}

tag data_tag(int nd) { return nd == 1 ? tag::ncw : nd == 2 ? tag::nchw : tag::ncdhw; }
// PyTorch's (in, out / groups, k...) is oneDNN's (groups, out, in, k...), or
// (out, in, k...) without groups, with the in and out axes swapped.
tag weight_tag(int nd, bool grouped) {
  if (grouped) return nd == 1 ? tag::acbd : nd == 2 ? tag::acbde : tag::acbdef;
  return nd == 1 ? tag::bac : nd == 2 ? tag::bacd : tag::bacde;
}

struct Shapes {
  dims src, dst, weights, bias, strides, dilates, padding_l, padding_r;
};

Shapes shapes(const Layer& l) {
  Shapes s;
  s.src = {l.batch, l.in_channels};
  s.dst = {l.batch, l.out_channels};
  s.weights = {l.out_channels / l.groups, l.in_channels / l.groups};
  if (l.groups > 1) s.weights.insert(s.weights.begin(), l.groups);
  for (int d = 0; d < l.nd; ++d) {
    s.src.push_back(l.size[d]);
    s.dst.push_back(l.out_size(d));
    s.weights.push_back(l.kernel[d]);
    s.strides.push_back(l.stride[d]);
    s.dilates.push_back(l.dilation[d] - 1);  // oneDNN counts dilation from 0
    s.padding_l.push_back(l.padding[d]);
    // output_padding extends the right edge: PyTorch's ideep does the same
    s.padding_r.push_back(l.padding[d] - l.output_padding[d]);
  }
  s.bias = {l.out_channels};
  return s;
}

// The primitives and their memories for one layer, in both layouts.
struct Bench {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  Layer layer;
  Shapes sh;
  dnnl::deconvolution_forward::primitive_desc fwd_pd;
  dnnl::deconvolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::deconvolution_backward_weights::primitive_desc bwd_weights_pd;
  // plain memories, PyTorch's layouts
  memory src, weights, bias, dst, diff_dst, diff_src, diff_weights, diff_bias;
  // the primitives' own layouts
  memory fwd_src, fwd_weights, fwd_dst, bd_diff_dst, bd_weights, bd_diff_src, bw_src,
      bw_diff_dst, bw_diff_weights;

  explicit Bench(const Layer& l) : layer(l), sh(shapes(l)) {
    auto any = [](const dims& d) { return memory::desc(d, memory::data_type::f32, tag::any); };
    auto plain = [&](const dims& d, tag t) {
      return memory::desc(d, memory::data_type::f32, t);
    };
    const auto alg = dnnl::algorithm::deconvolution_direct;
    const memory::desc bias_md = plain(sh.bias, tag::x);
    dnnl::deconvolution_forward::desc fwd(dnnl::prop_kind::forward_training, alg, any(sh.src),
                                          any(sh.weights), bias_md, any(sh.dst), sh.strides,
                                          sh.dilates, sh.padding_l, sh.padding_r);
    fwd_pd = dnnl::deconvolution_forward::primitive_desc(fwd, eng);
    dnnl::deconvolution_backward_data::desc bd(alg, any(sh.src), any(sh.weights), any(sh.dst),
                                               sh.strides, sh.dilates, sh.padding_l,
                                               sh.padding_r);
    bwd_data_pd = dnnl::deconvolution_backward_data::primitive_desc(bd, eng, fwd_pd);
    dnnl::deconvolution_backward_weights::desc bw(alg, any(sh.src), any(sh.weights), bias_md,
                                                  any(sh.dst), sh.strides, sh.dilates,
                                                  sh.padding_l, sh.padding_r);
    bwd_weights_pd = dnnl::deconvolution_backward_weights::primitive_desc(bw, eng, fwd_pd);

    const tag dt = data_tag(l.nd), wt = weight_tag(l.nd, l.groups > 1);
    src = memory(plain(sh.src, dt), eng);
    weights = memory(plain(sh.weights, wt), eng);
    bias = memory(bias_md, eng);
    dst = memory(plain(sh.dst, dt), eng);
    diff_dst = memory(plain(sh.dst, dt), eng);
    diff_src = memory(plain(sh.src, dt), eng);
    diff_weights = memory(plain(sh.weights, wt), eng);
    diff_bias = memory(bias_md, eng);
    fwd_src = memory(fwd_pd.src_desc(), eng);
    fwd_weights = memory(fwd_pd.weights_desc(), eng);
    fwd_dst = memory(fwd_pd.dst_desc(), eng);
    bd_diff_dst = memory(bwd_data_pd.diff_dst_desc(), eng);
    bd_weights = memory(bwd_data_pd.weights_desc(), eng);
    bd_diff_src = memory(bwd_data_pd.diff_src_desc(), eng);
    bw_src = memory(bwd_weights_pd.src_desc(), eng);
    bw_diff_dst = memory(bwd_weights_pd.diff_dst_desc(), eng);
    bw_diff_weights = memory(bwd_weights_pd.diff_weights_desc(), eng);
  }

  // Copies between layouts; the same memory descriptor is no reorder.
  void reorder(memory& from, memory& to) {
    if (from.get_desc() == to.get_desc()) {
      std::copy_n(static_cast<const char*>(from.get_data_handle()), from.get_desc().get_size(),
                  static_cast<char*>(to.get_data_handle()));
      return;
    }
    dnnl::reorder(from, to).execute(strm, from, to);
  }

  void forward_blocked() {
    dnnl::deconvolution_forward(fwd_pd).execute(
        strm, {{DNNL_ARG_SRC, fwd_src},
               {DNNL_ARG_WEIGHTS, fwd_weights},
               {DNNL_ARG_BIAS, bias},
               {DNNL_ARG_DST, fwd_dst}});
    strm.wait();
  }
  void backward_blocked() {
    backward_data();
    backward_weights();
  }
  void backward_data() {
    dnnl::deconvolution_backward_data(bwd_data_pd)
        .execute(strm, {{DNNL_ARG_DIFF_DST, bd_diff_dst},
                        {DNNL_ARG_WEIGHTS, bd_weights},
                        {DNNL_ARG_DIFF_SRC, bd_diff_src}});
    strm.wait();
  }
  void backward_weights() {
    dnnl::deconvolution_backward_weights(bwd_weights_pd)
        .execute(strm, {{DNNL_ARG_SRC, bw_src},
                        {DNNL_ARG_DIFF_DST, bw_diff_dst},
                        {DNNL_ARG_DIFF_WEIGHTS, bw_diff_weights},
                        {DNNL_ARG_DIFF_BIAS, diff_bias}});
    strm.wait();
  }
  void forward_plain() {
    reorder(src, fwd_src);
    reorder(weights, fwd_weights);
    forward_blocked();
    reorder(fwd_dst, dst);
    strm.wait();
  }
  void backward_plain() {
    reorder(diff_dst, bd_diff_dst);
    reorder(weights, bd_weights);
    reorder(src, bw_src);
    reorder(diff_dst, bw_diff_dst);
    backward_blocked();
    reorder(bd_diff_src, diff_src);
    reorder(bw_diff_weights, diff_weights);
    strm.wait();
  }
};

float* data(memory& m) { return static_cast<float*>(m.get_data_handle()); }
size_t count(const memory& m) { return m.get_desc().get_size() / sizeof(float); }

void fill(memory& m, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  float* p = data(m);
  for (size_t i = 0; i < count(m); ++i) p[i] = u(rng);
}

// Naive transposed convolution and its gradients from the definition, in
// double, on the plain layouts: out[n, g, o, y] += x[n, g, i, u] w[g, i, o, t]
// where y = u * stride - padding + t * dilation, per spatial axis.
struct Reference {
  const Layer& l;
  long cin_g, cout_g, in3[3], out3[3], k3[3], s3[3], p3[3], d3[3];
  explicit Reference(const Layer& layer) : l(layer) {
    cin_g = l.in_channels / l.groups;
    cout_g = l.out_channels / l.groups;
    for (int d = 0; d < 3; ++d) {
      const int a = d - (3 - l.nd);  // the layer's axis, or -1 for a padded one
      in3[d] = a < 0 ? 1 : l.size[a];
      out3[d] = a < 0 ? 1 : l.out_size(a);
      k3[d] = a < 0 ? 1 : l.kernel[a];
      s3[d] = a < 0 ? 1 : l.stride[a];
      p3[d] = a < 0 ? 0 : l.padding[a];
      d3[d] = a < 0 ? 1 : l.dilation[a];
    }
  }
  // f(x index, w index, out index) for every term of the sum
  template <class F>
  void terms(F f) const {
    const long in_px = in3[0] * in3[1] * in3[2], out_px = out3[0] * out3[1] * out3[2];
    const long k_px = k3[0] * k3[1] * k3[2];
    for (long n = 0; n < l.batch; ++n)
      for (long g = 0; g < l.groups; ++g)
        for (long i = 0; i < cin_g; ++i)
          for (long o = 0; o < cout_g; ++o)
            for (long u0 = 0; u0 < in3[0]; ++u0)
              for (long u1 = 0; u1 < in3[1]; ++u1)
                for (long u2 = 0; u2 < in3[2]; ++u2)
                  for (long t0 = 0; t0 < k3[0]; ++t0)
                    for (long t1 = 0; t1 < k3[1]; ++t1)
                      for (long t2 = 0; t2 < k3[2]; ++t2) {
                        const long y0 = u0 * s3[0] - p3[0] + t0 * d3[0];
                        const long y1 = u1 * s3[1] - p3[1] + t1 * d3[1];
                        const long y2 = u2 * s3[2] - p3[2] + t2 * d3[2];
                        if (y0 < 0 || y0 >= out3[0] || y1 < 0 || y1 >= out3[1] || y2 < 0 ||
                            y2 >= out3[2])
                          continue;
                        const long xi = ((n * l.in_channels + g * cin_g + i) * in_px) +
                                        (u0 * in3[1] + u1) * in3[2] + u2;
                        const long wi = ((g * cin_g + i) * cout_g + o) * k_px +
                                        (t0 * k3[1] + t1) * k3[2] + t2;
                        const long yi = ((n * l.out_channels + g * cout_g + o) * out_px) +
                                        (y0 * out3[1] + y1) * out3[2] + y2;
                        f(xi, wi, yi);
                      }
  }
};

double max_relative_error(const float* got, const std::vector<double>& want) {
  double scale = 0, err = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::fabs(got[i] - want[i]));
  return err / std::max(scale, 1e-30);
}

// Both directions of the plain path (which runs the blocked primitive
// between its reorders) against the reference; false with a message if off.
bool self_check(const Layer& l, std::string& why) {
  Bench b(l);
  std::fprintf(stderr, "self-check %s: %s, %s + %s\n", l.name.c_str(), b.fwd_pd.impl_info_str(),
               b.bwd_data_pd.impl_info_str(), b.bwd_weights_pd.impl_info_str());
  std::mt19937 rng(7);
  fill(b.src, rng);
  fill(b.weights, rng);
  fill(b.bias, rng);
  fill(b.diff_dst, rng);
  b.forward_plain();
  b.backward_plain();
  Reference ref(l);
  const float *x = data(b.src), *w = data(b.weights), *gy = data(b.diff_dst);
  std::vector<double> y(count(b.dst)), gx(count(b.src)), gw(count(b.weights)),
      gb(l.out_channels);
  const long out_px = long(y.size()) / (l.batch * l.out_channels);
  for (long n = 0; n < l.batch; ++n)
    for (long c = 0; c < l.out_channels; ++c)
      for (long p = 0; p < out_px; ++p) {
        y[(n * l.out_channels + c) * out_px + p] = data(b.bias)[c];
        gb[c] += gy[(n * l.out_channels + c) * out_px + p];
      }
  ref.terms([&](long xi, long wi, long yi) {
    y[yi] += double(x[xi]) * w[wi];
    gx[xi] += double(gy[yi]) * w[wi];
    gw[wi] += double(x[xi]) * gy[yi];
  });
  const double errs[4] = {max_relative_error(data(b.dst), y),
                          max_relative_error(data(b.diff_src), gx),
                          max_relative_error(data(b.diff_weights), gw),
                          max_relative_error(data(b.diff_bias), gb)};
  const char* what[4] = {"output", "input gradient", "weight gradient", "bias gradient"};
  for (int i = 0; i < 4; ++i)
    if (!(errs[i] < 1e-5)) {
      why = l.name + ": " + what[i] + " off by " + std::to_string(errs[i]) + " (relative)";
      return false;
    }
  return true;
}

struct Timing {
  double median, fastest;
};

// The rule of bench.R and bench_torch.py: warm up with at least 3 calls and
// 0.1 s, then time at least `reps` calls and 0.3 s.
Timing time_calls(const std::function<void()>& call, int reps) {
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
  const auto warm_start = clock::now();
  for (int warm = 0; warm < 3 || (secs(clock::now() - warm_start) < 0.1 && warm < 100); ++warm)
    call();
  std::vector<double> times;
  double total = 0;
  while (int(times.size()) < reps || (total < 0.3 && times.size() < 500)) {
    const auto t0 = clock::now();
    call();
    times.push_back(secs(clock::now() - t0));
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  const size_t m = times.size();
  return {m % 2 ? times[m / 2] : 0.5 * (times[m / 2 - 1] + times[m / 2]), times.front()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: onednn_bench suite.tsv out.tsv [threads]\n");
    return 2;
  }
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  omp_set_num_threads(threads);
  const dnnl_version_t* v = dnnl_version();
  std::fprintf(stderr, "oneDNN %d.%d.%d, %d threads\n", v->major, v->minor, v->patch, threads);

  // Geometries that exercise every index rule the layers use (Layer's fields
  // in order: name, rank, batch, channels in/out, groups, size, kernel, stride,
  // padding, output_padding, dilation).
  const Layer checks[] = {
      Layer{"check_2d_groups_dilation_outpad", 2, 3, 6, 4, 2, {5, 4}, {3, 2}, {2, 3},
            {2, 1}, {1, 2}, {2, 1}},
      Layer{"check_1d", 1, 2, 5, 3, 1, {7}, {4}, {3}, {1}, {0}, {1}},
      Layer{"check_1d_outpad_dilation", 1, 2, 4, 6, 2, {6}, {3}, {2}, {2}, {1}, {3}},
      Layer{"check_3d", 3, 2, 4, 3, 1, {3, 4, 2}, {2, 3, 2}, {2, 1, 2}, {0, 1, 1},
            {1, 0, 1}, {1, 2, 1}},
      Layer{"check_2d_16_channels", 2, 2, 32, 16, 1, {6, 5}, {4, 4}, {2, 2}, {1, 1},
            {0, 0}, {1, 1}},
      Layer{"check_2d_3_outputs", 2, 16, 64, 3, 1, {8, 8}, {4, 4}, {2, 2}, {1, 1}, {0, 0},
            {1, 1}},
  };
  for (const Layer& l : checks) {
    std::string why;
    try {
      if (!self_check(l, why)) {
        std::fprintf(stderr, "onednn_bench: self-check failed: %s; refusing to time\n",
                     why.c_str());
        return 1;
      }
    } catch (const dnnl::error& e) {
      std::fprintf(stderr, "onednn_bench: self-check %s: oneDNN error %s\n", l.name.c_str(),
                   e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "self-check against the naive loop: %zu geometries passed\n",
               sizeof checks / sizeof checks[0]);

  const std::vector<Layer> layers = read_suite(argv[1]);
  std::FILE* out = std::fopen(argv[2], "w");
  if (!out) {
    std::fprintf(stderr, "onednn_bench: cannot write %s\n", argv[2]);
    return 1;
  }
  std::fprintf(out, "name\tdirection\tdtype\tlayout\tmedian_s\tmin_s\tgflops\timpl\n");
  std::mt19937 rng(1);
  for (const Layer& l : layers) {
    try {
      Bench b(l);
      for (memory* m : {&b.src, &b.weights, &b.bias, &b.diff_dst}) fill(*m, rng);
      // the blocked figures start from the same values, reordered once
      b.reorder(b.src, b.fwd_src);
      b.reorder(b.weights, b.fwd_weights);
      b.reorder(b.diff_dst, b.bd_diff_dst);
      b.reorder(b.weights, b.bd_weights);
      b.reorder(b.src, b.bw_src);
      b.reorder(b.diff_dst, b.bw_diff_dst);
      struct Case {
        const char *direction, *layout;
        std::function<void()> call;
        std::string impl;
      } cases[] = {
          {"forward", "blocked", [&] { b.forward_blocked(); }, b.fwd_pd.impl_info_str()},
          {"forward", "plain", [&] { b.forward_plain(); }, b.fwd_pd.impl_info_str()},
          {"backward", "blocked", [&] { b.backward_blocked(); },
           std::string(b.bwd_data_pd.impl_info_str()) + "+" + b.bwd_weights_pd.impl_info_str()},
          {"backward", "plain", [&] { b.backward_plain(); },
           std::string(b.bwd_data_pd.impl_info_str()) + "+" + b.bwd_weights_pd.impl_info_str()},
      };
      std::vector<Case> all(std::begin(cases), std::end(cases));
      if (std::getenv("BENCH_PARTS") != nullptr) {
        all.push_back({"input_gradient", "blocked", [&] { b.backward_data(); },
                       b.bwd_data_pd.impl_info_str()});
        all.push_back({"weight_gradient", "blocked", [&] { b.backward_weights(); },
                       b.bwd_weights_pd.impl_info_str()});
      }
      for (const Case& c : all) {
        const Timing t = time_calls(c.call, 7);
        const double work = (std::string(c.direction) == "backward" ? 2 : 1) * l.flops();
        std::fprintf(out, "%s\t%s\tfloat32\t%s\t%.6g\t%.6g\t%.6g\t%s\n", l.name.c_str(),
                     c.direction, c.layout, t.median, t.fastest, work / t.median / 1e9,
                     c.impl.c_str());
        std::fprintf(stderr, "%-14s %-8s float32  %-7s %9.2f ms %7.1f GFLOP/s  %s\n",
                     l.name.c_str(), c.direction, c.layout, 1e3 * t.median,
                     work / t.median / 1e9, c.impl.c_str());
      }
    } catch (const dnnl::error& e) {
      std::fprintf(stderr, "onednn_bench: %s: oneDNN error %s\n", l.name.c_str(), e.what());
      std::fclose(out);
      return 1;
    }
  }
  std::fclose(out);
  // the version and threads beside the table: out.tsv -> out-env.tsv
  std::string env_path = argv[2];
  const size_t dot = env_path.rfind(".tsv");
  env_path = (dot == std::string::npos ? env_path : env_path.substr(0, dot)) + "-env.tsv";
  if (std::FILE* env = std::fopen(env_path.c_str(), "w")) {
    std::fprintf(env, "onednn\tthreads\n%d.%d.%d\t%d\n", v->major, v->minor, v->patch, threads);
    std::fclose(env);
  }
  return 0;
}
