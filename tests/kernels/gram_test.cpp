// The CPU Gram pass (kernels/cpu/gram.cpp, gram_tile.hpp): the project's own fixed-order tile
// kernel, so the same bits for every SIMD choice this machine runs, any thread count and
// resident or streamed rows; within a relative tolerance of an FP64 reference (never exact:
// the lanes sum in float); and the finiteness check riding on the diagonal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/gram.hpp"

namespace murmur::test {
namespace {

namespace k = kernels;

const k::CpuSimd kAllSimd[] = {k::CpuSimd::kPortable, k::CpuSimd::kAvx2, k::CpuSimd::kAvx512};

std::vector<float> normal_rows(std::size_t n, std::size_t d, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.5f, 1.0f);
  std::vector<float> x(n * d);
  for (float& v : x) v = normal(gen);
  return x;
}

/// The rows of a MemoryRowSource, not resident: the Gram pass copies them chunk by chunk.
class StreamedRows final : public k::RowSource {
 public:
  explicit StreamedRows(const k::MemoryRowSource& rows) : rows_(rows) {}
  std::size_t rows() const override { return rows_.rows(); }
  std::size_t cols() const override { return rows_.cols(); }
  void read_row(std::size_t i, std::size_t begin, std::size_t end, float* dst) const override {
    rows_.read_row(i, begin, end, dst);
  }

 private:
  const k::MemoryRowSource& rows_;
};

std::string bits_mismatch(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0)
      return "entry " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " +
             std::to_string(b[i]);
  return "";
}

class GramSimd : public ::testing::TestWithParam<k::CpuSimd> {
 protected:
  void SetUp() override {
    if (!k::cpu_simd_supported(GetParam()))
      GTEST_SKIP() << k::to_string(GetParam())
                   << " kernels do not run here (best: " << k::to_string(k::best_cpu_simd()) << ")";
  }
};

TEST_P(GramSimd, WithinToleranceOfAnFp64Reference) {
  auto backend = k::make_cpu_backend(2, GetParam());
  // Every block shape (1..3 rows against 1..4) and ragged lanes, tiles and chunks.
  for (std::size_t n : {1u, 2u, 3u, 4u, 5u, 7u, 12u, 13u, 34u}) {
    for (std::size_t d : {1u, 7u, 8u, 9u, 1023u, 1024u, 1025u, 5000u}) {
      const std::vector<float> x = normal_rows(n, d, 100 * n + d);
      const std::vector<double> g = k::gram(*backend, k::MemoryRowSource(x, n, d));
      ASSERT_EQ(g.size(), n * n);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          double ref = 0.0, scale = 0.0;
          for (std::size_t c = 0; c < d; ++c) {
            ref += static_cast<double>(x[i * d + c]) * x[j * d + c];
            scale += std::fabs(static_cast<double>(x[i * d + c]) * x[j * d + c]);
          }
          // 128 float terms a lane at most: far inside 1e-5 of the sum of magnitudes.
          EXPECT_NEAR(g[i * n + j], ref, 1e-5 * scale + 1e-30)
              << k::to_string(GetParam()) << " n=" << n << " d=" << d << " (" << i << "," << j
              << ")";
          EXPECT_EQ(g[i * n + j], g[j * n + i]) << "symmetric";
        }
    }
  }
}

TEST_P(GramSimd, SameBitsAsPortableForAnyThreadsAndStreamedRows) {
  // Several chunks at n = 3 (8 MiB of rows each), one ragged tile at the end.
  for (std::size_t n : {3u, 37u, 101u}) {
    const std::size_t d = n == 3 ? 3 * (1u << 20) / 2 + 77 : 20000 + 5;
    const std::vector<float> x = normal_rows(n, d, 7 + n);
    const k::MemoryRowSource src(x, n, d);
    const std::vector<double> portable =
        k::gram(*k::make_cpu_backend(1, k::CpuSimd::kPortable), src);
    EXPECT_EQ(bits_mismatch(k::gram(*k::make_cpu_backend(1, GetParam()), src), portable), "")
        << "n=" << n << " one thread";
    EXPECT_EQ(bits_mismatch(k::gram(*k::make_cpu_backend(3, GetParam()), src), portable), "")
        << "n=" << n << " three threads";
    EXPECT_EQ(
        bits_mismatch(k::gram(*k::make_cpu_backend(2, GetParam()), StreamedRows(src)), portable),
        "")
        << "n=" << n << " streamed";
  }
}

TEST_P(GramSimd, SameBitsAsPortableOnEveryBlockEdge) {
  // The SIMD kernels' walks: n = 1..17 and odd n past them cover every group and block shape
  // (AVX2: 3 rows against 4; AVX-512: 6 rows against 4 pairs, an odd group's zero row); tile
  // widths w not a multiple of 8 (the ragged lanes), under 8 (no whole chunk), a last tile of 7
  // or 1020 coordinates; rows 0, 1 and 4 floats past a 64-byte line, packed or with a padded
  // stride.
  auto portable = k::make_cpu_backend(1, k::CpuSimd::kPortable);
  auto simd = k::make_cpu_backend(2, GetParam());
  std::vector<std::size_t> ns;
  for (std::size_t n = 1; n <= 17; ++n) ns.push_back(n);
  for (std::size_t n : {23u, 31u, 45u, 53u}) ns.push_back(n);
  for (std::size_t n : ns)
    for (std::size_t d : {3u, 8u, 13u, 100u, 1024u + 7u, 2048u + 1020u})
      for (std::size_t offset : {0u, 1u, 4u})
        for (std::size_t pad : {0u, 5u}) {
          const std::size_t ld = d + pad;
          std::vector<float> storage(n * ld + 32);  // + 32: room to align, then offset
          float* line = storage.data();
          line += (64 - reinterpret_cast<std::uintptr_t>(line) % 64) % 64 / sizeof(float);
          float* rows = line + offset;
          const std::vector<float> x = normal_rows(n, d, 1000 * n + d);
          for (std::size_t i = 0; i < n; ++i)
            std::copy(x.begin() + i * d, x.begin() + (i + 1) * d, rows + i * ld);
          const k::MemoryRowSource src(k::RowsView{rows, n, d, ld});
          const std::vector<double> want = k::gram(*portable, src);
          ASSERT_GT(want[0], 0.0) << "a squared norm of a non-zero row";
          EXPECT_EQ(bits_mismatch(k::gram(*simd, src), want), "")
              << k::to_string(GetParam()) << " n=" << n << " d=" << d << " offset=" << offset
              << " ld=" << ld;
        }
}

TEST_P(GramSimd, CheckedPassFlagsExactlyTheNonFiniteRows) {
  auto backend = k::make_cpu_backend(2, GetParam());
  constexpr std::size_t n = 9, d = 3000;
  std::vector<float> x = normal_rows(n, d, 42);
  const k::MemoryRowSource src(x, n, d);
  {  // all finite: flags all true, the bits of gram()
    std::vector<bool> finite;
    const std::vector<double> g = k::gram_checked(*backend, src, finite);
    EXPECT_EQ(finite, std::vector<bool>(n, true));
    EXPECT_EQ(bits_mismatch(g, k::gram(*backend, src)), "");
  }
  x[1 * d + 0] = std::numeric_limits<float>::quiet_NaN();    // first coordinate
  x[4 * d + 2999] = std::numeric_limits<float>::infinity();  // the ragged last lane
  x[6 * d + 1500] = -std::numeric_limits<float>::infinity();
  // Row 7 is finite, but its squares overflow float: its norm is Inf, the row is kept.
  for (std::size_t c = 0; c < d; ++c) x[7 * d + c] = 3e19f;
  std::vector<bool> want(n, true);
  want[1] = want[4] = want[6] = false;
  for (bool streamed : {false, true}) {
    std::vector<bool> finite;
    if (streamed)
      k::gram_checked(*backend, StreamedRows(src), finite);
    else
      k::gram_checked(*backend, src, finite);
    EXPECT_EQ(finite, want) << (streamed ? "streamed" : "resident");
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, GramSimd, ::testing::ValuesIn(kAllSimd),
                         [](const auto& info) { return std::string(k::to_string(info.param)); });

}  // namespace
}  // namespace murmur::test
