#pragma once
// The parity table's SGMV op: segmented LoRA deltas against a plain double-precision loop
// (Punica's many-row segments, gaps and rows without adapter, BGMV's one row per request).
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/sgmv.hpp"
#include "ops.hpp"

namespace murmur::test {

using kernels::LoraFactors;
using kernels::SgmvProblem;
using kernels::SgmvSegment;

/// fp32 sums of up to a few hundred products against double: relative to the size of the
/// delta, a few ulps times sqrt(terms).
inline constexpr double kSgmvTolerance = 2e-5;

struct SgmvCase {
  std::size_t rows, d_in, d_out, ldx, ldy;
  std::vector<std::size_t> ranks;  // one per adapter
  std::vector<SgmvSegment> segments;
};

struct SgmvData {
  std::vector<float> x, y0;
  std::vector<std::vector<float>> a, b;
  std::vector<LoraFactors> factors;
};

inline SgmvData make_data(const SgmvCase& c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  SgmvData d;
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

inline SgmvProblem sgmv_problem(const SgmvCase& c, SgmvData& d, std::vector<float>& y) {
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
inline std::vector<double> sgmv_reference(const SgmvCase& c, const SgmvData& d) {
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

inline std::vector<SgmvCase> sgmv_cases() {
  return {
      // Punica's case: segments of many rows, ranks 1..64 and one past a tile (70).
      {96, 64, 48, 64, 48, {8, 1, 16, 70}, {{0, 20, 0}, {20, 21, 1}, {21, 60, 2}, {60, 96, 3}}},
      // Gaps, a segment without adapter, ld wider than the rows (a column slice of a fused GEMM).
      {50, 40, 33, 45, 100, {3, 5}, {{2, 10, 1}, {10, 30, -1}, {31, 49, 0}}},
      // BGMV's decode case: one row per request.
      {6, 128, 200, 128, 200, {4, 2, 4}, {{0, 1, 2}, {1, 2, 0}, {2, 3, 1}, {3, 4, 0}, {5, 6, 2}}},
  };
}

/// Every entry of y within kSgmvTolerance of the reference (relative to the entry and to its
/// delta); entries no segment touches unchanged, bit for bit.
inline ::testing::AssertionResult sgmv_matches(const std::vector<float>& got,
                                               const std::vector<double>& want, const SgmvData& d,
                                               const SgmvCase& c, const std::string& what) {
  for (std::size_t i = 0; i < c.rows; ++i)
    for (std::size_t o = 0; o < c.ldy; ++o) {
      const std::size_t e = i * c.ldy + o;
      const double delta = want[e] - d.y0[e];
      if (delta == 0.0) {
        if (got[e] != d.y0[e])
          return ::testing::AssertionFailure()
                 << what << ": row " << i << " col " << o << " changed";
      } else if (!(std::abs(got[e] - want[e]) <=
                   kSgmvTolerance * (1 + std::abs(want[e]) + std::abs(delta) * 10))) {
        return ::testing::AssertionFailure()
               << what << ": row " << i << " col " << o << ": " << got[e] << " vs " << want[e]
               << " (tolerance " << kSgmvTolerance << " relative)";
      }
    }
  return ::testing::AssertionSuccess();
}

/// A case of the table: the shape and its seed.
struct SgmvShape {
  std::size_t index;
  std::uint64_t seed;
  SgmvCase shape() const { return sgmv_cases()[index]; }
};

inline std::vector<Op> sgmv_ops() {
  using Out = std::vector<float>;
  OpSpec<SgmvShape, Out, std::vector<double>> s;
  s.name = "sgmv";
  for (std::size_t i = 0; i < sgmv_cases().size(); ++i) s.shapes.push_back({i, 100 + i});
  s.describe = [](const SgmvShape& sh) {
    const SgmvCase c = sh.shape();
    return "rows" + std::to_string(c.rows) + "_in" + std::to_string(c.d_in) + "_out" +
           std::to_string(c.d_out) + "_adapters" + std::to_string(c.ranks.size());
  };
  s.naive = [](const SgmvShape& sh) {
    const SgmvCase c = sh.shape();
    return sgmv_reference(c, make_data(c, sh.seed));
  };
  s.run = [](kernels::Backend& b, const SgmvShape& sh, InputPath) {
    const SgmvCase c = sh.shape();
    SgmvData d = make_data(c, sh.seed);
    Out y = d.y0;
    kernels::sgmv(b, sgmv_problem(c, d, y));  // Residence::kHost: a CUDA backend stages it
    return y;
  };
  s.cpu_vs_naive = s.gpu_vs_cpu = {kSgmvTolerance, "2e-5 relative to the entry and its delta"};
  // The CUDA backend is held to the reference as the CPU is (fp32 sums in another order).
  s.gpu_against_naive = true;
  s.vs_naive = [](const Out& got, const std::vector<double>& want, const SgmvShape& sh, Tolerance,
                  const std::string& label) -> ::testing::AssertionResult {
    const SgmvCase c = sh.shape();
    const SgmvData d = make_data(c, sh.seed);
    std::size_t changed = 0;  // non-trivial: the deltas landed
    for (std::size_t e = 0; e < got.size(); ++e) changed += got[e] != d.y0[e];
    if (changed <= c.rows)
      return ::testing::AssertionFailure()
             << label << " (seed " << sh.seed << "): only " << changed << " entries changed";
    return sgmv_matches(got, want, d, c, label + " (seed " + std::to_string(sh.seed) + ")");
  };
  s.vs_out = [](const Out& got, const Out& want, const SgmvShape& sh, Tolerance,
                const std::string& label) -> ::testing::AssertionResult {
    for (std::size_t e = 0; e < got.size(); ++e)
      if (got[e] != want[e])
        return ::testing::AssertionFailure() << label << " (seed " << sh.seed << "): entry " << e
                                             << " is " << got[e] << ", want " << want[e];
    return ::testing::AssertionSuccess();
  };
  return {make_op(std::move(s))};
}

}  // namespace murmur::test
