#pragma once
// How a voter judges each update of a round and objects to the harmful ones (AllianceTaskV2's
// per-update objection bitmap, revealed with its score): one rule for the simulator's voters
// (`murmur bench incentives`, sim/) and `murmur node`'s (node_loop.hpp, ChainCalls).
//
// With P updates judged, a voter evaluates each update j at its share of a plain mean, scaled:
//   probe_j = global + (scale / P) · update_j                 (f32, as the simulator always did)
//   a_j     = graded_score(loss(global), loss(probe_j))         on the voter's held-out rows
//   ref     = median_j(a_j) over distinct updates (relative), or 0
//   object to j  ⇔  a_j < ref − objection_bps
// An honest non-IID update alone at full size raises most other nodes' loss, so judging it alone
// is no evidence; at 3/P of its size against the voter's median update it is (sim/README.md,
// "Incentives").
#include <cstddef>
#include <span>
#include <vector>

namespace murmur::client {

struct ObjectionRule {
  int objection_bps = 1200;     ///< how far below the reference an update must score
  bool relative = true;         ///< reference: the voter's median update (true) or no change
  double scale = 3.0;           ///< probe_j = global + (scale / P) · update_j
  bool median_distinct = true;  ///< the median counts identical updates once
};

/// probe_j above for one update: out[i] = global[i] + float(scale) / float(updates) · update[i].
/// O(D). Throws std::invalid_argument when the sizes differ or updates == 0.
std::vector<float> objection_probe(std::span<const float> global, std::span<const float> update,
                                   double scale, std::size_t updates);

/// What a voter concludes about the round's updates.
struct UpdateJudgement {
  std::vector<int> scores;  ///< a_j, one per update
  int reference = 0;        ///< ref
  std::vector<bool> objects;
};

/// The rule above on the losses the voter measured: `loss_global` of the global model,
/// `loss_probe[j]` of probe_j (a non-finite loss scores kMinScore, as graded_score does);
/// `duplicate[j]`: update j repeats an earlier one (ignored unless rule.median_distinct; empty:
/// none). O(P log P).
UpdateJudgement judge_updates(double loss_global, std::span<const double> loss_probe,
                              const std::vector<bool>& duplicate, const ObjectionRule& rule);

}  // namespace murmur::client
