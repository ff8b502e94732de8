// bench/aggregate's CUDA rows: the rules and the weighted sum on the CUDA backend over host rows
// (what murmurd hands it: the backend stages them to the device through its pinned buffers) for
// N in {32, 100} x D in {1e6, 1e7}, and two device probes measured in the same run: a
// device-to-device copy (the device's memory bandwidth, STREAM's accounting: 2 bytes moved per
// byte copied) and a pinned host-to-device copy (the PCIe link the host rows cross). Every CUDA
// row reports x_d2d and x_h2d, its input bandwidth over each probe. With no device every row is
// skipped with the CUDA runtime's reason. Built into bench/aggregate with the CUDA backend only.
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/weighted_sum.hpp"

namespace murmur::bench {
namespace {

namespace k = murmur::kernels;

/// 512 MiB per probe buffer: far beyond any L2.
constexpr std::size_t kProbeBytes = std::size_t{512} << 20;

/// The CUDA backend on device 0, or why there is none (made once per process).
struct Device {
  std::unique_ptr<k::Backend> backend;
  std::string why;
};
Device& device() {
  static Device d = [] {
    Device r;
    try {
      r.backend = k::make_cuda_backend(0);
    } catch (const k::BackendUnavailable& e) {
      r.why = e.what();
    }
    return r;
  }();
  return d;
}

/// One timed copy direction: best of five copies of kProbeBytes, in GB/s with STREAM's
/// accounting (device-to-device counts read + write; host-to-device the bytes crossing PCIe).
struct Probe {
  double d2d = 0, h2d = 0;
  std::string error;
};

std::string cuda_error(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorString(e);
}

double best_copy_gbps(void* dst, const void* src, cudaMemcpyKind kind, double bytes_moved,
                      cudaStream_t stream, std::string& error) {
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  float best_ms = 1e30f;
  for (int pass = 0; pass < 6 && error.empty(); ++pass) {  // pass 0 warms up
    cudaEventRecord(start, stream);
    cudaError_t e = cudaMemcpyAsync(dst, src, kProbeBytes, kind, stream);
    cudaEventRecord(stop, stream);
    if (e == cudaSuccess) e = cudaEventSynchronize(stop);
    if (e != cudaSuccess) {
      error = cuda_error("cudaMemcpyAsync", e);
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (pass > 0) best_ms = std::min(best_ms, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return error.empty() ? bytes_moved / (best_ms * 1e-3) / 1e9 : 0;
}

/// Measured once per process, on first use; printed like the host probe.
const Probe& device_probe() {
  static const Probe probe = [] {
    Probe p;
    if (!device().backend) {
      p.error = device().why;
      return p;
    }
    void *a = nullptr, *b = nullptr, *host = nullptr;
    cudaStream_t stream = nullptr;
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaStreamCreate(&stream);
    if (e == cudaSuccess) e = cudaMalloc(&a, kProbeBytes);
    if (e == cudaSuccess) e = cudaMalloc(&b, kProbeBytes);
    if (e == cudaSuccess) e = cudaMallocHost(&host, kProbeBytes);
    if (e == cudaSuccess) e = cudaMemset(a, 1, kProbeBytes);
    if (e != cudaSuccess) p.error = cuda_error("probe buffers", e);
    if (p.error.empty()) {
      std::fill_n(static_cast<char*>(host), kProbeBytes, char{1});
      p.d2d = best_copy_gbps(b, a, cudaMemcpyDeviceToDevice, 2.0 * kProbeBytes, stream, p.error);
      p.h2d = best_copy_gbps(a, host, cudaMemcpyHostToDevice, kProbeBytes, stream, p.error);
    }
    cudaFree(a);
    cudaFree(b);
    cudaFreeHost(host);
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (p.error.empty())
      std::printf(
          "device probe (%s, 2 x 512 MiB): device-to-device copy %.1f GB/s, pinned "
          "host-to-device %.1f GB/s\n",
          device().backend->describe().c_str(), p.d2d, p.h2d);
    else
      std::printf("device probe: %s\n", p.error.c_str());
    std::fflush(stdout);
    return p;
  }();
  return probe;
}

/// Skips `state` with the reason when no device answers or the probe failed.
bool skip_without_device(benchmark::State& state) {
  const Probe& p = device_probe();
  if (p.error.empty()) return false;
  state.SkipWithError(p.error.c_str());
  return true;
}

/// bytes_per_iter for the host reporter (GB/s, x_probe), and the ratios to both device probes.
void report_device_bandwidth(benchmark::State& state, double bytes_per_iteration) {
  report_bandwidth(state, bytes_per_iteration);
  const Probe& p = device_probe();
  state.counters["x_d2d"] = benchmark::Counter(bytes_per_iteration / (p.d2d * 1e9),
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["x_h2d"] = benchmark::Counter(bytes_per_iteration / (p.h2d * 1e9),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

/// N rows of D floats in host memory, the same pattern as the CPU rows; the last one built is
/// kept, and the rows are registered shape by shape, so each shape is filled once.
const std::vector<float>& rows(std::size_t n, std::size_t d) {
  static std::size_t have_n = 0, have_d = 0;
  static std::vector<float> data;
  if (have_n != n || have_d != d) {
    data.assign(n * d, 0.0f);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j)
        data[i * d + j] = 1.0f + static_cast<float>((i * 7919 + j * 104729) % 2048) * 1e-3f;
    have_n = n;
    have_d = d;
  }
  return data;
}

/// The rules of the CPU rows that run on the device, with the same parameters (f = 20%).
k::AggregationSpec cuda_rule(const std::string& name, std::size_t n) {
  const std::size_t f = n / 5;
  if (name == "median") return {{}, k::CoordinateMedian{}, false};
  if (name == "trimmed_mean") return {{}, k::TrimmedMean{0.2}, false};
  if (name == "multi_krum") return {{}, k::MultiKrum{f, n - f}, false};
  return {{}, k::WeightedMean{}, false};  // "fedavg"
}

void cuda_rule_row(benchmark::State& state, const std::string& name) {
  if (skip_without_device(state)) return;
  const auto n = static_cast<std::size_t>(state.range(0)),
             d = static_cast<std::size_t>(state.range(1));
  const k::MemoryRowSource src(rows(n, d), n, d);
  const std::vector<double> counts(n, 1.0);
  std::vector<float> out(d);
  const k::AggregationSpec spec = cuda_rule(name, n);
  std::size_t passes = 0;
  for (auto _ : state) {
    passes = k::aggregate(*device().backend, src, counts, spec, out).passes;
    benchmark::DoNotOptimize(out.data());
  }
  report_device_bandwidth(state, static_cast<double>(n * d) * sizeof(float));
  state.counters["passes"] = static_cast<double>(passes);
}

void cuda_weighted_sum_row(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const auto n = static_cast<std::size_t>(state.range(0)),
             d = static_cast<std::size_t>(state.range(1));
  const k::MemoryRowSource src(rows(n, d), n, d);
  const std::vector<double> w(n, 1.0 / static_cast<double>(n));
  std::vector<float> out(d);
  for (auto _ : state) {
    k::weighted_sum(*device().backend, src, w, out);
    benchmark::DoNotOptimize(out.data());
  }
  report_device_bandwidth(state, static_cast<double>(n * d + d) * sizeof(float));
}

/// The probes as rows of their own (x_d2d of the copy row is ~1 by construction).
void cuda_copy_row(benchmark::State& state, cudaMemcpyKind kind) {
  if (skip_without_device(state)) return;
  void *dst = nullptr, *src = nullptr;
  cudaError_t e = cudaMalloc(&dst, kProbeBytes);
  if (e == cudaSuccess)
    e = kind == cudaMemcpyDeviceToDevice ? cudaMalloc(&src, kProbeBytes)
                                         : cudaMallocHost(&src, kProbeBytes);
  if (e != cudaSuccess) {
    state.SkipWithError(cuda_error("probe buffers", e).c_str());
  } else {
    for (auto _ : state) {
      e = cudaMemcpy(dst, src, kProbeBytes, kind);
      if (e != cudaSuccess) {
        state.SkipWithError(cuda_error("cudaMemcpy", e).c_str());
        break;
      }
    }
    const double moved = kind == cudaMemcpyDeviceToDevice ? 2.0 * kProbeBytes : kProbeBytes;
    report_device_bandwidth(state, moved);
  }
  cudaFree(dst);
  kind == cudaMemcpyDeviceToDevice ? cudaFree(src) : cudaFreeHost(src);
}

constexpr std::int64_t kM = 1000000;

const bool kRegistered = [] {
  benchmark::RegisterBenchmark("BM_CudaDeviceCopy", cuda_copy_row, cudaMemcpyDeviceToDevice)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_CudaHostToDevice", cuda_copy_row, cudaMemcpyHostToDevice)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (std::int64_t d : {kM, 10 * kM})
    for (std::int64_t n : {32, 100}) {
      benchmark::RegisterBenchmark("BM_CudaWeightedSum", cuda_weighted_sum_row)
          ->ArgNames({"N", "D"})
          ->Args({n, d})
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      for (const char* name : {"fedavg", "median", "trimmed_mean", "multi_krum"}) {
        const std::string rule_name = name;
        benchmark::RegisterBenchmark(
            ("BM_CudaRule/" + rule_name).c_str(),
            [rule_name](benchmark::State& s) { cuda_rule_row(s, rule_name); })
            ->ArgNames({"N", "D"})
            ->Args({n, d})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.2);
      }
    }
  return true;
}();

}  // namespace
}  // namespace murmur::bench
