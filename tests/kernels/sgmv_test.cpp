// kernels::sgmv: the CPU twin against a plain double-precision loop, the CUDA kernels against
// the CPU (label gpu, skipped without a device), and the preconditions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/sgmv.hpp"

namespace murmur::kernels {
namespace {

/// fp32 sums of up to a few hundred products against double: relative to the size of the
/// delta, a few ulps times sqrt(terms).
constexpr double kSgmvTolerance = 2e-5;

struct Case {
  std::size_t rows, d_in, d_out, ldx, ldy;
  std::vector<std::size_t> ranks;  // one per adapter
  std::vector<SgmvSegment> segments;
};

struct Data {
  std::vector<float> x, y0;
  std::vector<std::vector<float>> a, b;
  std::vector<LoraFactors> factors;
};

Data make_data(const Case& c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Data d;
  d.x.resize(c.rows * c.ldx);
  d.y0.resize(c.rows * c.ldy);
  for (float& v : d.x) v = n(rng);
  for (float& v : d.y0) v = n(rng);
  for (std::size_t r : c.ranks) {
    d.a.emplace_back(r * c.d_in);
    d.b.emplace_back(c.d_out * r);
    for (float& v : d.a.back()) v = n(rng);
    for (float& v : d.b.back()) v = n(rng);
  }
  for (std::size_t i = 0; i < c.ranks.size(); ++i)
    d.factors.push_back(
        {d.a[i].data(), d.b[i].data(), c.ranks[i], 0.25f + 0.5f * static_cast<float>(i)});
  return d;
}

SgmvProblem problem(const Case& c, Data& d, std::vector<float>& y) {
  SgmvProblem p;
  p.rows = c.rows;
  p.d_in = c.d_in;
  p.d_out = c.d_out;
  p.x = d.x.data();
  p.ldx = c.ldx;
  p.y = y.data();
  p.ldy = c.ldy;
  p.segments = c.segments;
  p.factors = d.factors;
  return p;
}

/// y_i + scale * B (A x_i) in double for rows in segments; other entries unchanged.
std::vector<double> reference(const Case& c, const Data& d) {
  std::vector<double> y(d.y0.begin(), d.y0.end());
  for (const SgmvSegment& s : c.segments) {
    if (s.adapter < 0) continue;
    const auto a = static_cast<std::size_t>(s.adapter);
    const std::size_t r = c.ranks[a];
    for (std::size_t i = s.begin; i < s.end; ++i) {
      std::vector<double> v(r, 0.0);
      for (std::size_t q = 0; q < r; ++q)
        for (std::size_t j = 0; j < c.d_in; ++j)
          v[q] += double(d.a[a][q * c.d_in + j]) * d.x[i * c.ldx + j];
      for (std::size_t o = 0; o < c.d_out; ++o) {
        double acc = 0;
        for (std::size_t q = 0; q < r; ++q) acc += double(d.b[a][o * r + q]) * v[q];
        y[i * c.ldy + o] += double(d.factors[a].scale) * acc;
      }
    }
  }
  return y;
}

std::vector<Case> cases() {
  return {
      // Punica's case: segments of many rows, ranks 1..64 and one past a tile (70).
      {96, 64, 48, 64, 48, {8, 1, 16, 70}, {{0, 20, 0}, {20, 21, 1}, {21, 60, 2}, {60, 96, 3}}},
      // Gaps, a segment without adapter, ld wider than the rows (a column slice of a fused GEMM).
      {50, 40, 33, 45, 100, {3, 5}, {{2, 10, 1}, {10, 30, -1}, {31, 49, 0}}},
      // BGMV's decode case: one row per request.
      {6, 128, 200, 128, 200, {4, 2, 4}, {{0, 1, 2}, {1, 2, 0}, {2, 3, 1}, {3, 4, 0}, {5, 6, 2}}},
  };
}

void expect_matches(const std::vector<float>& got, const std::vector<double>& want, const Data& d,
                    const Case& c, const char* what) {
  for (std::size_t i = 0; i < c.rows; ++i)
    for (std::size_t o = 0; o < c.ldy; ++o) {
      const std::size_t e = i * c.ldy + o;
      const double delta = want[e] - d.y0[e];
      if (delta == 0.0) {
        ASSERT_EQ(got[e], d.y0[e]) << what << ": row " << i << " col " << o << " changed";
      } else {
        ASSERT_NEAR(got[e], want[e],
                    kSgmvTolerance * (1 + std::abs(want[e]) + std::abs(delta) * 10))
            << what << ": row " << i << " col " << o;
      }
    }
}

TEST(Sgmv, CpuMatchesPlainLoops) {
  auto cpu = make_cpu_backend(1);
  std::uint64_t seed = 100;
  for (const Case& c : cases()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", rows " + std::to_string(c.rows));
    Data d = make_data(c, seed++);
    std::vector<float> y = d.y0;
    sgmv(*cpu, problem(c, d, y));
    const std::vector<double> want = reference(c, d);
    std::size_t changed = 0;
    for (std::size_t e = 0; e < y.size(); ++e) changed += y[e] != d.y0[e];
    EXPECT_GT(changed, c.rows);  // non-trivial: the deltas landed
    expect_matches(y, want, d, c, "cpu");
  }
}

TEST(Sgmv, RejectsBadProblems) {
  auto cpu = make_cpu_backend(1);
  const Case good = cases()[0];
  const auto run = [&](const Case& c) {
    Data d = make_data(c, 1);
    std::vector<float> y(c.rows * c.ldy);
    sgmv(*cpu, problem(c, d, y));
  };
  const auto with_segments = [&](std::vector<SgmvSegment> segments) {
    Case c = good;
    c.segments = std::move(segments);
    return c;
  };
  EXPECT_NO_THROW(run(good));
  EXPECT_THROW(run(with_segments({{10, 5, 0}})), std::invalid_argument);              // begin > end
  EXPECT_THROW(run(with_segments({{0, 97, 0}})), std::invalid_argument);              // past rows
  EXPECT_THROW(run(with_segments({{0, 10, 0}, {5, 20, 1}})), std::invalid_argument);  // overlap
  EXPECT_THROW(run(with_segments({{20, 30, 0}, {0, 10, 1}})), std::invalid_argument);  // unsorted
  EXPECT_THROW(run(with_segments({{0, 10, 4}})), std::invalid_argument);  // no adapter 4
  Case narrow = good;
  narrow.ldx = 10;
  EXPECT_THROW(run(narrow), std::invalid_argument);
  Data d = make_data(good, 1);
  std::vector<float> y = d.y0;
  SgmvProblem p = problem(good, d, y);
  p.residence = Residence::kDevice;
  EXPECT_THROW(sgmv(*cpu, p), std::invalid_argument);
  std::vector<LoraFactors> zero_rank = d.factors;
  zero_rank[0].rank = 0;
  p = problem(good, d, y);
  p.factors = zero_rank;
  EXPECT_THROW(sgmv(*cpu, p), std::invalid_argument);
}

TEST(Sgmv, GpuVsCpu) {
  std::unique_ptr<Backend> gpu;
  try {
    gpu = make_cuda_backend(0);
  } catch (const BackendUnavailable& e) {
    GTEST_SKIP() << e.what();
  }
  auto cpu = make_cpu_backend(1);
  std::uint64_t seed = 200;
  for (const Case& c : cases()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Data d = make_data(c, seed++);
    std::vector<float> y_cpu = d.y0, y_gpu = d.y0;
    sgmv(*cpu, problem(c, d, y_cpu));
    sgmv(*gpu, problem(c, d, y_gpu));  // Residence::kHost: staged through the backend
    const std::vector<double> want = reference(c, d);
    expect_matches(y_gpu, want, d, c, "cuda");
    expect_matches(y_cpu, want, d, c, "cpu");
  }
}

}  // namespace
}  // namespace murmur::kernels
