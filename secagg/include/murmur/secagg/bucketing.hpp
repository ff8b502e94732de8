#pragma once
// Secure and robust at once (secagg/README.md; SHARE, arXiv 2110.02940; Karimireddy et al., arXiv
// 2006.09365): the round's nodes are put into groups of at least s drawn from the round seed,
// SecAgg+ runs inside each group so the server learns only group sums, and the configured
// robust rule runs across the group means. s = 1 is plain robust aggregation (a group of one
// hides nothing from the server: its sum is its update); s >= N is one group, plain secure
// FedAvg. A group whose SecAgg+ round fails (too many dropouts, every member excluded)
// contributes nothing and is named; the others still aggregate.
#include <cstdint>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/secagg/protocol.hpp"

namespace murmur::secagg {

struct BucketingConfig {
  std::uint32_t group_size = 5;  ///< s >= 1; groups hold s to 2s - 1 nodes
  std::uint32_t degree = 0;      ///< neighbours per node inside a group; 0: complete graph
  /// Shares that reconstruct a secret; 0: a majority of a node's neighbours. Must not exceed
  /// the neighbour count of the smallest group.
  std::uint32_t threshold = 0;
  double clip = 1.0;  ///< fixed-point clipping range [-clip, clip]
};

/// The groups of one round: which node is where, and each group's SecAgg+ parameters.
/// Deterministic in (nodes, config, seed): every party that knows them draws the same plan.
class GroupPlan {
 public:
  /// Shuffles `nodes` (global ids, any order, no duplicates) by a seeded Fisher-Yates
  /// permutation and deals them round-robin into g = max(1, floor(N / s)) groups, so every
  /// group holds s to 2s - 1 nodes. Group-local ids follow the order in the group.
  /// Throws std::invalid_argument on an empty node list, s = 0, a duplicate id, or a
  /// threshold no group can meet.
  GroupPlan(std::vector<NodeId> nodes, const BucketingConfig& config, std::uint64_t round,
            std::uint64_t seed, std::size_t dimension);

  std::size_t groups() const { return groups_.size(); }
  /// Global ids of group g, in group-local order (local id i is members(g)[i]).
  const std::vector<NodeId>& members(std::size_t g) const { return groups_.at(g); }

  struct Placement {
    std::size_t group = 0;
    NodeId local = 0;
  };
  /// Where a global node sits. Throws std::out_of_range for a node not in the round.
  Placement place(NodeId node) const;

  /// SecAgg+ parameters of group g: its size, its degree and threshold, fixed point with
  /// max_summands = the group size, a graph seed of its own, the round.
  Params params(std::size_t g) const;

 private:
  BucketingConfig config_;
  std::uint64_t round_ = 0, seed_ = 0;
  std::size_t dimension_ = 0;
  std::vector<std::vector<NodeId>> groups_;
};

/// What the robust rule made of the groups.
struct BucketedAggregate {
  std::vector<float> aggregate;                 ///< the rule's output over the group means
  std::vector<std::size_t> contributing;        ///< groups whose mean entered the rule
  std::vector<std::vector<float>> group_means;  ///< one per contributing group, same order
  std::vector<std::uint32_t> group_summands;    ///< survivors behind each of those means
  std::vector<std::string> failed;              ///< "group g: reason", one per failed group
  std::vector<Aggregate> group_results;         ///< every group's SecAgg+ outcome (local ids)
  kernels::AggregationReport report;            ///< the rule's per-row (per-group) verdicts
};

/// The server side of a bucketed round: one SecAgg+ Server per group, and the robust rule
/// across their means at the end.
class BucketedServer {
 public:
  explicit BucketedServer(GroupPlan plan);
  const GroupPlan& plan() const { return plan_; }
  /// Group g's SecAgg+ server; messages to it use group-local ids (plan().place()).
  Server& group(std::size_t g) { return servers_.at(g); }
  const Server& group(std::size_t g) const { return servers_.at(g); }

  /// Finishes every group, turns each group sum into a mean (dequantised, divided by its
  /// survivors) and runs `spec` across the means, weighted by their survivors. Groups whose
  /// round throws SecAggError, or that have no survivor, are listed in `failed`. Throws
  /// SecAggError when no group produced a mean (the reasons of all of them in the message).
  BucketedAggregate finish(kernels::Backend& backend, const kernels::AggregationSpec& spec);

 private:
  GroupPlan plan_;
  std::vector<Server> servers_;
};

}  // namespace murmur::secagg
