#include "common.hpp"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

namespace murmur::bench {
namespace {

struct Ratio {
  std::string label, faster, baseline;
};
std::vector<Ratio>& ratios() {
  static std::vector<Ratio> r;
  return r;
}

template <class F>
double best_seconds(unsigned threads, std::size_t n, int passes, F&& body) {
  double best = 1e30;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t)
      ts.emplace_back([&, t] { body(n * t / threads, n * (t + 1) / threads); });
    for (auto& t : ts) t.join();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

double probe_read(const float* a, std::size_t begin, std::size_t end) {
  float acc[16] = {};
  std::size_t i = begin;
  for (; i + 16 <= end; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k];
  for (; i < end; ++i) acc[0] += a[i];
  double s = 0;
  for (float v : acc) s += v;
  return s;
}

void probe_copy(float* dst, const float* src, std::size_t begin, std::size_t end) {
  std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(float));
}

void probe_triad(float* a, const float* b, const float* c, float s, std::size_t begin,
                 std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + s * c[i];
}

const Bandwidth& bandwidth_probe() {
  static const Bandwidth bw = [] {
    Bandwidth r;
    r.threads = std::max(1u, std::thread::hardware_concurrency());
    constexpr std::size_t n = std::size_t{64} << 20;  // 256 MiB per array
    std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
    // First touch from the same threads that will stream the arrays.
    best_seconds(r.threads, n, 1, [&](std::size_t lo, std::size_t hi) {
      std::fill(a.get() + lo, a.get() + hi, 1.0f);
      std::fill(b.get() + lo, b.get() + hi, 2.0f);
      std::fill(c.get() + lo, c.get() + hi, 3.0f);
    });
    const double bytes = n * sizeof(float);
    volatile double sink = 0;
    r.read = bytes /
             best_seconds(r.threads, n, 5,
                          [&](std::size_t lo, std::size_t hi) {
                            sink = sink + probe_read(a.get(), lo, hi);
                          }) /
             1e9;
    r.copy = 2 * bytes /
             best_seconds(
                 r.threads, n, 5,
                 [&](std::size_t lo, std::size_t hi) { probe_copy(a.get(), b.get(), lo, hi); }) /
             1e9;
    r.triad = 3 * bytes /
              best_seconds(r.threads, n, 5,
                           [&](std::size_t lo, std::size_t hi) {
                             probe_triad(a.get(), b.get(), c.get(), 0.5f, lo, hi);
                           }) /
              1e9;
    std::printf(
        "bandwidth probe (%u threads, 3 x 256 MiB): read %.2f GB/s, copy %.2f GB/s, "
        "triad %.2f GB/s\n",
        r.threads, r.read, r.copy, r.triad);
    std::fflush(stdout);
    return r;
  }();
  return bw;
}

double read_seconds(const float* data, std::size_t count, int passes) {
  volatile double sink = 0;
  return best_seconds(
      std::max(1u, std::thread::hardware_concurrency()), count, passes,
      [&](std::size_t lo, std::size_t hi) { sink = sink + probe_read(data, lo, hi); });
}

void report_bandwidth(benchmark::State& state, double bytes_per_iteration) {
  // Turned into "GB/s" and "x_probe" by the reporter, from the run's real time.
  state.counters["bytes_per_iter"] = bytes_per_iteration;
}

namespace {

/// A "VmRSS:" / "VmHWM:" line of /proc/self/status, in bytes.
double status_bytes(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, std::strlen(key)) == 0) kb = std::atof(line + std::strlen(key));
  std::fclose(f);
  return kb * 1024;
}

}  // namespace

void PeakMemory::reset() {
  if (FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);  // resets VmHWM to the current RSS
    std::fclose(f);
  }
  base_ = status_bytes("VmRSS:");
}

double PeakMemory::extra_bytes() const {
  return std::max(0.0, status_bytes("VmHWM:") - base_);
}

void add_ratio(std::string label, std::string faster, std::string baseline) {
  ratios().push_back({std::move(label), std::move(faster), std::move(baseline)});
}

namespace {

/// Console output as usual, with bytes per iteration turned into GB/s and the ratio to the
/// probe, and each run's real time per iteration (seconds) kept by name for the ratios.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  RecordingReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Defaults : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown = runs;
    for (auto& r : shown) {
      if (r.run_type != Run::RT_Iteration || r.iterations == 0) continue;
      const double secs = r.real_accumulated_time / static_cast<double>(r.iterations);
      seconds[r.benchmark_name()] = secs;
      const auto bytes = r.counters.find("bytes_per_iter");
      if (bytes == r.counters.end()) continue;
      const double gbps = bytes->second.value / secs / 1e9;
      r.counters.erase(bytes);
      r.counters["GB/s"] = gbps;
      r.counters["x_probe"] = gbps / bandwidth_probe().read;
    }
    ConsoleReporter::ReportRuns(shown);
  }
  std::map<std::string, double> seconds;
};

}  // namespace
}  // namespace murmur::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  murmur::bench::bandwidth_probe();
  murmur::bench::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  bool header = false;
  for (const auto& r : murmur::bench::ratios()) {
    const auto f = reporter.seconds.find(r.faster), b = reporter.seconds.find(r.baseline);
    if (f == reporter.seconds.end() || b == reporter.seconds.end()) continue;
    if (!header) std::printf("\nratios (same run):\n");
    header = true;
    std::printf("  %-48s %8.2fx  (%s vs %s)\n", r.label.c_str(), b->second / f->second,
                r.faster.c_str(), r.baseline.c_str());
  }
  benchmark::Shutdown();
  return 0;
}
