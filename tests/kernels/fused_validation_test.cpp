// aggregate()'s validation riding on the rule's first pass (kernels/src/aggregate.cpp step 1):
// with every row finite the rule makes one pass fewer; with a NaN or Inf row the fused result
// is thrown away and the finite rows are aggregated again, to the bits of aggregating them
// alone.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"

namespace murmur::test {
namespace {

namespace k = kernels;

struct Case {
  std::size_t n, d;
  std::vector<float> x;
  std::vector<double> counts;
};

Case make_case(std::size_t n, std::size_t d, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> count(1, 50);
  Case c{n, d, std::vector<float>(n * d), std::vector<double>(n)};
  for (float& v : c.x) v = normal(gen);
  for (double& w : c.counts) w = count(gen);
  return c;
}

Case without_row(const Case& c, std::size_t drop) {
  Case out{c.n - 1, c.d, {}, {}};
  for (std::size_t i = 0; i < c.n; ++i) {
    if (i == drop) continue;
    out.x.insert(out.x.end(), c.x.begin() + i * c.d, c.x.begin() + (i + 1) * c.d);
    out.counts.push_back(c.counts[i]);
  }
  return out;
}

std::vector<float> run(const Case& c, const k::AggregationSpec& spec, std::size_t& passes) {
  auto backend = k::make_cpu_backend(2);
  std::vector<float> out(c.d);
  passes = k::aggregate(*backend, k::MemoryRowSource(c.x, c.n, c.d), c.counts, spec, out).passes;
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Fused {
  const char* name;
  k::AggregationSpec spec;
  std::size_t passes;  ///< with every row finite and distances off
};

std::vector<Fused> fused_specs() {
  return {
      {"fedavg", {{}, k::WeightedMean{}, false}, 1},
      {"median", {{}, k::CoordinateMedian{}, false}, 1},
      {"trimmed-mean", {{}, k::TrimmedMean{0.2}, false}, 1},
      {"meamed", {{}, k::MeaMed{3}, false}, 1},
      {"krum", {{}, k::Krum{2}, false}, 2},  // Gram (+ validation), the chosen row
      {"multi-krum", {{}, k::MultiKrum{2, 5}, false}, 2},
      {"centered-clipping", {{}, k::CenteredClipping{1.0, 3}, false}, 2},
      {"nnm+median", {{k::NearestNeighborMixing{2}}, k::CoordinateMedian{}, false}, 2},
  };
}

TEST(FusedValidation, OnePassFewerWhenEveryRowIsFinite) {
  const Case c = make_case(13, 70001, 1);
  for (const Fused& f : fused_specs()) {
    std::size_t passes = 0;
    run(c, f.spec, passes);
    EXPECT_EQ(passes, f.passes) << f.name;
  }
}

TEST(FusedValidation, NonFiniteRowGivesTheBitsOfTheFiniteRowsAlone) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (std::size_t b = 0; b < 3; ++b) {
    Case c = make_case(13, 70001, 10 + b);
    const std::size_t row = 4 * b;        // first, middle, last-but-one rows
    c.x[row * c.d + 65536 + b] = bad[b];  // in the second 64k tile
    const Case finite = without_row(c, row);
    for (const Fused& f : fused_specs()) {
      std::size_t passes = 0, finite_passes = 0;
      const auto got = run(c, f.spec, passes);
      const auto want = run(finite, f.spec, finite_passes);
      EXPECT_TRUE(same_bits(got, want)) << f.name << " with a non-finite value in row " << row;
      EXPECT_EQ(passes, finite_passes + 1) << f.name;  // the fused pass, then the redo
    }
  }
}

}  // namespace
}  // namespace murmur::test
