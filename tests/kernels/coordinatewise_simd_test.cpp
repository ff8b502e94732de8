// The CPU's coordinate-wise kernels for every SIMD choice this machine runs (portable, AVX2,
// AVX-512: kernels/cpu/coordinatewise_simd.hpp), against the naive references of
// murmur/testing/naive.hpp, bit for bit: every N from 1 to 140 and odd and even N up to 1026
// (the network's limit and two past it: selection and a partial sort), ragged lane groups, ties,
// +-0, trimming and MeaMed windows from nothing to nearly everything; and the finiteness check
// riding on the pass.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "murmur/kernels/detail/coordinatewise_math.hpp"
#include "murmur/testing/naive.hpp"

namespace murmur::test {
namespace {

namespace k = kernels;

const k::CpuSimd kAllSimd[] = {k::CpuSimd::kPortable, k::CpuSimd::kAvx2, k::CpuSimd::kAvx512};

/// n rows of d values: normal, or quantised to halves in [-3, 3] (ties everywhere, and both
/// signs of zero).
naive::Finite make_columns(std::size_t n, std::size_t d, bool ties, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  naive::Finite f;
  f.d = d;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> row(d);
    for (float& v : row) {
      v = normal(gen);
      if (ties) v = std::round(std::fmax(-3.0f, std::fmin(3.0f, v)) * 2.0f) / 2.0f;
      if (ties && v == 0.0f && (gen() & 1)) v = -0.0f;
    }
    f.x.push_back(std::move(row));
    f.w.push_back(1.0);
  }
  return f;
}

std::vector<float> packed(const naive::Finite& f) {
  std::vector<float> out;
  for (const auto& row : f.x) out.insert(out.end(), row.begin(), row.end());
  return out;
}

/// The naive answer for one reduction.
std::vector<float> reference(const naive::Finite& f, k::ColumnReduce r) {
  const std::size_t n = f.x.size();
  switch (r.rule) {
    case k::ColumnRule::kMedian: return naive::coordinate_median(f);
    case k::ColumnRule::kTrimmedMean:  // beta whose floor(beta * n) is exactly r.trim
      return naive::trimmed_mean(f, (r.trim + 0.5) / static_cast<double>(n));
    case k::ColumnRule::kMeaMed: {
      std::vector<float> out(f.d);
      for (std::size_t j = 0; j < f.d; ++j)
        out[j] = naive::meamed_column(naive::column(f, j), static_cast<std::size_t>(r.keep));
      return out;
    }
  }
  return {};
}

std::string bits_mismatch(const std::vector<float>& got, const std::vector<float>& want) {
  for (std::size_t j = 0; j < want.size(); ++j)
    if (std::memcmp(&got[j], &want[j], sizeof(float)) != 0)
      return "coordinate " + std::to_string(j) + ": got " + std::to_string(got[j]) + ", want " +
             std::to_string(want[j]);
  return "";
}

/// Every reduction worth checking at n: median; trimming 0, 1, n/5 and the most allowed; MeaMed
/// keeping 1, about half, n - n/4 and all.
std::vector<k::ColumnReduce> reductions(int n) {
  std::vector<k::ColumnReduce> out{{k::ColumnRule::kMedian, 0, 0}};
  for (int trim : {0, 1, n / 5, (n - 1) / 2})
    if (2 * trim < n) out.push_back({k::ColumnRule::kTrimmedMean, trim, 0});
  for (int keep : {1, n / 2 + 1, n - n / 4, n})
    if (keep >= 1 && keep <= n) out.push_back({k::ColumnRule::kMeaMed, 0, keep});
  return out;
}

std::vector<std::size_t> row_counts() {
  std::vector<std::size_t> out;
  for (std::size_t n = 1; n <= 140; ++n) out.push_back(n);
  for (std::size_t n :
       // Past 140: the bitonic merge's padding (to 256, 512, 1024) at several fills, register
       // groups of 2, 4 and 8 blocks partly past N, its last merge's pruning.
       {145, 150, 161, 176, 177, 191, 192, 193, 255, 256,  257,  300,  333,  384,
        385, 511, 513, 640, 700, 767, 769, 900, 999, 1000, 1023, 1024, 1025, 1026})
    out.push_back(n);
  return out;
}

class CoordinatewiseSimd : public ::testing::TestWithParam<k::CpuSimd> {
 protected:
  void SetUp() override {
    if (!k::cpu_simd_supported(GetParam()))
      GTEST_SKIP() << k::to_string(GetParam())
                   << " kernels do not run here (best: " << k::to_string(k::best_cpu_simd()) << ")";
  }
};

TEST_P(CoordinatewiseSimd, MatchesNaiveBitForBitAtEveryN) {
  auto backend = k::make_cpu_backend(2, GetParam());
  for (std::size_t n : row_counts()) {
    for (bool ties : {false, true}) {
      // 67 coordinates: a full group of 64 (16 lanes x 4) and a ragged one, or ragged lanes.
      const naive::Finite f = make_columns(n, 67, ties, 7000 + n);
      const std::vector<float> data = packed(f);
      const k::MemoryRowSource src(data, n, f.d);
      for (const k::ColumnReduce& r : reductions(static_cast<int>(n))) {
        std::vector<float> out(f.d, -1.0f);
        k::coordinate_reduce(*backend, src, r, out);
        const std::string why = bits_mismatch(out, reference(f, r));
        EXPECT_EQ(why, "") << k::to_string(GetParam()) << " n=" << n << " ties=" << ties
                           << " rule=" << static_cast<int>(r.rule) << " trim=" << r.trim
                           << " keep=" << r.keep;
      }
    }
  }
}

TEST_P(CoordinatewiseSimd, ExtremeFiniteValuesKeepTheirOrder) {
  // The AVX2 and AVX-512 networks sort integer keys (a float's bits, the value bits flipped
  // when negative): every finite class must land where float order puts it. Columns drawn from
  // +-FLT_MAX, +-the smallest normal, +-subnormals, +-0, +-1 and neighbours one ulp apart, at N
  // around every block and merge boundary (one block of 16; runs of 1, 2, 4, 8 blocks merged
  // with the flip in registers; 9 and more blocks the step-by-step path).
  const float kFlt = std::numeric_limits<float>::max(), kMin = std::numeric_limits<float>::min();
  const float kSub = std::numeric_limits<float>::denorm_min();
  const std::vector<float> pool = {kFlt,         -kFlt,        kMin,
                                   -kMin,        kSub,         -kSub,
                                   kSub * 1000,  -kSub * 1000, 0.0f,
                                   -0.0f,        1.0f,         -1.0f,
                                   1.0000001f,   -1.0000001f,  0.99999994f,
                                   -0.99999994f, 3.4e38f,      -3.4e38f,
                                   1e-30f,       -1e-30f,      std::nextafter(kFlt, 0.0f),
                                   2.0f,         -2.0f,        12345.678f,
                                   -12345.678f};
  auto backend = k::make_cpu_backend(2, GetParam());
  for (std::size_t n : {1u,  2u,  3u,   15u,  16u,  17u,  31u,  32u,  33u,  48u,  63u, 64u,
                        65u, 97u, 100u, 127u, 128u, 129u, 200u, 255u, 256u, 257u, 300u}) {
    std::mt19937_64 gen(13000 + n);
    naive::Finite f;
    f.d = 67;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<float> row(f.d);
      for (float& v : row) v = pool[gen() % pool.size()];
      f.x.push_back(std::move(row));
      f.w.push_back(1.0);
    }
    const std::vector<float> data = packed(f);
    const k::MemoryRowSource src(data, n, f.d);
    for (const k::ColumnReduce& r : reductions(static_cast<int>(n))) {
      std::vector<float> out(f.d, -1.0f), want(f.d);
      k::coordinate_reduce(*backend, src, r, out);
      // The reference is the definition the kernels share with CUDA, reduce_sorted on the
      // sorted column: at these magnitudes MeaMed's double distances tie where the exact ones
      // do not (1 - 0.5 and 0.5 - 1e-30), and naive::meamed_column then breaks the tie across
      // the whole column (the smallest value) where reduce_sorted takes the nearer neighbour.
      for (std::size_t j = 0; j < f.d; ++j) {
        const std::vector<float> c = naive::column(f, j);
        want[j] = k::detail::reduce_sorted(c.data(), static_cast<int>(n), 1, r);
      }
      EXPECT_EQ(bits_mismatch(out, want), "")
          << k::to_string(GetParam()) << " n=" << n << " rule=" << static_cast<int>(r.rule)
          << " trim=" << r.trim << " keep=" << r.keep;
      if (r.rule != k::ColumnRule::kMeaMed) {  // and the naive references, where they agree
        EXPECT_EQ(bits_mismatch(out, reference(f, r)), "") << "n=" << n;
      }
    }
  }
}

TEST_P(CoordinatewiseSimd, SameBitsAcrossTilesAndThreads) {
  // Several 16k-coordinate tasks and a ragged last one, at N inside and past the network.
  for (std::size_t n : {33u, 129u, 1025u}) {
    const std::size_t d = n > 1000 ? 2000 : 2 * 16 * 1024 + 37;
    const naive::Finite f = make_columns(n, d, true, 9000 + n);
    const std::vector<float> data = packed(f);
    const k::MemoryRowSource src(data, n, d);
    const k::ColumnReduce r{k::ColumnRule::kTrimmedMean, static_cast<int>(n / 5), 0};
    std::vector<float> one(d), three(d);
    k::coordinate_reduce(*k::make_cpu_backend(1, GetParam()), src, r, one);
    k::coordinate_reduce(*k::make_cpu_backend(3, GetParam()), src, r, three);
    EXPECT_EQ(bits_mismatch(three, one), "") << "n=" << n;
    EXPECT_EQ(bits_mismatch(one, reference(f, r)), "") << "n=" << n;
  }
}

TEST_P(CoordinatewiseSimd, CheckedPassFlagsEveryNonFiniteRow) {
  auto backend = k::make_cpu_backend(2, GetParam());
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (std::size_t n : {1u, 2u, 17u, 100u, 1025u}) {
    naive::Finite f = make_columns(n, 67, false, 11000 + n);
    const k::ColumnReduce r{k::ColumnRule::kMedian, 0, 0};
    {  // all finite: the same bits as the unchecked pass
      const std::vector<float> data = packed(f);
      const k::MemoryRowSource src(data, n, f.d);
      std::vector<float> checked(f.d), plain(f.d);
      const std::vector<bool> finite = k::coordinate_reduce_checked(*backend, src, r, checked);
      k::coordinate_reduce(*backend, src, r, plain);
      EXPECT_EQ(finite, std::vector<bool>(n, true)) << "n=" << n;
      EXPECT_EQ(bits_mismatch(checked, plain), "") << "n=" << n;
    }
    // One bad value in the last row (in the ragged lane group), one in the first row's first
    // coordinate: exactly those rows are flagged.
    std::vector<bool> want(n, true);
    f.x[n - 1][66] = bad[n % 3];
    want[n - 1] = false;
    if (n > 2) {
      f.x[0][0] = bad[(n + 1) % 3];
      want[0] = false;
    }
    const std::vector<float> data = packed(f);
    const k::MemoryRowSource src(data, n, f.d);
    std::vector<float> out(f.d);
    EXPECT_EQ(k::coordinate_reduce_checked(*backend, src, r, out), want) << "n=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, CoordinatewiseSimd, ::testing::ValuesIn(kAllSimd),
                         [](const auto& info) { return std::string(k::to_string(info.param)); });

TEST(CpuSimd, UnsupportedChoiceIsRefusedWithTheReason) {
  for (k::CpuSimd s : kAllSimd) {
    if (k::cpu_simd_supported(s)) {
      EXPECT_NE(k::make_cpu_backend(1, s)->describe().find(k::to_string(s)), std::string::npos);
    } else {
      EXPECT_THROW(k::make_cpu_backend(1, s), k::BackendUnavailable) << k::to_string(s);
    }
  }
  EXPECT_TRUE(k::cpu_simd_supported(k::best_cpu_simd()));
  EXPECT_NE(k::make_cpu_backend(1)->describe().find(k::to_string(k::best_cpu_simd())),
            std::string::npos);
}

}  // namespace
}  // namespace murmur::test
