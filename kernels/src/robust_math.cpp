#include "robust_math.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

namespace murmur::kernels::robust {

double Gram::distance2(std::size_t i, std::size_t j) const {
  if (i == j) return 0.0;
  return std::max(0.0, at(i, i) + at(j, j) - 2.0 * at(i, j));
}

std::vector<double> krum_scores(const Gram& gram, const std::vector<std::size_t>& among,
                                std::size_t neighbours) {
  std::vector<double> scores(among.size());
  std::vector<double> d;
  for (std::size_t a = 0; a < among.size(); ++a) {
    d.clear();
    for (std::size_t b = 0; b < among.size(); ++b)
      if (b != a) d.push_back(gram.distance2(among[a], among[b]));
    const std::size_t k = std::min(neighbours, d.size());
    std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end());
    scores[a] = std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), 0.0);
  }
  return scores;
}

std::vector<std::size_t> lowest(const std::vector<double>& scores, std::size_t m) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  order.resize(std::min(m, order.size()));
  return order;
}

std::vector<std::size_t> bulyan_select(const Gram& gram, std::size_t f, std::size_t theta) {
  // Krum over the rows left, theta times. Each row's distances to all others are sorted once
  // (ascending; equal distances in any order, as their sum does not depend on it); a round's
  // score of row a sums the first k entries of its list that are still left, which is exactly
  // krum_scores' sum of its k smallest distances, in the same ascending order: same bits, at
  // O(n^2) a round instead of O(n^2 log n) with a sort per row.
  const std::size_t n = gram.n;
  std::vector<std::vector<std::pair<double, std::size_t>>> sorted(n);
  for (std::size_t a = 0; a < n; ++a) {
    sorted[a].reserve(n - 1);
    for (std::size_t b = 0; b < n; ++b)
      if (b != a) sorted[a].push_back({gram.distance2(a, b), b});
    std::sort(sorted[a].begin(), sorted[a].end());
  }
  std::vector<std::size_t> left(n), chosen;
  std::iota(left.begin(), left.end(), 0);
  std::vector<bool> in(n, true);
  std::vector<double> scores;
  while (chosen.size() < theta) {
    const std::size_t k = left.size() >= f + 2 ? left.size() - f - 2 : 0;
    scores.assign(left.size(), 0.0);
    for (std::size_t i = 0; i < left.size(); ++i) {
      double s = 0.0;
      std::size_t taken = 0;
      for (const auto& [d, b] : sorted[left[i]]) {
        if (taken == k) break;
        if (!in[b]) continue;
        s += d;
        ++taken;
      }
      scores[i] = s;
    }
    const std::size_t best = lowest(scores, 1).front();
    chosen.push_back(left[best]);
    in[left[best]] = false;
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(best));
  }
  std::sort(chosen.begin(), chosen.end());  // back to client-id order for the summation
  return chosen;
}

namespace {

/// ||x_i - z||^2 for z = sum_j a_j x_j: G_ii - 2 (G a)_i + a^T G a, clamped at zero.
std::vector<double> distances_to_combination(const Gram& gram, const std::vector<double>& a) {
  const std::size_t n = gram.n;
  std::vector<double> ga(n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) ga[i] = std::fma(gram.at(i, j), a[j], ga[i]);
  double aga = 0.0;
  for (std::size_t i = 0; i < n; ++i) aga = std::fma(a[i], ga[i], aga);
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i)
    d[i] = std::sqrt(std::max(0.0, gram.at(i, i) - 2 * ga[i] + aga));
  return d;
}

}  // namespace

std::vector<double> weiszfeld(const Gram& gram, const std::vector<double>& weights, double nu,
                              std::size_t max_iterations, double tolerance,
                              std::vector<double>& factor) {
  const std::size_t n = gram.n;
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<double> a(n);
  for (std::size_t i = 0; i < n; ++i) a[i] = weights[i] / total;
  factor.assign(n, 1.0);
  const auto objective = [&](const std::vector<double>& d) {
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) s += weights[i] * d[i];
    return s;
  };
  std::vector<double> d = distances_to_combination(gram, a);
  double previous = objective(d);
  for (std::size_t it = 0; it < max_iterations; ++it) {
    std::vector<double> b(n);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += b[i] = weights[i] / std::max(nu, d[i]);
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] / sum;
    d = distances_to_combination(gram, a);
    const double current = objective(d);
    const bool converged = std::abs(previous - current) <= tolerance * std::max(current, 1e-300);
    previous = current;
    if (converged) break;
  }
  // 1 for the row nearest the median, smaller the farther a row is (and the less it weighs).
  double nearest = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) nearest = std::min(nearest, std::max(nu, d[i]));
  for (std::size_t i = 0; i < n; ++i) factor[i] = nearest / std::max(nu, d[i]);
  return a;
}

std::vector<double> centered_clipping(const Gram& gram, double tau, std::size_t iterations,
                                      std::vector<double>& factor) {
  const std::size_t n = gram.n;
  std::vector<double> b(n, 0.0);
  factor.assign(n, 1.0);
  for (std::size_t it = 0; it < iterations; ++it) {
    const std::vector<double> d = distances_to_combination(gram, b);
    double kept = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      factor[i] = d[i] > tau ? tau / d[i] : 1.0;
      kept += factor[i];
    }
    // v + (1/n) sum c_i (x_i - v) = v (1 - sum c / n) + sum (c_i / n) x_i
    const double keep_v = 1.0 - kept / static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = b[i] * keep_v + factor[i] / static_cast<double>(n);
  }
  return b;
}

double adaptive_clip_bound(const std::vector<double>& squared_norms, std::size_t f) {
  const std::size_t n = squared_norms.size();
  if (n == 0) return std::numeric_limits<double>::infinity();
  const auto k = static_cast<std::size_t>(
      std::floor(2.0 * static_cast<double>(f) * static_cast<double>(n - std::min(f, n)) /
                 static_cast<double>(n)));
  if (k == 0 || k >= n) return std::numeric_limits<double>::infinity();
  std::vector<double> sorted = squared_norms;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  return std::sqrt(sorted[k]);
}

Mixing nearest_neighbor_mixing(const Gram& gram, std::size_t f) {
  const std::size_t n = gram.n, k = n - f;
  Mixing m{n, std::vector<std::vector<Mixing::Term>>(n)};
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return gram.distance2(i, a) < gram.distance2(i, b);
    });
    std::vector<std::size_t> nearest(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    std::sort(nearest.begin(), nearest.end());
    for (std::size_t j : nearest) m.rows[i].push_back({j, 1.0 / static_cast<double>(k)});
  }
  return m;
}

Mixing bucketing(const std::vector<double>& weights, std::size_t s, std::uint64_t seed,
                 std::vector<double>& bucket_weights) {
  const std::size_t n = weights.size();
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 gen(seed);
  for (std::size_t i = n; i > 1; --i) {  // Fisher-Yates with unbiased draws in [0, i)
    const std::uint64_t limit =
        std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % i;
    std::uint64_t r;
    do r = gen();
    while (r >= limit);
    std::swap(perm[i - 1], perm[r % i]);
  }
  Mixing m{n, {}};
  bucket_weights.clear();
  for (std::size_t b = 0; b < n; b += s) {
    std::vector<std::size_t> members(
        perm.begin() + static_cast<std::ptrdiff_t>(b),
        perm.begin() + static_cast<std::ptrdiff_t>(std::min(n, b + s)));
    std::sort(members.begin(), members.end());
    double total = 0.0;
    for (std::size_t i : members) total += weights[i];
    std::vector<Mixing::Term> row;
    for (std::size_t i : members) row.push_back({i, weights[i] / total});
    m.rows.push_back(std::move(row));
    bucket_weights.push_back(total);
  }
  return m;
}

Mixing compose(const Mixing& second, const Mixing& first) {
  Mixing out{first.inputs, {}};
  for (const auto& row : second.rows) {
    std::vector<double> dense(first.inputs, 0.0);
    std::vector<bool> used(first.inputs, false);
    for (const auto& t2 : row)
      for (const auto& t1 : first.rows[t2.row]) {
        dense[t1.row] = std::fma(t2.coef, t1.coef, dense[t1.row]);
        used[t1.row] = true;
      }
    std::vector<Mixing::Term> mixed;
    for (std::size_t i = 0; i < first.inputs; ++i)
      if (used[i]) mixed.push_back({i, dense[i]});
    out.rows.push_back(std::move(mixed));
  }
  return out;
}

Gram mixed_gram(const Gram& gram, const Mixing& mixing) {
  const std::size_t m = mixing.rows.size(), n = gram.n;
  std::vector<double> h(m * n, 0.0);  // H = C G
  for (std::size_t k = 0; k < m; ++k)
    for (const auto& t : mixing.rows[k])
      for (std::size_t j = 0; j < n; ++j)
        h[k * n + j] = std::fma(t.coef, gram.at(t.row, j), h[k * n + j]);
  Gram out{m, std::vector<double>(m * m, 0.0)};
  for (std::size_t k = 0; k < m; ++k)
    for (std::size_t l = 0; l < m; ++l) {
      double s = 0.0;
      for (const auto& t : mixing.rows[l]) s = std::fma(h[k * n + t.row], t.coef, s);
      out.g[k * m + l] = s;
    }
  for (std::size_t k = 0; k < m; ++k)  // exact symmetry, as the Krum family assumes
    for (std::size_t l = 0; l < k; ++l) out.g[k * m + l] = out.g[l * m + k];
  return out;
}

std::vector<double> unmix(const Mixing& mixing, const std::vector<double>& a) {
  std::vector<double> c(mixing.inputs, 0.0);
  for (std::size_t k = 0; k < mixing.rows.size(); ++k)
    for (const auto& t : mixing.rows[k]) c[t.row] = std::fma(a[k], t.coef, c[t.row]);
  return c;
}

}  // namespace murmur::kernels::robust
