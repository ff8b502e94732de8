// bench/aggregate: aggregation rules' input bandwidth, as GB/s and as a ratio to the
// bandwidth probe measured in the same run, and against naive implementations.
#include <memory>
#include <vector>

#include "common.hpp"
#include "murmur/kernels/weighted_sum.hpp"

namespace murmur::bench {
namespace {

namespace k = murmur::kernels;

/// N rows of D floats filled with a cheap pattern (bandwidth does not care about values).
struct Input {
  std::size_t n, d;
  std::vector<float> data;
  std::vector<double> weights;
  Input(std::size_t n_, std::size_t d_) : n(n_), d(d_), data(n_ * d_), weights(n_) {
    for (std::size_t i = 0; i < n; ++i) {
      weights[i] = 1.0 / static_cast<double>(n);
      for (std::size_t j = 0; j < d; ++j)
        data[i * d + j] = static_cast<float>((i * 7 + j * 13) % 1024) * 0.001f;
    }
  }
};

k::Backend& cpu() {
  static auto backend = k::make_cpu_backend();
  return *backend;
}

void BM_WeightedSum(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d);
  const k::MemoryRowSource src(in.data, in.n, in.d);
  for (auto _ : state) {
    k::weighted_sum(cpu(), src, in.weights, out);
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, static_cast<double>(in.n * in.d + in.d) * sizeof(float));
}

/// What one writes first: per coordinate, a strided walk down the rows, one thread.
void BM_WeightedSumNaive(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d);
  for (auto _ : state) {
    for (std::size_t j = 0; j < in.d; ++j) {
      double acc = 0;
      for (std::size_t i = 0; i < in.n; ++i) acc += in.weights[i] * in.data[i * in.d + j];
      out[j] = static_cast<float>(acc);
    }
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, static_cast<double>(in.n * in.d + in.d) * sizeof(float));
}

BENCHMARK(BM_WeightedSum)
    ->ArgNames({"N", "D"})
    ->Args({10, 1000000})
    ->Args({32, 1000000})
    ->Args({100, 1000000})
    ->Args({1000, 1000000})
    ->Args({10, 10000000})
    ->Args({32, 10000000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_WeightedSumNaive)
    ->ArgNames({"N", "D"})
    ->Args({32, 1000000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

const bool kRatios = [] {
  add_ratio("weighted_sum vs naive strided loop, N=32 D=1e6",
            "BM_WeightedSum/N:32/D:1000000/real_time",
            "BM_WeightedSumNaive/N:32/D:1000000/real_time");
  return true;
}();

}  // namespace
}  // namespace murmur::bench
