#include "murmur/secagg/bucketing.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>

namespace murmur::secagg {
namespace {

/// SplitMix64's finaliser: a well-mixed per-group graph seed from the round seed.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Neighbours of every node in a group of k: the configured degree, or all k - 1.
std::uint32_t group_degree(const BucketingConfig& c, std::size_t k) {
  const auto all = static_cast<std::uint32_t>(k - 1);
  return (c.degree == 0 || c.degree > all) ? all : c.degree;
}

std::uint32_t group_threshold(const BucketingConfig& c, std::size_t k) {
  if (k == 1) return 0;  // nothing to share: the group's sum is its one update
  // A node's neighbour count is the degree rounded up to even by the Harary graph, capped at k-1.
  const std::uint32_t d = group_degree(c, k);
  return c.threshold == 0 ? d / 2 + 1 : c.threshold;
}

}  // namespace

GroupPlan::GroupPlan(std::vector<NodeId> nodes, const BucketingConfig& config, std::uint64_t round,
                     std::uint64_t seed, std::size_t dimension)
    : config_(config), round_(round), seed_(seed), dimension_(dimension) {
  if (nodes.empty()) throw std::invalid_argument("bucketing: no nodes in the round");
  if (config.group_size == 0)
    throw std::invalid_argument("bucketing: group_size must be at least 1");
  std::sort(nodes.begin(), nodes.end());  // the plan must not depend on arrival order
  if (std::adjacent_find(nodes.begin(), nodes.end()) != nodes.end())
    throw std::invalid_argument("bucketing: a node id appears twice");
  const auto n = static_cast<std::uint32_t>(nodes.size());
  const std::size_t g = std::max<std::size_t>(1, n / config.group_size);
  groups_.resize(g);
  const auto order = permutation(n, seed);
  for (std::uint32_t i = 0; i < n; ++i) groups_[i % g].push_back(nodes[order[i]]);
  for (std::size_t i = 0; i < g; ++i) {
    const std::size_t k = groups_[i].size();
    if (k > 1 && group_threshold(config, k) > group_degree(config, k))
      throw std::invalid_argument("bucketing: threshold " + std::to_string(config.threshold) +
                                  " exceeds the " + std::to_string(group_degree(config, k)) +
                                  " neighbours of a node in a group of " + std::to_string(k) +
                                  "; lower [secagg] threshold or raise group_size");
  }
}

GroupPlan::Placement GroupPlan::place(NodeId node) const {
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const auto& m = groups_[g];
    if (auto it = std::find(m.begin(), m.end(), node); it != m.end())
      return {g, static_cast<NodeId>(it - m.begin())};
  }
  throw std::out_of_range("bucketing: node " + std::to_string(node) + " is not in this round");
}

Params GroupPlan::params(std::size_t g) const {
  const std::size_t k = groups_.at(g).size();
  Params p;
  p.nodes = static_cast<std::uint32_t>(k);
  p.degree = group_degree(config_, k);
  p.threshold = group_threshold(config_, k);
  p.round = round_;
  p.graph_seed = mix(seed_ ^ mix(g));
  p.fixed_point = {config_.clip, k};
  p.dimension = dimension_;
  return p;
}

BucketedServer::BucketedServer(GroupPlan plan) : plan_(std::move(plan)) {
  servers_.reserve(plan_.groups());
  for (std::size_t g = 0; g < plan_.groups(); ++g) servers_.emplace_back(plan_.params(g));
}

BucketedAggregate BucketedServer::finish(kernels::Backend& backend,
                                         const kernels::AggregationSpec& spec) {
  BucketedAggregate out;
  const std::size_t d = plan_.params(0).dimension;
  std::vector<float> means;  // contributing groups' means, packed row after row
  std::vector<double> weights;
  for (std::size_t g = 0; g < servers_.size(); ++g) {
    Aggregate a;
    try {
      a = servers_[g].finish(backend);
    } catch (const SecAggError& e) {
      out.failed.push_back("group " + std::to_string(g) + ": " + e.what());
      out.group_results.emplace_back();
      continue;
    }
    const auto summands = static_cast<std::uint32_t>(a.survivors.size());
    if (summands == 0) {
      out.failed.push_back("group " + std::to_string(g) + ": no member's masked input survived");
      out.group_results.push_back(std::move(a));
      continue;
    }
    std::vector<float> mean(d);
    dequantize_sum(plan_.params(g).fixed_point, a.sum, summands, mean);
    for (auto& v : mean) v /= static_cast<float>(summands);
    means.insert(means.end(), mean.begin(), mean.end());
    weights.push_back(summands);
    out.contributing.push_back(g);
    out.group_means.push_back(std::move(mean));
    out.group_summands.push_back(summands);
    out.group_results.push_back(std::move(a));
  }
  if (out.contributing.empty()) {
    std::string why;
    for (const auto& f : out.failed) why += (why.empty() ? "" : "; ") + f;
    throw SecAggError("bucketing: no group produced a mean (" + why + ")");
  }
  out.aggregate.assign(d, 0.0f);
  const kernels::MemoryRowSource rows(means, out.contributing.size(), d);
  out.report = kernels::aggregate(backend, rows, weights, spec, out.aggregate);
  return out;
}

}  // namespace murmur::secagg
