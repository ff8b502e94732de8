#include "murmur/sim/simulate_data.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

namespace murmur::sim {

std::vector<NodeShare> dirichlet_split(std::span<const std::int32_t> labels,
                                       std::span<const std::uint32_t> pool, std::size_t classes,
                                       std::size_t nodes, double alpha, double holdout,
                                       std::size_t min_rows, std::uint64_t seed) {
  if (!(alpha > 0)) throw std::invalid_argument("dirichlet_split: alpha must be > 0");
  if (nodes == 0) throw std::invalid_argument("dirichlet_split: at least one node is needed");
  if (!(holdout >= 0 && holdout < 1))
    throw std::invalid_argument("dirichlet_split: the held-out fraction must lie in [0, 1)");
  std::vector<std::vector<std::uint32_t>> by_class(classes);
  for (std::uint32_t r : pool) {
    if (r >= labels.size()) throw std::invalid_argument("dirichlet_split: row out of range");
    const auto y = labels[r];
    if (y < 0 || static_cast<std::size_t>(y) >= classes)
      throw std::invalid_argument("dirichlet_split: label " + std::to_string(y) + " of row " +
                                  std::to_string(r) + " is outside [0, " + std::to_string(classes) +
                                  ")");
    by_class[static_cast<std::size_t>(y)].push_back(r);
  }
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::vector<std::vector<std::uint32_t>> rows(nodes);
    for (auto cls : by_class) {  // a copy: shuffled anew on every attempt
      std::shuffle(cls.begin(), cls.end(), rng);
      std::vector<double> p(nodes);
      double total = 0;
      for (auto& v : p) total += (v = gamma(rng));
      double cum = 0;
      std::size_t begin = 0;
      for (std::size_t k = 0; k < nodes; ++k) {
        cum += p[k];
        const std::size_t end =
            k + 1 == nodes
                ? cls.size()
                : std::min(cls.size(), static_cast<std::size_t>(std::llround(
                                           static_cast<double>(cls.size()) * cum / total)));
        for (std::size_t i = begin; i < std::max(begin, end); ++i) rows[k].push_back(cls[i]);
        begin = std::max(begin, end);
      }
    }
    if (std::any_of(rows.begin(), rows.end(), [&](const auto& r) { return r.size() < min_rows; }))
      continue;
    std::vector<NodeShare> shares(nodes);
    for (std::size_t k = 0; k < nodes; ++k) {
      std::shuffle(rows[k].begin(), rows[k].end(), rng);
      std::size_t h =
          static_cast<std::size_t>(std::floor(holdout * static_cast<double>(rows[k].size())));
      if (holdout > 0 && h == 0 && rows[k].size() >= 2) h = 1;
      shares[k].holdout.assign(rows[k].begin(), rows[k].begin() + static_cast<std::ptrdiff_t>(h));
      shares[k].train.assign(rows[k].begin() + static_cast<std::ptrdiff_t>(h), rows[k].end());
    }
    return shares;
  }
  throw std::invalid_argument("dirichlet_split: 100 draws of Dir(" + std::to_string(alpha) +
                              ") over " + std::to_string(pool.size()) + " rows never gave all " +
                              std::to_string(nodes) + " nodes " + std::to_string(min_rows) +
                              " rows; use fewer nodes, more rows or a larger alpha");
}

std::vector<std::uint32_t> sample_rows(std::size_t total, std::size_t count, std::uint64_t seed) {
  std::vector<std::uint32_t> rows(total);
  for (std::size_t i = 0; i < total; ++i) rows[i] = static_cast<std::uint32_t>(i);
  if (count >= total) return rows;
  std::mt19937_64 rng(seed);
  std::shuffle(rows.begin(), rows.end(), rng);
  rows.resize(count);
  return rows;
}

model::LabelledSet subset(const model::LabelledSet& set, std::span<const std::uint32_t> rows) {
  model::LabelledSet out;
  out.example_dims = set.example_dims;
  out.classes = set.classes;
  const std::size_t cols = set.cols();
  out.features.resize(rows.size() * cols);
  out.labels.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] >= set.rows()) throw std::invalid_argument("subset: row out of range");
    std::copy_n(set.features.begin() + static_cast<std::ptrdiff_t>(rows[i] * cols), cols,
                out.features.begin() + static_cast<std::ptrdiff_t>(i * cols));
    out.labels[i] = set.labels[rows[i]];
  }
  return out;
}

std::vector<std::size_t> class_counts(std::span<const std::int32_t> labels,
                                      std::span<const std::uint32_t> rows, std::size_t classes) {
  std::vector<std::size_t> counts(classes, 0);
  for (std::uint32_t r : rows) {
    const auto y = labels[r];
    if (y >= 0 && static_cast<std::size_t>(y) < classes) ++counts[static_cast<std::size_t>(y)];
  }
  return counts;
}

std::vector<float> initial_model(const kernels::MlpShape& shape, std::uint64_t seed) {
  shape.check();
  std::vector<float> flat(shape.parameters());
  std::mt19937_64 rng(seed);
  for (std::size_t l = 0; l < shape.layers(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(shape.in(l)));
    std::uniform_real_distribution<double> u(-bound, bound);
    const std::size_t w = shape.weight_offset(l), b = shape.bias_offset(l);
    for (std::size_t i = w; i < b + shape.out(l); ++i) flat[i] = static_cast<float>(u(rng));
  }
  return flat;
}

}  // namespace murmur::sim
