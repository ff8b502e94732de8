#pragma once
// Federated data for simulations: Fashion-MNIST's training rows split among N nodes by one
// Dirichlet(alpha) draw per class (non-IID: small alpha gives each node few classes), each
// node's share cut into rows it trains on and held-out rows it votes with; and the task's
// initial model, drawn as libtorch's Linear layers draw theirs.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/model/labelled_set.hpp"

namespace murmur::sim {

/// One node's rows of the training set (indices into it).
struct NodeShare {
  std::vector<std::uint32_t> train;    ///< rows it trains on
  std::vector<std::uint32_t> holdout;  ///< rows it keeps for judging candidates (its votes)
};

/// Splits the rows `pool` of a labelled set (labels[r] in [0, classes)) among `nodes`:
///   for each class c: p ~ Dir(alpha 1_N) (N gamma(alpha, 1) draws, normalised), class c's rows
///   of the pool in a seeded shuffled order cut at the cumulative proportions round(n_c sum p);
/// all draws from one mt19937_64(seed). The split is drawn again (at most 100 times) until every
/// node has at least `min_rows` rows. Each node's rows are then shuffled and the first
/// floor(holdout x n) (at least 1 when holdout > 0 and n >= 2) become its held-out rows.
/// O(pool + N x classes) per draw. Throws std::invalid_argument when alpha <= 0, nodes == 0,
/// holdout is outside [0, 1), a label is out of range, or no draw gives every node min_rows.
std::vector<NodeShare> dirichlet_split(std::span<const std::int32_t> labels,
                                       std::span<const std::uint32_t> pool, std::size_t classes,
                                       std::size_t nodes, double alpha, double holdout,
                                       std::size_t min_rows, std::uint64_t seed);

/// The first `count` rows of a seeded permutation of [0, total) (count >= total: all rows, in
/// order). For simulations on part of the data.
std::vector<std::uint32_t> sample_rows(std::size_t total, std::size_t count, std::uint64_t seed);

/// A copy of rows `rows` of `set` (features and labels), same dims and classes.
model::LabelledSet subset(const model::LabelledSet& set, std::span<const std::uint32_t> rows);

/// Class histogram of `rows` (classes entries), for reports on how non-IID a split is.
std::vector<std::size_t> class_counts(std::span<const std::int32_t> labels,
                                      std::span<const std::uint32_t> rows, std::size_t classes);

/// libtorch's default Linear initialisation for every layer of `shape`, in the flat layout of
/// model/mlp_spec.hpp: W_l and b_l ~ U(-1/sqrt(in_l), 1/sqrt(in_l)) (kaiming_uniform with
/// a = sqrt(5) gives that bound), drawn from mt19937_64(seed) in layout order. O(P).
std::vector<float> initial_model(const kernels::MlpShape& shape, std::uint64_t seed);

}  // namespace murmur::sim
