#pragma once
// The robust aggregation rules and pre-aggregation steps, as plain configuration. aggregate()
// (aggregate.hpp) runs them on any backend; each rule documents its math, its passes over the
// rows and its preconditions.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace murmur::kernels {

/// How WeightedMean clips rows before averaging.
enum class Clipping {
  kNone,
  /// x_i * min(1, bound / ||x_i||) with a fixed bound.
  kFixed,
  /// ARC (Allouah et al. 2024): the k = floor(2 f (n - f) / n) largest-norm rows are clipped
  /// to the (k+1)-th largest norm.
  kAdaptive,
};

/// FedAvg: sum_i w_i clip(x_i) / sum_i w_i with w_i the sample counts. Passes: 1 (plus the
/// validation pass every rule makes). Linear: rows keep a weight in the diagnostics.
struct WeightedMean {
  Clipping clipping = Clipping::kNone;
  double bound = 0.0;  ///< kFixed: the L2 bound (> 0)
  std::size_t f = 0;   ///< kAdaptive: the number of Byzantine rows tolerated
  friend bool operator==(const WeightedMean&, const WeightedMean&) = default;
};

/// Per coordinate, the median of the rows (unweighted). Passes: 1.
struct CoordinateMedian {
  friend bool operator==(const CoordinateMedian&, const CoordinateMedian&) = default;
};

/// Per coordinate, the mean after dropping floor(beta * n) smallest and largest values
/// (unweighted). Precondition: 0 <= beta < 0.5. Passes: 1.
struct TrimmedMean {
  double beta = 0.1;
  friend bool operator==(const TrimmedMean&, const TrimmedMean&) = default;
};

/// Per coordinate, the mean of the n - f values closest to the median (Xie et al. 2018).
/// Precondition: f < n. Passes: 1.
struct MeaMed {
  std::size_t f = 0;
  friend bool operator==(const MeaMed&, const MeaMed&) = default;
};

/// Krum (Blanchard et al. 2017): the row whose n - f - 2 nearest neighbours (squared L2,
/// from the FP64 Gram matrix) are closest in sum. Neighbour count n - f - 2 as in the paper
/// and Flower (ByzFL uses n - f - 1). Ties go to the lower row index (= client id order).
/// Precondition: n >= 2f + 3 when f > 0. Passes: 2 (Gram, then the selected row).
struct Krum {
  std::size_t f = 0;
  friend bool operator==(const Krum&, const Krum&) = default;
};

/// Multi-Krum: the uniform mean of the m rows with the lowest Krum scores. Precondition as
/// Krum, 1 <= m <= n. Passes: 2.
struct MultiKrum {
  std::size_t f = 0;
  std::size_t m = 1;
  friend bool operator==(const MultiKrum&, const MultiKrum&) = default;
};

/// Bulyan (El Mhamdi et al. 2018): theta = n - 2f rows chosen by Krum one at a time (each
/// round's scores over the rows not yet chosen), then per coordinate the mean of the
/// beta = theta - 2f values closest to the median of the chosen rows.
/// Precondition: n >= 4f + 3. Passes: 2 (Gram, then the coordinate-wise pass).
struct Bulyan {
  std::size_t f = 0;
  friend bool operator==(const Bulyan&, const Bulyan&) = default;
};

/// Smoothed Weiszfeld (Pillutla et al., RFA): minimises sum_i w_i ||z - x_i|| by
/// z <- sum_i b_i x_i / sum_i b_i with b_i = w_i / max(nu, ||z - x_i||), from the weighted
/// mean, until the objective changes by less than `tolerance` (relative) or after
/// `max_iterations`. Iterates in the span of the rows through the Gram matrix, so it costs 2
/// passes whatever the iteration count.
struct GeometricMedian {
  double nu = 1e-6;
  std::size_t max_iterations = 100;
  double tolerance = 1e-7;
  friend bool operator==(const GeometricMedian&, const GeometricMedian&) = default;
};

/// Centered clipping (Karimireddy et al. 2021) from v = 0:
/// v <- v + (1/n) sum_i (x_i - v) min(1, tau / ||x_i - v||), `iterations` times (unweighted).
/// Iterates in the span of the rows through the Gram matrix: 2 passes.
struct CenteredClipping {
  double tau = 1.0;
  std::size_t iterations = 3;
  friend bool operator==(const CenteredClipping&, const CenteredClipping&) = default;
};

/// Every rule; each has its entry, by name, in the rule registry (rule_registry.hpp).
using Rule = std::variant<WeightedMean, CoordinateMedian, TrimmedMean, MeaMed, Krum, MultiKrum,
                          Bulyan, GeometricMedian, CenteredClipping>;

/// Nearest-neighbour mixing (Allouah et al. 2023): every row is replaced by the mean of its
/// n - f nearest rows (itself included; squared L2 from the Gram matrix, ties by index).
/// Precondition: f < n. Needs the Gram pass.
struct NearestNeighborMixing {
  std::size_t f = 0;
  friend bool operator==(const NearestNeighborMixing&, const NearestNeighborMixing&) = default;
};

/// Bucketing (Karimireddy et al. 2022): rows are shuffled by a seeded Fisher-Yates
/// permutation (mt19937_64, so every platform draws the same buckets) and grouped into
/// buckets of s (the last may be smaller); each bucket becomes the sample-weighted mean of
/// its rows, with the sum of their weights.
struct Bucketing {
  std::size_t s = 2;
  std::uint64_t seed = 0;
  friend bool operator==(const Bucketing&, const Bucketing&) = default;
};

using PreAggregation = std::variant<NearestNeighborMixing, Bucketing>;

/// A rule and the pre-aggregation steps applied before it, in order.
struct AggregationSpec {
  std::vector<PreAggregation> pre;
  Rule rule = WeightedMean{};
  /// Measure every row's distance to the aggregate (one more pass over the rows).
  bool distances = true;
  friend bool operator==(const AggregationSpec&, const AggregationSpec&) = default;
};

/// The spec as text, e.g. "multi-krum(f=2, m=5)", "nnm(f=1) + median": the grammar and its
/// inverse, parse_aggregation, are in rule_registry.hpp (where a new rule is registered).
std::string describe(const AggregationSpec& spec);

}  // namespace murmur::kernels
