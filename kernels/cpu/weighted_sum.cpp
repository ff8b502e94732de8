// Sum_i w_i x_i on the CPU, alone or with the finiteness check riding on it: blocks of kBlock
// coordinates whose FP64 accumulators stay in L2 while every row streams its slice through
// once, rows in order with one fma each (detail::weighted_step).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu_backend.hpp"
#include "murmur/kernels/detail/weighted_sum_math.hpp"

namespace murmur::kernels::cpu {
namespace {

// Coordinates per accumulator block: 32768 doubles = 256 KiB of accumulators (in L2, a
// quarter of a core's on the machine below) while each row streams a 128 KiB run through once.
// Memory sees N interleaved streams, one per row, and serves long runs better: at N = 1000,
// D = 1e6 (one AMD EPYC, AVX-512, 2 cores, the same process) 16 KiB runs (4096 doubles, in L1)
// took about 1.15x the time of 128 KiB ones, 64 KiB runs 1.02x; at N = 10..100 no loss.
constexpr std::size_t kBlock = 32768;
// How far ahead of its loads each row is prefetched, in floats (4 KiB): the hardware
// prefetchers alone restart on every row's run (and at every 4 KiB page), and with them the
// sum ran at 0.6 of the machine's read bandwidth. Near a run's end the prefetch moves on to the
// runs read next (`next` in accumulate_rows), so no run starts cold: with 16 KiB runs at
// N = 1000 that alone was 1.11x. 512 to 1024 floats ahead were within the noise of each other,
// 1536 and 2048 3-4% slower at N = 100 and 1000. Both changes together, against 16 KiB runs
// prefetched 2 KiB ahead within each run: N = 1000 104 -> 83 ms, N = 100 9.7 -> 8.6 ms,
// N = 10 0.77 -> 0.65 ms (D = 1e6, best calls, the same bits).
constexpr std::size_t kPrefetchFloats = 1024;
// Coordinates per parallel task: big enough to amortise scheduling, small enough to balance.
// Neither size changes a bit of the result (each coordinate sums its rows in order).
constexpr std::size_t kTileCols = 64 * 1024;

/// acc[j] = fma(w[r], x_r[j], acc[j]) for rows r < R in order, j < w: R rows per visit of the
/// accumulators (loaded and stored once for R fma), each value widened once. With kCheck, also
/// marks[r] += x_r[j] - x_r[j] in float: 0 while the row is finite, NaN after a NaN or an Inf.
/// `next` (R pointers, or null): the runs read after these, prefetched once x's are.
/// The ragged end (w not a multiple of 8), lane by lane; `m` holds each row's running mark.
template <std::size_t R, bool kCheck>
inline void accumulate_tail(const float* const* x, std::size_t j, std::size_t w, const double* wr,
                            double* __restrict acc, float* m) {
  for (; j < w; ++j)
    for (std::size_t r = 0; r < R; ++r) {
      acc[j] = detail::weighted_step(acc[j], wr[r], x[r][j]);
      if constexpr (kCheck) m[r] += x[r][j] - x[r][j];
    }
}

#if defined(__AVX2__) && defined(__FMA__)
/// In AVX2 registers (the build's -march, MURMUR_CPU_ISA, has them): 8 coordinates a step, two
/// 4-double accumulators, each row's 8 floats widened in two halves, one fma per double (the
/// bits of detail::weighted_step: w * x + acc rounded once), and each row's mark one sub and one
/// add. Written out because GCC 12 vectorised the portable loop below only partly once the
/// marks were in it (scalar converts and adds): the checked sum ran at 0.45 of the unchecked
/// one's speed at N = 100, where both should be held by memory.
template <std::size_t R, bool kCheck>
inline void accumulate_rows(const float* const* x, const float* const* next, std::size_t w,
                            const double* wr, double* __restrict acc, float* __restrict marks) {
  __m256 m[R];
  __m256d wv[R];
  for (std::size_t r = 0; r < R; ++r) m[r] = _mm256_setzero_ps(), wv[r] = _mm256_set1_pd(wr[r]);
  std::size_t j = 0;
  for (; j + 8 <= w; j += 8) {
    if ((j & 15) == 0) {  // a line of each row kPrefetchFloats ahead, or of the next runs
      if (next == nullptr || j + kPrefetchFloats < w)  // (past a row's run: harmless)
        for (std::size_t r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(x[r] + j + kPrefetchFloats), _MM_HINT_T0);
      else
        for (std::size_t r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(next[r] + (j + kPrefetchFloats - w)),
                       _MM_HINT_T0);
    }
    __m256d lo = _mm256_loadu_pd(acc + j), hi = _mm256_loadu_pd(acc + j + 4);
    for (std::size_t r = 0; r < R; ++r) {
      const __m256 v = _mm256_loadu_ps(x[r] + j);
      lo = _mm256_fmadd_pd(wv[r], _mm256_cvtps_pd(_mm256_castps256_ps128(v)), lo);
      hi = _mm256_fmadd_pd(wv[r], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), hi);
      if constexpr (kCheck) m[r] = _mm256_add_ps(m[r], _mm256_sub_ps(v, v));
    }
    _mm256_storeu_pd(acc + j, lo);
    _mm256_storeu_pd(acc + j + 4, hi);
  }
  float tail[R] = {};
  accumulate_tail<R, kCheck>(x, j, w, wr, acc, tail);
  if constexpr (kCheck)
    for (std::size_t r = 0; r < R; ++r) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, m[r]);
      for (float l : lanes) marks[r] += l;
      marks[r] += tail[r];
    }
}
#else
template <std::size_t R, bool kCheck>
inline void accumulate_rows(const float* const* x, const float* const* /*next*/, std::size_t w,
                            const double* wr, double* __restrict acc, float* __restrict marks) {
  // Locals the compiler keeps in registers: 8 accumulators a step, 8 marks per row.
  float m[R][8] = {};
  std::size_t j = 0;
  for (; j + 8 <= w; j += 8) {
    double a[8];
    for (std::size_t l = 0; l < 8; ++l) a[l] = acc[j + l];
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t l = 0; l < 8; ++l) {
        a[l] = detail::weighted_step(a[l], wr[r], x[r][j + l]);
        if constexpr (kCheck) m[r][l] += x[r][j + l] - x[r][j + l];
      }
    for (std::size_t l = 0; l < 8; ++l) acc[j + l] = a[l];
  }
  float tail[R] = {};
  accumulate_tail<R, kCheck>(x, j, w, wr, acc, tail);
  if constexpr (kCheck)
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t l = 0; l < 8; ++l) marks[r] += m[r][l];
      marks[r] += tail[r];
    }
}
#endif

/// o[j] = (float)acc[j], j < w. On x86 the aligned part goes by non-temporal stores: the
/// output is written once and not read here, and a plain store first reads each line it fills
/// (at N = 10 that read is a tenth of the pass's traffic). Same rounding either way.
inline void store_floats(const double* acc, std::size_t w, float* o) {
  std::size_t j = 0;
#if defined(__SSE2__)
  for (; j < w && (reinterpret_cast<std::uintptr_t>(o + j) & 15) != 0; ++j)
    o[j] = static_cast<float>(acc[j]);
  for (; j + 4 <= w; j += 4) {
    const __m128 lo = _mm_cvtpd_ps(_mm_loadu_pd(acc + j));
    const __m128 hi = _mm_cvtpd_ps(_mm_loadu_pd(acc + j + 2));
    _mm_stream_ps(o + j, _mm_movelh_ps(lo, hi));
  }
#endif
  for (; j < w; ++j) o[j] = static_cast<float>(acc[j]);
}

template <bool kCheck>
void sum_tiles(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
               std::span<float> out, std::atomic<unsigned char>* nonfinite) {
  const std::size_t n = rows.rows();
  backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t end, Tile tile) {
    struct alignas(64) Accumulators {
      std::array<double, kBlock> v;
    };
    thread_local const auto acc = std::make_unique<Accumulators>();  // 256 KiB: not the stack
    thread_local std::vector<float> marks;  // per row: 0, or NaN once a NaN or Inf was seen
    if constexpr (kCheck) marks.assign(n, 0.0f);
    const std::size_t cols = end - begin;
    // The 4 runs read after rows [i, n) of block j0: rows i.. of this block, else rows 0.. of
    // the next one in this tile (rows past n repeat the last), else none.
    const auto next_runs = [&](std::size_t i, std::size_t j0, const float** runs) {
      if (i >= n) i = 0, j0 += kBlock;
      if (j0 >= cols) return static_cast<const float* const*>(nullptr);
      for (std::size_t r = 0; r < 4; ++r) runs[r] = tile.row(std::min(i + r, n - 1)) + j0;
      return static_cast<const float* const*>(runs);
    };
    for (std::size_t j0 = 0; j0 < cols; j0 += kBlock) {
      const std::size_t w = std::min(kBlock, cols - j0);
      double* const a = acc->v.data();
      std::fill(a, a + w, 0.0);
      const float* x[4];
      const float* runs[4];
      std::size_t i = 0;
      for (; i + 4 <= n; i += 4) {
        for (std::size_t r = 0; r < 4; ++r) x[r] = tile.row(i + r) + j0;
        accumulate_rows<4, kCheck>(x, next_runs(i + 4, j0, runs), w, weights.data() + i, a,
                                   marks.data() + i);
      }
      for (; i < n; ++i) {
        x[0] = tile.row(i) + j0;
        accumulate_rows<1, kCheck>(x, next_runs(i + 1, j0, runs), w, weights.data() + i, a,
                                   marks.data() + i);
      }
      store_floats(a, w, out.data() + begin + j0);
    }
#if defined(__SSE2__)
    _mm_sfence();  // the streamed stores are visible before the pool reports the task done
#endif
    if constexpr (kCheck)
      for (std::size_t i = 0; i < n; ++i)
        if (marks[i] != marks[i]) nonfinite[i].store(1, std::memory_order_relaxed);
  });
}

}  // namespace

void weighted_sum(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out) {
  sum_tiles<false>(backend, rows, weights, out, nullptr);
}

std::vector<bool> weighted_sum_checked(CpuBackend& backend, const RowSource& rows,
                                       std::span<const double> weights, std::span<float> out) {
  const std::size_t n = rows.rows();
  const auto flags = std::make_unique<std::atomic<unsigned char>[]>(n);
  for (std::size_t i = 0; i < n; ++i) flags[i].store(0);
  sum_tiles<true>(backend, rows, weights, out, flags.get());
  std::vector<bool> finite(n);
  for (std::size_t i = 0; i < n; ++i) finite[i] = flags[i].load() == 0;
  return finite;
}

}  // namespace murmur::kernels::cpu
