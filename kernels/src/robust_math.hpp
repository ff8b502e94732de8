#pragma once
// The host-side math of the robust rules: everything that works on N-sized quantities (the
// Gram matrix, scores, coefficients) rather than on D-sized rows. O(N^2) to O(N^3) work on
// small matrices, identical for every backend.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace murmur::kernels::robust {

/// A square symmetric N x N matrix, row-major.
struct Gram {
  std::size_t n = 0;
  std::vector<double> g;
  double at(std::size_t i, std::size_t j) const { return g[i * n + j]; }
  /// ||x_i - x_j||^2 = G_ii + G_jj - 2 G_ij, clamped at zero.
  double distance2(std::size_t i, std::size_t j) const;
};

/// Sparse mixing: output row k is sum_i coef[k][i] * input row i (indices ascending).
struct Mixing {
  struct Term {
    std::size_t row;
    double coef;
  };
  std::size_t inputs = 0;
  std::vector<std::vector<Term>> rows;
};

/// Krum scores over the rows in `among` (indices into gram): for each, the sum of its
/// `neighbours` smallest squared distances to the others, summed in ascending order.
std::vector<double> krum_scores(const Gram& gram, const std::vector<std::size_t>& among,
                                std::size_t neighbours);

/// Positions into `scores` of the m lowest, ties to the lower position.
std::vector<std::size_t> lowest(const std::vector<double>& scores, std::size_t m);

/// Bulyan's selection: theta rows chosen one at a time by Krum among those left.
std::vector<std::size_t> bulyan_select(const Gram& gram, std::size_t f, std::size_t theta);

/// Smoothed Weiszfeld in the span of the rows: returns coefficients a (sum 1) with
/// z = sum_i a_i x_i; `factor` gets min_j dist_j / dist_i for each row (1 = nearest).
std::vector<double> weiszfeld(const Gram& gram, const std::vector<double>& weights, double nu,
                              std::size_t max_iterations, double tolerance,
                              std::vector<double>& factor);

/// Centered clipping from v = 0 in the span of the rows: coefficients b with v = sum b_i x_i,
/// and each row's last clipping factor in `factor`.
std::vector<double> centered_clipping(const Gram& gram, double tau, std::size_t iterations,
                                      std::vector<double>& factor);

/// ARC's clipping bound for these squared norms: the (k+1)-th largest norm with
/// k = floor(2 f (n - f) / n); +inf when k == 0.
double adaptive_clip_bound(const std::vector<double>& squared_norms, std::size_t f);

/// Nearest-neighbour mixing matrix: each row -> mean of its n - f nearest rows.
Mixing nearest_neighbor_mixing(const Gram& gram, std::size_t f);

/// Bucketing: seeded Fisher-Yates permutation, buckets of s, sample-weighted bucket means.
/// `weights` are the rows' weights; the buckets' weights (sums) are returned in `bucket_weights`.
Mixing bucketing(const std::vector<double>& weights, std::size_t s, std::uint64_t seed,
                 std::vector<double>& bucket_weights);

/// M2 after M1: rows of the result mix M1's inputs.
Mixing compose(const Mixing& second, const Mixing& first);

/// Gram of the mixed rows: C G C^T.
Gram mixed_gram(const Gram& gram, const Mixing& mixing);

/// Coefficients over the inputs of `mixing` of the combination `a` of its outputs: C^T a.
std::vector<double> unmix(const Mixing& mixing, const std::vector<double>& a);

}  // namespace murmur::kernels::robust
