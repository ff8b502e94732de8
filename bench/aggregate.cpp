// bench/aggregate: every aggregation rule's input bandwidth (N*D*4 bytes per call) as GB/s
// and as a ratio to the bandwidth probe of the same run, its passes over the rows, its peak
// memory beyond the input, and the ratios to naive implementations that the targets name.
#include <cblas.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "common.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "murmur/kernels/gram.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/kernels/weighted_sum.hpp"

namespace murmur::bench {
namespace {

namespace k = murmur::kernels;

/// N rows of D floats: a cheap deterministic pattern around 1 (bandwidth does not care about
/// values, and selection rules see distinct rows).
struct Input {
  std::size_t n, d;
  std::vector<float> data;
  std::vector<double> counts;
  Input(std::size_t n_, std::size_t d_) : n(n_), d(d_), data(n_ * d_), counts(n_, 1.0) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j)
        data[i * d + j] = 1.0f + static_cast<float>((i * 7919 + j * 104729) % 2048) * 1e-3f;
  }
  double bytes() const { return static_cast<double>(n * d) * sizeof(float); }
};

/// CPU seconds used by every thread of this process so far.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

k::Backend& cpu() {
  static auto backend = k::make_cpu_backend();
  return *backend;
}

/// A benchmarked spec: a rule by its registry name (kernels/rule_registry.hpp) with the
/// pre-aggregation steps before it; its parameters come from rule_table.
struct Bench {
  const char* rule;
  bool nnm = false;
  std::uint64_t bucket = 1;
  bool distances = false;  // with the diagnostics' distance pass
  bool quadratic = false;  // host work grows as N^2 D (NNM's mixing, Bulyan's iterated Krum)
  /// "BM_Rule/<label>": the rule's name, after "nnm+" / "bucketing+" and before "+distances".
  std::string label() const {
    return std::string(nnm ? "nnm+" : "") + (bucket > 1 ? "bucketing+" : "") + rule +
           (distances ? "+distances" : "");
  }
};

const Bench kBenches[] = {{"fedavg"},
                          {"fedavg", false, 1, true},
                          {"median"},
                          {"trimmed-mean"},
                          {"meamed"},
                          {"multi-krum"},
                          {"bulyan", false, 1, false, true},
                          {"geometric-median"},
                          {"centered-clipping"},
                          {"median", false, 2},
                          {"median", true, 1, false, true}};

/// The spec of `b` at N = n, its parameters scaled as a deployment would set them (f = 20%,
/// Bulyan's within n >= 4f + 3, trimmed-mean beta = 0.2, multi-krum m = n - f; centered
/// clipping 10 iterations, bucketing seed 1), through the same table murmurd's config fills.
k::AggregationSpec rule_spec(const Bench& b, std::size_t n) {
  const std::uint64_t f = n / 5, f_bulyan = n >= 3 ? std::min<std::uint64_t>(f, (n - 3) / 4) : 0;
  k::AggregationTable table{b.rule,
                            {{"f", std::string_view(b.rule) == "bulyan" ? f_bulyan : f},
                             {"m", std::uint64_t{n - f}},
                             {"beta", 0.2},
                             {"tau", 1.0}},
                            b.nnm,
                            b.bucket,
                            1};
  k::AggregationSpec spec = k::make_aggregation(table);
  spec.distances = b.distances;
  return spec;
}

void run_rule(benchmark::State& state, const Bench& b) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d);
  const k::MemoryRowSource src(in.data, in.n, in.d);
  const k::AggregationSpec spec = rule_spec(b, in.n);
  // One read of these rows in this process, before the calls: the yardstick of t_in_reads.
  const double one_read_here = read_seconds(in.data.data(), in.data.size(), 3);
  PeakMemory peak;
  peak.reset();
  std::size_t passes = 0;
  double best = std::numeric_limits<double>::infinity();  // the fastest call, as peers.py times
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    const auto call = std::chrono::steady_clock::now();
    passes = k::aggregate(cpu(), src, in.counts, spec, out).passes;
    benchmark::DoNotOptimize(out.data());
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - call).count());
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const double cpu_per_call =
      (process_cpu_seconds() - cpu_start) /
      static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
  report_bandwidth(state, in.bytes());
  state.counters["passes"] = static_cast<double>(passes);
  // The time as memory passes: wall time per call over one read of N x D at the probe's
  // bandwidth (what "within 3 memory passes" measures; passes counts the reads made).
  const double one_read = in.bytes() / (bandwidth_probe().read * 1e9);
  const double per_call = elapsed.count() / static_cast<double>(std::max<benchmark::IterationCount>(
                                                1, state.iterations()));
  state.counters["t_in_passes"] = per_call / one_read;
  // The same over the fastest plain read of these very rows (both threads, a contiguous half
  // each), which sees the same memory placement as the calls.
  state.counters["t_in_reads"] = per_call / one_read_here;
  state.counters["mem_x_input"] = peak.extra_bytes() / in.bytes();
  state.counters["best_s"] = best;
  // CPU time of every thread of the process per call, per value of N x D: the kernels' cost
  // on a core, which other load on the machine changes far less than the wall time (it still
  // shares memory bandwidth and caches).
  state.counters["core_ns_per_value"] = cpu_per_call * 1e9 / static_cast<double>(in.n * in.d);
}

// --- the rules' arithmetic passes alone (what the targets compare) ---------------------------

void BM_WeightedSum(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d);
  const std::vector<double> w(in.n, 1.0 / static_cast<double>(in.n));
  const k::MemoryRowSource src(in.data, in.n, in.d);
  for (auto _ : state) {
    k::weighted_sum(cpu(), src, w, out);
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, in.bytes() + in.d * sizeof(float));
}

void coordinate_kernel(benchmark::State& state, k::ColumnReduce r) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d);
  const k::MemoryRowSource src(in.data, in.n, in.d);
  for (auto _ : state) {
    k::coordinate_reduce(cpu(), src, r, out);
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, in.bytes() + in.d * sizeof(float));
}
void BM_MedianKernel(benchmark::State& s) {
  coordinate_kernel(s, {k::ColumnRule::kMedian, 0, 0});
}
void BM_TrimmedMeanKernel(benchmark::State& s) {
  coordinate_kernel(s, {k::ColumnRule::kTrimmedMean, static_cast<int>(s.range(0) / 5), 0});
}

/// Twelve independent float FMA chains in registers, `iterations` rounds: what one core's FMA
/// units do with no memory operand. Each chain is its own variable and the empty asm statements
/// pin all twelve in registers every round: with an array and one asm naming all its elements,
/// GCC 12 stored and reloaded the chains each round, and the store-forwarding latency halved the
/// reading (31 against 67 GFMA/s a core on an AVX-512 EPYC). Two widths: 8 lanes (AVX2 + FMA)
/// and 16 (AVX-512F), because on some CPUs (full-width AVX-512) the 512-bit FMA does twice the
/// float FMAs a cycle, on others (double-pumped AVX-512, or AVX2 only) the same.
#define MURMUR_FMA_CHAINS(V, SET1, FMADD, C)                                                    \
  V a0 = SET1(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,    \
    a9 = a0, a10 = a0, a11 = a0;                                                                \
  const V m = SET1(0.999999f), c = SET1(1e-7f);                                                 \
  for (long i = 0; i < iterations; ++i) {                                                       \
    a0 = FMADD(a0, m, c), a1 = FMADD(a1, m, c), a2 = FMADD(a2, m, c), a3 = FMADD(a3, m, c);     \
    a4 = FMADD(a4, m, c), a5 = FMADD(a5, m, c), a6 = FMADD(a6, m, c), a7 = FMADD(a7, m, c);     \
    a8 = FMADD(a8, m, c), a9 = FMADD(a9, m, c), a10 = FMADD(a10, m, c), a11 = FMADD(a11, m, c); \
    __asm__ volatile("" : "+" C(a0), "+" C(a1), "+" C(a2), "+" C(a3), "+" C(a4), "+" C(a5));    \
    __asm__ volatile("" : "+" C(a6), "+" C(a7), "+" C(a8), "+" C(a9), "+" C(a10), "+" C(a11));  \
  }                                                                                             \
  const V s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));    \
  float out;                                                                                    \
  std::memcpy(&out, &s, sizeof out);                                                            \
  return out;

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float fma_chains_8(long iterations) {
  MURMUR_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, "x")
}
__attribute__((target("avx512f"))) float fma_chains_16(long iterations) {
  MURMUR_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, "v")
}
#endif
#undef MURMUR_FMA_CHAINS

/// The scalar fallback (elsewhere than x86): the compiler's vectorisation of the same chains.
float fma_chains_portable(long iterations) {
  float a[12][8];
  for (auto& v : a)
    for (float& x : v) x = 1.0f;
  for (long i = 0; i < iterations; ++i)
    for (auto& v : a)
      for (float& x : v) x = std::fma(x, 0.999999f, 1e-7f);
  float s = 0;
  for (auto& v : a) s += v[0];
  return s;
}

/// The widest float FMA this CPU has: its chains and lanes a chain.
struct FmaChains {
  float (*run)(long) = fma_chains_portable;
  int lanes = 8;
  const char* name = "portable";
};
FmaChains widest_fma_chains() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return {fma_chains_16, 16, "AVX-512"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {fma_chains_8, 8, "AVX2"};
#endif
  return {};
}

/// CPU seconds used by the calling thread so far.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// The machine's float FMA peak, measured once in this run: the widest FMA chains on every
/// hardware thread at once, best of 5 rounds of about 0.1 s a thread; scalar FMAs a second
/// (8 or 16 a lane op). The kernels' own width may be narrower: then x_fma_peak reads how far
/// the CPU's float FMA rate is from being used, not only how well the kernel runs its ISA. `all` is
/// over the round's wall time (what the machine gave this process: other load lowers it);
/// `per_thread` over each thread's own CPU time (what a core does while it runs this thread, which
/// other load changes far less), the best thread's.
struct FmaPeak {
  double all = 0, per_thread = 0;
  unsigned threads = 0;
  const char* name = "";
  int lanes = 8;
};
const FmaPeak& fma_peak() {
  static const FmaPeak peak = [] {
    FmaPeak p;
    p.threads = std::max(1u, std::thread::hardware_concurrency());
    const FmaChains chains = widest_fma_chains();
    p.name = chains.name;
    p.lanes = chains.lanes;
    constexpr long kIterations = 4'000'000;  // 384e6 (768e6) scalar FMAs a thread: 0.05-0.1 s
    const double per_thread = kIterations * 12.0 * chains.lanes;
    for (int round = 0; round < 5; ++round) {
      std::vector<double> secs(p.threads);
      std::vector<std::thread> threads;
      const auto t0 = std::chrono::steady_clock::now();
      for (unsigned t = 0; t < p.threads; ++t)
        threads.emplace_back([&secs, &chains, t] {
          const double s0 = thread_cpu_seconds();
          volatile float sink = chains.run(kIterations);
          (void)sink;
          secs[t] = thread_cpu_seconds() - s0;
        });
      for (auto& t : threads) t.join();
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.all = std::max(p.all, per_thread * p.threads / wall);
      for (double s : secs) p.per_thread = std::max(p.per_thread, per_thread / s);
    }
    std::printf(
        "fma peak (%u threads, 12 register-only %d-lane %s float FMA chains each): %.1f GFMA/s "
        "wall, %.1f GFMA/s a thread's CPU second\n",
        p.threads, p.lanes, p.name, p.all / 1e9, p.per_thread / 1e9);
    std::fflush(stdout);
    return p;
  }();
  return peak;
}

/// The Gram pass alone (kernels::gram: the fixed-order tile kernel on 1024-coordinate tiles,
/// FP64 accumulation across tiles, the finiteness check from the diagonal). Besides GB/s, its
/// float FMA rate (N (N + 1) / 2 x D per call) as `GFMA_s`, that over the run's FMA peak with
/// every thread (`x_fma_peak`), and per CPU second of the process over one thread's peak
/// (`core_x_fma_peak`: how well a core that runs it is used, less sensitive to other load).
void BM_GramKernel(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  const k::MemoryRowSource src(in.data, in.n, in.d);
  const FmaPeak& peak = fma_peak();
  const double cpu_start = process_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::vector<bool> finite;
    auto g = k::gram_checked(cpu(), src, finite);
    benchmark::DoNotOptimize(g.data());
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_s = process_cpu_seconds() - cpu_start;
  const double fmas = static_cast<double>(in.n) * static_cast<double>(in.n + 1) / 2.0 *
                      static_cast<double>(in.d) * static_cast<double>(state.iterations());
  report_bandwidth(state, in.bytes());
  state.counters["GFMA_s"] = fmas / wall / 1e9;
  state.counters["x_fma_peak"] = fmas / wall / peak.all;
  state.counters["core_x_fma_peak"] = fmas / cpu_s / peak.per_thread;
}

/// What the Gram pass is held to: one OpenBLAS SSYRK over all of N x D (float accumulation over
/// the whole row, so less exact), and one DSYRK over the rows converted to double (the
/// conversion outside the timing; 2x the memory).
void BM_SsyrkWhole(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> c(in.n * in.n);
  const int n = static_cast<int>(in.n), d = static_cast<int>(in.d);
  for (auto _ : state) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0f, in.data.data(), d, 0.0f,
                c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  report_bandwidth(state, in.bytes());
}
void BM_DsyrkWhole(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  const std::vector<double> x(in.data.begin(), in.data.end());
  std::vector<double> c(in.n * in.n);
  const int n = static_cast<int>(in.n), d = static_cast<int>(in.d);
  for (auto _ : state) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, x.data(), d, 0.0, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  report_bandwidth(state, in.bytes());
}

// --- naive baselines -------------------------------------------------------------------------

/// What one writes first: per coordinate, a strided walk down the rows, one thread.
void BM_WeightedSumNaive(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d);
  for (auto _ : state) {
    for (std::size_t j = 0; j < in.d; ++j) {
      double acc = 0;
      for (std::size_t i = 0; i < in.n; ++i)
        acc += in.data[i * in.d + j] / static_cast<double>(in.n);
      out[j] = static_cast<float>(acc);
    }
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, in.bytes());
}

/// The usual median: transpose to columns, std::nth_element per coordinate, one thread.
void BM_MedianNthElement(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  std::vector<float> out(in.d), cols(in.n * in.d);
  for (auto _ : state) {
    for (std::size_t i = 0; i < in.n; ++i)
      for (std::size_t j = 0; j < in.d; ++j) cols[j * in.n + i] = in.data[i * in.d + j];
    for (std::size_t j = 0; j < in.d; ++j) {
      float* c = cols.data() + j * in.n;
      std::nth_element(c, c + in.n / 2, c + in.n);
      out[j] = c[in.n / 2];
    }
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, in.bytes());
}

/// Krum's distances as a double loop over pairs of rows (then the same selection), one thread.
void BM_MultiKrumDoubleLoop(benchmark::State& state) {
  const Input in(state.range(0), state.range(1));
  const std::size_t n = in.n, f = n / 5;
  std::vector<float> out(in.d);
  for (auto _ : state) {
    std::vector<double> d2(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) {
        double s = 0;
        for (std::size_t j = 0; j < in.d; ++j) {
          const double t = double{in.data[a * in.d + j]} - in.data[b * in.d + j];
          s += t * t;
        }
        d2[a * n + b] = d2[b * n + a] = s;
      }
    std::vector<std::pair<double, std::size_t>> scores;
    for (std::size_t a = 0; a < n; ++a) {
      std::vector<double> row;
      for (std::size_t b = 0; b < n; ++b)
        if (b != a) row.push_back(d2[a * n + b]);
      std::sort(row.begin(), row.end());
      double s = 0;
      for (std::size_t t = 0; t < n - f - 2; ++t) s += row[t];
      scores.push_back({s, a});
    }
    std::sort(scores.begin(), scores.end());
    std::fill(out.begin(), out.end(), 0.0f);
    for (std::size_t t = 0; t < n - f; ++t)
      for (std::size_t j = 0; j < in.d; ++j)
        out[j] += in.data[scores[t].second * in.d + j] / static_cast<float>(n - f);
    benchmark::DoNotOptimize(out.data());
  }
  report_bandwidth(state, in.bytes());
}

constexpr std::int64_t kM = 1000000;

/// N in {10, 32, 100, 128, 1000} at D = 1e6 and N in {10, 32, 100} at D = 1e7 (128: the largest
/// N of the 3-pass target, a power of two for the coordinate-wise networks; N = 1000 at D = 1e7
/// would be 40 GB of rows); rules whose host-side work grows as N^2 * D (NNM's mixing, Bulyan's
/// iterated Krum) stop at N = 100 and have no D = 1e7 cells.
void rule_grid(benchmark::internal::Benchmark* b, bool quadratic) {
  b->ArgNames({"N", "D"})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
  for (std::int64_t n : {10, 32, 100, 128, 1000})
    if (!(quadratic && n > 100)) b->Args({n, kM});
  if (!quadratic)
    for (std::int64_t n : {10, 32, 100}) b->Args({n, 10 * kM});
}

const bool kRegistered = [] {
  for (const Bench& bench : kBenches) {
    auto* b = benchmark::RegisterBenchmark(("BM_Rule/" + bench.label()).c_str(),
                                           [&bench](benchmark::State& s) { run_rule(s, bench); });
    rule_grid(b, bench.quadratic);
  }
  add_ratio("median kernel vs nth_element on a transposed copy, N=32 D=1e6 (target >= 5)",
            "BM_MedianKernel/N:32/D:1000000/real_time",
            "BM_MedianNthElement/N:32/D:1000000/real_time");
  add_ratio("weighted_sum vs median kernel time, N=32 D=1e6 (target <= 5)",
            "BM_WeightedSum/N:32/D:1000000/real_time", "BM_MedianKernel/N:32/D:1000000/real_time");
  add_ratio("weighted_sum vs trimmed-mean kernel time, N=32 D=1e6 (target <= 5)",
            "BM_WeightedSum/N:32/D:1000000/real_time",
            "BM_TrimmedMeanKernel/N:32/D:1000000/real_time");
  add_ratio("multi-krum (Gram by GEMM) vs pairwise double loop, N=100 D=1e6 (target >= 20)",
            "BM_Rule/multi-krum/N:100/D:1000000/min_time:0.200/real_time",
            "BM_MultiKrumDoubleLoop/N:100/D:1000000/real_time");
  add_ratio("Gram pass vs one OpenBLAS SSYRK over N x D, N=100 D=1e6 (near 1 is the target)",
            "BM_GramKernel/N:100/D:1000000/real_time", "BM_SsyrkWhole/N:100/D:1000000/real_time");
  add_ratio("Gram pass vs one OpenBLAS DSYRK over N x D, N=100 D=1e6",
            "BM_GramKernel/N:100/D:1000000/real_time", "BM_DsyrkWhole/N:100/D:1000000/real_time");
  add_ratio("weighted_sum vs naive strided loop, N=32 D=1e6",
            "BM_WeightedSum/N:32/D:1000000/real_time",
            "BM_WeightedSumNaive/N:32/D:1000000/real_time");
  return true;
}();

BENCHMARK(BM_WeightedSum)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Args({100, kM})
    ->Args({32, 10 * kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_MedianKernel)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_TrimmedMeanKernel)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_GramKernel)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Args({100, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_SsyrkWhole)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Args({100, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_DsyrkWhole)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Args({100, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_WeightedSumNaive)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_MedianNthElement)
    ->ArgNames({"N", "D"})
    ->Args({32, kM})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_MultiKrumDoubleLoop)
    ->ArgNames({"N", "D"})
    ->Args({100, kM})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace murmur::bench
