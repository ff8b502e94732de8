// The voters' judgement of a round's updates (objections.hpp).
#include "murmur/client/objections.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "murmur/chain/median_settlement.hpp"

namespace murmur::client {

std::vector<float> objection_probe(std::span<const float> global, std::span<const float> update,
                                   double scale, std::size_t updates) {
  if (update.size() != global.size() || updates == 0)
    throw std::invalid_argument("objection_probe: an update of " + std::to_string(update.size()) +
                                " values for a model of " + std::to_string(global.size()) +
                                ", among " + std::to_string(updates) + " updates");
  const float share = static_cast<float>(scale) / static_cast<float>(updates);
  std::vector<float> out(global.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = global[i] + share * update[i];
  return out;
}

UpdateJudgement judge_updates(double loss_global, std::span<const double> loss_probe,
                              const std::vector<bool>& duplicate, const ObjectionRule& rule) {
  UpdateJudgement out;
  for (double loss : loss_probe) out.scores.push_back(chain::graded_score(loss_global, loss));
  if (rule.relative && !out.scores.empty()) {
    std::vector<int> sorted;
    for (std::size_t j = 0; j < out.scores.size(); ++j)
      if (!rule.median_distinct || j >= duplicate.size() || !duplicate[j])
        sorted.push_back(out.scores[j]);
    if (sorted.empty()) sorted = out.scores;
    std::sort(sorted.begin(), sorted.end());
    out.reference = sorted[(sorted.size() - 1) / 2];
  }
  for (int a : out.scores) out.objects.push_back(a < out.reference - rule.objection_bps);
  return out;
}

}  // namespace murmur::client
