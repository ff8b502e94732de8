// bench/bandwidth: the memory-bandwidth probe (read, copy, triad with all threads) that every
// other benchmark reports its figures against.
#include <memory>
#include <thread>
#include <vector>

#include "common.hpp"

namespace murmur::bench {
namespace {

constexpr std::size_t kFloats = std::size_t{64} << 20;  // 256 MiB per array

struct Arrays {
  std::unique_ptr<float[]> a{new float[kFloats]}, b{new float[kFloats]}, c{new float[kFloats]};
  Arrays() {
    std::fill(a.get(), a.get() + kFloats, 1.0f);
    std::fill(b.get(), b.get() + kFloats, 2.0f);
    std::fill(c.get(), c.get() + kFloats, 3.0f);
  }
};
Arrays& arrays() {
  static Arrays arr;
  return arr;
}

// Google Benchmark runs the body in state.threads() threads; each streams its own slice.
std::pair<std::size_t, std::size_t> slice(const benchmark::State& state) {
  const auto t = static_cast<std::size_t>(state.thread_index());
  const auto n = static_cast<std::size_t>(state.threads());
  return {kFloats * t / n, kFloats * (t + 1) / n};
}

void BM_Read(benchmark::State& state) {
  auto [lo, hi] = slice(state);
  for (auto _ : state) benchmark::DoNotOptimize(probe_read(arrays().a.get(), lo, hi));
  state.SetBytesProcessed(state.iterations() * (hi - lo) * sizeof(float));
}

void BM_Copy(benchmark::State& state) {
  auto [lo, hi] = slice(state);
  for (auto _ : state) {
    probe_copy(arrays().a.get(), arrays().b.get(), lo, hi);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * (hi - lo) * sizeof(float));
}

void BM_Triad(benchmark::State& state) {
  auto [lo, hi] = slice(state);
  for (auto _ : state) {
    probe_triad(arrays().a.get(), arrays().b.get(), arrays().c.get(), 0.5f, lo, hi);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 3 * (hi - lo) * sizeof(float));
}

const int kThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
BENCHMARK(BM_Read)->ThreadRange(1, kThreads)->UseRealTime();
BENCHMARK(BM_Copy)->ThreadRange(1, kThreads)->UseRealTime();
BENCHMARK(BM_Triad)->ThreadRange(1, kThreads)->UseRealTime();

}  // namespace
}  // namespace murmur::bench
