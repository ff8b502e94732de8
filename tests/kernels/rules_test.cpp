// Known answers worked out by hand for every rule, robustness properties under attack, the
// diagnostics, and the errors a rule gives when its preconditions fail.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "murmur/kernels/aggregate.hpp"

namespace murmur::kernels {
namespace {

struct Case {
  std::vector<float> data;
  std::size_t n, d;
  std::vector<double> counts;
};

Case rows(std::vector<std::vector<float>> r, std::vector<double> counts = {}) {
  Case c{{}, r.size(), r.front().size(), counts};
  for (auto& row : r) c.data.insert(c.data.end(), row.begin(), row.end());
  if (c.counts.empty()) c.counts.assign(c.n, 1.0);
  return c;
}

std::vector<float> run(const Case& c, AggregationSpec spec, AggregationReport* report = nullptr) {
  auto cpu = make_cpu_backend(2);
  std::vector<float> out(c.d);
  auto r = aggregate(*cpu, MemoryRowSource(c.data, c.n, c.d), c.counts, spec, out);
  if (report) *report = r;
  return out;
}

// Four honest rows (i+1, 10(i+1)) and one attacker (100, -1000).
const Case kFive = rows({{1, 10}, {2, 20}, {3, 30}, {4, 40}, {100, -1000}});

TEST(KnownAnswer, WeightedMean) {
  // (1+2+3+4+100)/5 = 22, (10+20+30+40-1000)/5 = -180
  EXPECT_EQ(run(kFive, {{}, WeightedMean{}}), (std::vector<float>{22, -180}));
  // Sample counts 3 and 1: (3*1 + 1*5)/4 = 2, (3*2 + 1*6)/4 = 3
  EXPECT_EQ(run(rows({{1, 2}, {5, 6}}, {3, 1}), {{}, WeightedMean{}}), (std::vector<float>{2, 3}));
}

TEST(KnownAnswer, WeightedMeanClipping) {
  // (3,4) has norm 5, clipped to norm 1: (0.6, 0.8); (0.3, 0.4) is inside the bound.
  const Case c = rows({{3, 4}, {0.3f, 0.4f}});
  const auto out = run(c, {{}, WeightedMean{Clipping::kFixed, 1.0, 0}});
  EXPECT_FLOAT_EQ(out[0], 0.45f);
  EXPECT_FLOAT_EQ(out[1], 0.6f);
  // ARC with f = 1 of n = 4: k = floor(2*1*3/4) = 1 row clipped to the 2nd largest norm (2).
  const Case arc = rows({{1, 0}, {2, 0}, {0, 1}, {0, 100}});
  const auto a = run(arc, {{}, WeightedMean{Clipping::kAdaptive, 0, 1}});
  EXPECT_FLOAT_EQ(a[0], 0.75f);  // (1 + 2) / 4
  EXPECT_FLOAT_EQ(a[1], 0.75f);  // (1 + 2) / 4: 100 clipped to 2
}

TEST(KnownAnswer, CoordinateWise) {
  // Columns sorted: (1,2,3,4,100) and (-1000,10,20,30,40).
  EXPECT_EQ(run(kFive, {{}, CoordinateMedian{}}), (std::vector<float>{3, 20}));
  EXPECT_EQ(run(kFive, {{}, TrimmedMean{0.2}}), (std::vector<float>{3, 20}));  // drop 1 each end
  EXPECT_EQ(run(kFive, {{}, MeaMed{2}}), (std::vector<float>{3, 20}));         // 3 closest: 2,3,4
  // Even N: the median is the mean of the middle two.
  EXPECT_EQ(run(rows({{1}, {2}, {4}, {8}}), {{}, CoordinateMedian{}}), (std::vector<float>{3}));
  // MeaMed ties go to the lower value: median 2.5 of (1,2,3,4); keep 1 -> 2.
  EXPECT_EQ(run(rows({{1}, {2}, {3}, {4}}), {{}, MeaMed{3}}), (std::vector<float>{2}));
  // -0 and +0 are the same value: the median of (-0, -0, +0) is +0.
  const auto z = run(rows({{-0.0f}, {-0.0f}, {0.0f}}), {{}, CoordinateMedian{}});
  EXPECT_FALSE(std::signbit(z[0]));
}

TEST(KnownAnswer, KrumFamily) {
  // Squared distances among honest rows: 101 (i-j)^2. With f = 1, n - f - 2 = 2 neighbours:
  // scores 505, 202, 202, 505 and the attacker's huge one; rows 1 and 2 tie, row 1 wins.
  AggregationReport rep;
  EXPECT_EQ(run(kFive, {{}, Krum{1}}, &rep), (std::vector<float>{2, 20}));
  EXPECT_DOUBLE_EQ(rep.rows[0].score, 505);
  EXPECT_DOUBLE_EQ(rep.rows[1].score, 202);
  EXPECT_DOUBLE_EQ(rep.rows[2].score, 202);
  EXPECT_EQ(rep.rows[1].verdict, Verdict::kKept);
  EXPECT_EQ(rep.rows[2].verdict, Verdict::kRejectedByRule);
  EXPECT_EQ(rep.rows[4].verdict, Verdict::kRejectedByRule);
  EXPECT_EQ(rep.passes, 3u);  // Gram with the validation on it, selected row, diagnostics
  // Multi-Krum, m = 2: rows 1 and 2.
  EXPECT_EQ(run(kFive, {{}, MultiKrum{1, 2}}), (std::vector<float>{2.5f, 25}));
}

TEST(KnownAnswer, Bulyan) {
  // Honest values v = 1..6 at rows 0,1,2,3,4,6 and an attacker at row 5; f = 1, n = 7.
  // Krum picks rows 2, 3, 1, 4, 0 in turn (theta = 5), then per coordinate the beta = 3
  // values nearest the median of 1..5: 2, 3, 4 -> 3 (and 30).
  const Case c = rows({{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}, {100, -1000}, {6, 60}});
  AggregationReport rep;
  EXPECT_EQ(run(c, {{}, Bulyan{1}}, &rep), (std::vector<float>{3, 30}));
  EXPECT_EQ(rep.rows[5].verdict, Verdict::kRejectedByRule);
  EXPECT_EQ(rep.rows[6].verdict, Verdict::kRejectedByRule);
  EXPECT_EQ(rep.rows[0].verdict, Verdict::kKept);
}

TEST(KnownAnswer, GeometricMedian) {
  // The four corners of a square: the geometric median is the centre.
  const auto out = run(rows({{0, 0}, {2, 0}, {0, 2}, {2, 2}}), {{}, GeometricMedian{}});
  EXPECT_NEAR(out[0], 1.0, 1e-6);
  EXPECT_NEAR(out[1], 1.0, 1e-6);
  // Collinear 0, 1, 10: the median point 1 (within the smoothing).
  EXPECT_NEAR(run(rows({{0}, {1}, {10}}), {{}, GeometricMedian{1e-9, 1000, 1e-12}})[0], 1.0, 1e-3);
}

TEST(KnownAnswer, CenteredClipping) {
  // From v = 0 with tau = 1: both rows have norm 10, each clipped to 0.1 of itself, averaged.
  const auto out = run(rows({{10, 0}, {0, 10}}), {{}, CenteredClipping{1.0, 1}});
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_FLOAT_EQ(out[1], 0.5f);
  // A huge tau clips nothing: one iteration is the mean.
  EXPECT_EQ(run(rows({{1, 10}, {3, 30}}), {{}, CenteredClipping{1e9, 1}}),
            (std::vector<float>{2, 20}));
}

TEST(KnownAnswer, PreAggregation) {
  // NNM, f = 1 on 0, 1, 2, 10: rows become 1, 1, 1, 13/3; their median is 1.
  EXPECT_EQ(run(rows({{0}, {1}, {2}, {10}}), {{NearestNeighborMixing{1}}, CoordinateMedian{}}),
            (std::vector<float>{1}));
  // Buckets of 1 change nothing; one bucket holding every row is FedAvg.
  const Case c = rows({{1, 5}, {2, 7}, {4, -3}, {8, 1}}, {1, 2, 3, 4});
  EXPECT_EQ(run(c, {{Bucketing{1, 7}}, CoordinateMedian{}}), run(c, {{}, CoordinateMedian{}}));
  EXPECT_EQ(run(c, {{Bucketing{4, 7}}, CoordinateMedian{}}), run(c, {{}, WeightedMean{}}));
}

// --- Robustness: f of N rows replaced by attackers -----------------------------------------

struct Attack {
  std::vector<float> data;
  std::size_t n, d, f;
  std::vector<float> lo, hi;  // the honest rows' per-coordinate range
  std::vector<double> honest_mean;
};

Attack attacked(std::size_t n, std::size_t f, std::size_t d, bool sign_flip, std::uint64_t seed) {
  Attack a{std::vector<float>(n * d),
           n,
           d,
           f,
           std::vector<float>(d, 1e30f),
           std::vector<float>(d, -1e30f),
           std::vector<double>(d, 0.0)};
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(1.0f, 0.1f);
  for (std::size_t i = f; i < n; ++i)  // honest rows after the attackers (ids are arbitrary)
    for (std::size_t j = 0; j < d; ++j) {
      const float v = noise(gen);
      a.data[i * d + j] = v;
      a.lo[j] = std::min(a.lo[j], v);
      a.hi[j] = std::max(a.hi[j], v);
      a.honest_mean[j] += v / static_cast<double>(n - f);
    }
  for (std::size_t i = 0; i < f; ++i)
    for (std::size_t j = 0; j < d; ++j)
      a.data[i * d + j] = sign_flip ? static_cast<float>(-10 * a.honest_mean[j]) : 1e6f;
  return a;
}

class Robustness : public ::testing::TestWithParam<bool /*sign flip*/> {
 protected:
  static constexpr std::size_t kN = 20, kF = 4, kD = 100;
  Attack attack = attacked(kN, kF, kD, GetParam(), 7);
  std::vector<float> aggregate_with(AggregationSpec spec, AggregationReport* rep = nullptr) {
    auto cpu = make_cpu_backend(2);
    std::vector<float> out(kD);
    const std::vector<double> counts(kN, 1.0);
    auto r = aggregate(*cpu, MemoryRowSource(attack.data, kN, kD), counts, spec, out);
    if (rep) *rep = r;
    return out;
  }
  std::size_t outside_honest_range(const std::vector<float>& z) const {
    std::size_t outside = 0;
    for (std::size_t j = 0; j < kD; ++j) outside += z[j] < attack.lo[j] || z[j] > attack.hi[j];
    return outside;
  }
  double distance_to_honest_mean(const std::vector<float>& z) const {
    double s = 0;
    for (std::size_t j = 0; j < kD; ++j)
      s += (z[j] - attack.honest_mean[j]) * (z[j] - attack.honest_mean[j]);
    return std::sqrt(s);
  }
};

TEST_P(Robustness, MeanIsDraggedAway) {
  // The control: without a defence the attackers win, so the other tests prove something.
  EXPECT_EQ(outside_honest_range(aggregate_with({{}, WeightedMean{}})), kD);
}

TEST_P(Robustness, CoordinateWiseRulesStayInHonestRange) {
  EXPECT_EQ(outside_honest_range(aggregate_with({{}, CoordinateMedian{}})), 0u);
  EXPECT_EQ(outside_honest_range(aggregate_with({{}, TrimmedMean{0.2}})), 0u);
  EXPECT_EQ(outside_honest_range(aggregate_with({{}, MeaMed{kF}})), 0u);
  EXPECT_EQ(outside_honest_range(aggregate_with({{}, Bulyan{kF}})), 0u);
  EXPECT_EQ(outside_honest_range(aggregate_with({{Bucketing{2, 3}}, CoordinateMedian{}})), 0u);
  EXPECT_EQ(outside_honest_range(aggregate_with({{NearestNeighborMixing{kF}}, TrimmedMean{0.2}})),
            0u);
}

TEST_P(Robustness, KrumNeverSelectsAnAttacker) {
  // f = 4 < (N - 2) / 2 = 9.
  AggregationReport rep;
  aggregate_with({{}, Krum{kF}}, &rep);
  for (std::size_t i = 0; i < kF; ++i)
    EXPECT_EQ(rep.rows[i].verdict, Verdict::kRejectedByRule) << i;
  aggregate_with({{}, MultiKrum{kF, kN - kF}}, &rep);
  for (std::size_t i = 0; i < kN; ++i)
    EXPECT_EQ(rep.rows[i].verdict, i < kF ? Verdict::kRejectedByRule : Verdict::kKept) << i;
}

TEST_P(Robustness, GeometricRulesStayNearTheHonestMean) {
  // The honest rows spread about 0.1 * sqrt(D) = 1 around their mean, 10 from the origin;
  // the plain mean is more than 20 away. Centered clipping starts at v = 0 and moves at most
  // about tau per iteration, so it gets enough iterations to reach the honest rows.
  EXPECT_LT(distance_to_honest_mean(aggregate_with({{}, GeometricMedian{}})), 1.0);
  EXPECT_LT(distance_to_honest_mean(aggregate_with({{}, CenteredClipping{1.0, 30}})), 1.0);
  EXPECT_GT(distance_to_honest_mean(aggregate_with({{}, WeightedMean{}})), 20.0);
}

INSTANTIATE_TEST_SUITE_P(Attacks, Robustness, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "sign_flip" : "huge"; });

// --- Diagnostics and errors ------------------------------------------------------------------

TEST(Diagnostics, NonFiniteRowsAreRejectedAndNamed) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Case c = rows({{1, 2}, {nan, 0}, {3, 4}, {0, std::numeric_limits<float>::infinity()}});
  AggregationReport rep;
  EXPECT_EQ(run(c, {{}, WeightedMean{}}, &rep), (std::vector<float>{2, 3}));
  EXPECT_EQ(rep.finite_rows, 2u);
  EXPECT_EQ(rep.rows[1].verdict, Verdict::kRejectedNonFinite);
  EXPECT_EQ(rep.rows[3].verdict, Verdict::kRejectedNonFinite);
  EXPECT_TRUE(std::isnan(rep.rows[1].distance));
  EXPECT_DOUBLE_EQ(rep.rows[0].weight, 0.5);
  EXPECT_NEAR(rep.rows[0].distance, std::sqrt(2.0), 1e-6);
}

TEST(Diagnostics, LinearRulesReportWeightsThatSumToOne) {
  for (const Rule& rule : {Rule{WeightedMean{}}, Rule{MultiKrum{1, 3}}, Rule{GeometricMedian{}}}) {
    AggregationReport rep;
    run(kFive, {{}, rule}, &rep);
    double total = 0;
    for (const auto& r : rep.rows) total += r.weight;
    EXPECT_NEAR(total, 1.0, 1e-12) << rep.rule;
  }
  AggregationReport rep;
  run(kFive, {{}, CoordinateMedian{}}, &rep);
  EXPECT_TRUE(std::isnan(rep.rows[0].weight));
  EXPECT_GT(rep.rows[4].score, 10 * rep.rows[0].score) << "the outlier's score must stand out";
}

TEST(Errors, PreconditionsFailWithReasons) {
  const auto expect_error = [](const Case& c, AggregationSpec spec, const char* needle) {
    try {
      run(c, spec);
      ADD_FAILURE() << "no error for " << describe(spec);
    } catch (const AggregationError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(kFive, {{}, Krum{2}}, "at least 7");
  expect_error(kFive, {{}, Bulyan{1}}, "at least 7");
  expect_error(kFive, {{}, TrimmedMean{0.5}}, "beta");
  expect_error(kFive, {{}, MeaMed{5}}, "leaves no row");
  expect_error(kFive, {{}, MultiKrum{1, 6}}, "m must be");
  expect_error(kFive, {{NearestNeighborMixing{5}}, CoordinateMedian{}}, "NNM");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_error(rows({{nan}, {nan}}), {{}, CoordinateMedian{}}, "all 2 rows");
  expect_error(rows({{1}, {2}}, {1, -1}), {{}, WeightedMean{}}, "sample count");
}

}  // namespace
}  // namespace murmur::kernels
