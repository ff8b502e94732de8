#pragma once
// Naive reference implementations of every aggregation rule, written plainly from the
// papers' definitions: full rows in memory, direct distances, per-coordinate sorts. Slow on
// purpose; nothing here shares code with kernels/.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "murmur/testing/rows.hpp"

namespace murmur::test::naive {

/// The finite rows of a case, as the engine sees them after its validation pass.
struct Finite {
  std::vector<std::vector<float>> x;
  std::vector<double> w;
  std::size_t d = 0;
};

inline Finite finite_rows(const Rows& r) {
  Finite f;
  f.d = r.d;
  for (std::size_t i = 0; i < r.n; ++i) {
    bool ok = true;
    for (std::size_t j = 0; j < r.d; ++j) ok = ok && std::isfinite(r.row(i)[j]);
    if (!ok) continue;
    f.x.emplace_back(r.row(i), r.row(i) + r.d);
    f.w.push_back(r.weights[i]);
  }
  return f;
}

/// sum_i c_i x_i per coordinate: fma in double, rows in order, one rounding.
inline std::vector<float> combine(const Finite& f, const std::vector<double>& c) {
  std::vector<float> out(f.d);
  for (std::size_t j = 0; j < f.d; ++j) {
    double acc = 0;
    for (std::size_t i = 0; i < f.x.size(); ++i) acc = std::fma(c[i], double{f.x[i][j]}, acc);
    out[j] = static_cast<float>(acc);
  }
  return out;
}

inline double norm(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double{v} * v;
  return std::sqrt(s);
}

inline double dist2(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    const double t = double{a[j]} - b[j];
    s += t * t;
  }
  return s;
}

inline std::vector<float> weighted_mean(const Finite& f, double clip_bound) {
  const double total = std::accumulate(f.w.begin(), f.w.end(), 0.0);
  std::vector<double> c(f.x.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    const double nr = norm(f.x[i]);
    c[i] = f.w[i] * (nr > clip_bound ? clip_bound / nr : 1.0) / total;
  }
  return combine(f, c);
}

/// Sorted column j, -0 read as +0.
inline std::vector<float> column(const Finite& f, std::size_t j) {
  std::vector<float> col;
  for (const auto& x : f.x) col.push_back(x[j] == 0.0f ? 0.0f : x[j]);
  std::sort(col.begin(), col.end());
  return col;
}

inline float median_of(const std::vector<float>& c) {
  const std::size_t n = c.size();
  return n % 2 ? c[n / 2] : static_cast<float>(0.5 * (double{c[n / 2 - 1]} + double{c[n / 2]}));
}

inline std::vector<float> coordinate_median(const Finite& f) {
  std::vector<float> out(f.d);
  for (std::size_t j = 0; j < f.d; ++j) {
    // Plainly: nth_element on the column (selection, not a full sort).
    std::vector<float> c;
    for (const auto& x : f.x) c.push_back(x[j] == 0.0f ? 0.0f : x[j]);
    const std::size_t n = c.size();
    std::nth_element(c.begin(), c.begin() + n / 2, c.end());
    const float hi = c[n / 2];
    if (n % 2) {
      out[j] = hi;
    } else {
      const float lo = *std::max_element(c.begin(), c.begin() + n / 2);
      out[j] = static_cast<float>(0.5 * (double{lo} + double{hi}));
    }
  }
  return out;
}

inline std::vector<float> trimmed_mean(const Finite& f, double beta) {
  const std::size_t n = f.x.size(), b = static_cast<std::size_t>(std::floor(beta * n));
  std::vector<float> out(f.d);
  for (std::size_t j = 0; j < f.d; ++j) {
    const auto c = column(f, j);
    double s = 0;
    for (std::size_t i = b; i < n - b; ++i) s += c[i];
    out[j] = static_cast<float>(s / static_cast<double>(n - 2 * b));
  }
  return out;
}

/// Mean of the `keep` values closest to the median: sort by (|x - median|, x), take `keep`,
/// sum them in ascending value order.
inline float meamed_column(std::vector<float> c, std::size_t keep) {
  const std::size_t n = c.size();
  const double med = n % 2 ? double{c[n / 2]} : 0.5 * (double{c[n / 2 - 1]} + double{c[n / 2]});
  std::stable_sort(c.begin(), c.end(), [&](float a, float b) {
    const double da = std::abs(a - med), db = std::abs(b - med);
    return da < db || (da == db && a < b);
  });
  c.resize(keep);
  std::sort(c.begin(), c.end());
  double s = 0;
  for (float v : c) s += v;
  return static_cast<float>(s / static_cast<double>(keep));
}

inline std::vector<float> meamed(const Finite& f, std::size_t fby) {
  std::vector<float> out(f.d);
  for (std::size_t j = 0; j < f.d; ++j) out[j] = meamed_column(column(f, j), f.x.size() - fby);
  return out;
}

/// Krum scores with n - f - 2 neighbours over rows `among` (indices into f.x).
/// Every pairwise squared distance, computed once (dist2 is symmetric: row a, column b).
inline std::vector<std::vector<double>> distance_matrix(const Finite& f) {
  const std::size_t n = f.x.size();
  std::vector<std::vector<double>> d(n, std::vector<double>(n, 0.0));
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a + 1; b < n; ++b) d[a][b] = d[b][a] = dist2(f.x[a], f.x[b]);
  return d;
}

/// Each row's distances to every other row, ascending (the order Krum sums them in).
inline std::vector<std::vector<std::pair<double, std::size_t>>> neighbours_by_distance(
    const std::vector<std::vector<double>>& d) {
  const std::size_t n = d.size();
  std::vector<std::vector<std::pair<double, std::size_t>>> out(n);
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = 0; b < n; ++b)
      if (a != b) out[a].push_back({d[a][b], b});
    std::sort(out[a].begin(), out[a].end());
  }
  return out;
}

/// Krum scores of the rows `among`: each one's n - f - 2 smallest distances to the others of
/// `among`, summed in ascending order. `in` marks the members of `among`.
inline std::vector<double> krum_scores(
    const std::vector<std::vector<std::pair<double, std::size_t>>>& sorted,
    const std::vector<std::size_t>& among, std::size_t fby) {
  const std::size_t n = among.size();
  const std::size_t k = n >= fby + 2 ? n - fby - 2 : 0;
  std::vector<bool> in(sorted.size(), false);
  for (std::size_t a : among) in[a] = true;
  std::vector<double> scores;
  for (std::size_t a : among) {
    double s = 0;
    std::size_t taken = 0;
    for (const auto& [dist, b] : sorted[a]) {
      if (taken == k) break;
      if (!in[b]) continue;
      s += dist;
      ++taken;
    }
    scores.push_back(s);
  }
  return scores;
}

inline std::vector<std::size_t> lowest(const std::vector<double>& s, std::size_t m) {
  std::vector<std::size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
  idx.resize(m);
  return idx;
}

inline std::vector<float> multi_krum(const Finite& f, std::size_t fby, std::size_t m) {
  std::vector<std::size_t> all(f.x.size());
  std::iota(all.begin(), all.end(), 0);
  std::vector<double> c(f.x.size(), 0.0);
  const auto sorted = neighbours_by_distance(distance_matrix(f));
  for (std::size_t i : lowest(krum_scores(sorted, all, fby), m))
    c[i] = 1.0 / static_cast<double>(m);
  return combine(f, c);
}

inline std::vector<float> bulyan(const Finite& f, std::size_t fby) {
  std::vector<std::size_t> left(f.x.size()), chosen;
  std::iota(left.begin(), left.end(), 0);
  const std::size_t theta = f.x.size() - 2 * fby;
  const auto sorted = neighbours_by_distance(distance_matrix(f));
  while (chosen.size() < theta) {
    const std::size_t best = lowest(krum_scores(sorted, left, fby), 1).front();
    chosen.push_back(left[best]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(best));
  }
  std::sort(chosen.begin(), chosen.end());
  Finite sub{{}, {}, f.d};
  for (std::size_t i : chosen) sub.x.push_back(f.x[i]);
  std::vector<float> out(f.d);
  for (std::size_t j = 0; j < f.d; ++j) out[j] = meamed_column(column(sub, j), theta - 2 * fby);
  return out;
}

/// Smoothed Weiszfeld directly in R^D.
inline std::vector<float> geometric_median(const Finite& f, double nu, std::size_t iters) {
  const std::size_t n = f.x.size();
  std::vector<double> z(f.d, 0.0);
  const double total = std::accumulate(f.w.begin(), f.w.end(), 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < f.d; ++j) z[j] += f.w[i] / total * f.x[i][j];
  for (std::size_t it = 0; it < iters; ++it) {
    std::vector<double> b(n);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double d = 0;
      for (std::size_t j = 0; j < f.d; ++j) d += (f.x[i][j] - z[j]) * (f.x[i][j] - z[j]);
      sum += b[i] = f.w[i] / std::max(nu, std::sqrt(d));
    }
    std::fill(z.begin(), z.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < f.d; ++j) z[j] += b[i] / sum * f.x[i][j];
  }
  return std::vector<float>(z.begin(), z.end());
}

/// Centered clipping from v = 0 directly in R^D.
inline std::vector<float> centered_clipping(const Finite& f, double tau, std::size_t iters) {
  const std::size_t n = f.x.size();
  std::vector<double> v(f.d, 0.0);
  for (std::size_t it = 0; it < iters; ++it) {
    std::vector<double> step(f.d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double d = 0;
      for (std::size_t j = 0; j < f.d; ++j) d += (f.x[i][j] - v[j]) * (f.x[i][j] - v[j]);
      const double c = std::sqrt(d) > tau ? tau / std::sqrt(d) : 1.0;
      for (std::size_t j = 0; j < f.d; ++j)
        step[j] += c * (f.x[i][j] - v[j]) / static_cast<double>(n);
    }
    for (std::size_t j = 0; j < f.d; ++j) v[j] += step[j];
  }
  return std::vector<float>(v.begin(), v.end());
}

/// NNM: each row replaced by the mean of its n - f nearest rows (itself included, ties by
/// index), mixed with fma in double in ascending row order.
inline Finite nearest_neighbor_mixing(const Finite& f, std::size_t fby) {
  const std::size_t n = f.x.size(), k = n - fby;
  Finite out{{}, f.w, f.d};
  const auto dist = distance_matrix(f);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](std::size_t a, std::size_t b) { return dist[i][a] < dist[i][b]; });
    idx.resize(k);
    std::sort(idx.begin(), idx.end());
    std::vector<float> row(f.d);
    for (std::size_t j = 0; j < f.d; ++j) {
      double acc = 0;
      for (std::size_t t : idx)
        acc = std::fma(1.0 / static_cast<double>(k), double{f.x[t][j]}, acc);
      row[j] = static_cast<float>(acc);
    }
    out.x.push_back(row);
  }
  return out;
}

/// Bucketing as documented in rules.hpp: Fisher-Yates with mt19937_64 and unbiased draws,
/// buckets of s in permuted order, each the sample-weighted mean of its rows (ascending).
inline Finite bucketing(const Finite& f, std::size_t s, std::uint64_t seed) {
  const std::size_t n = f.x.size();
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 gen(seed);
  for (std::size_t i = n; i > 1; --i) {
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t limit = max - max % i;
    std::uint64_t r = gen();
    while (r >= limit) r = gen();
    std::swap(perm[i - 1], perm[r % i]);
  }
  Finite out{{}, {}, f.d};
  for (std::size_t b = 0; b < n; b += s) {
    std::vector<std::size_t> members(perm.begin() + b, perm.begin() + std::min(n, b + s));
    std::sort(members.begin(), members.end());
    double total = 0;
    for (std::size_t i : members) total += f.w[i];
    std::vector<float> row(f.d);
    for (std::size_t j = 0; j < f.d; ++j) {
      double acc = 0;
      for (std::size_t i : members) acc = std::fma(f.w[i] / total, double{f.x[i][j]}, acc);
      row[j] = static_cast<float>(acc);
    }
    out.x.push_back(row);
    out.w.push_back(total);
  }
  return out;
}

}  // namespace murmur::test::naive
