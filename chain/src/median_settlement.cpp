#include "murmur/chain/median_settlement.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace murmur::chain {

namespace {

constexpr std::uint64_t kBps = 10'000;

enum class Outcome : std::uint8_t { Neither, Winner, Loser };

void validate(const MedianRoundInput& in) {
  if (in.rounds_left == 0)
    throw std::invalid_argument("settle_median_round: rounds_left must be >= 1");
  if (in.slash_bps > kBps)
    throw std::invalid_argument("settle_median_round: slash_bps must be <= 10000");
  if (in.quorum_bps == 0 || in.quorum_bps > kBps)
    throw std::invalid_argument("settle_median_round: quorum_bps must be in 1..10000");
  if (in.tolerance_bps > 2 * kBps)
    throw std::invalid_argument("settle_median_round: tolerance_bps must be <= 20000");
  for (std::size_t i = 0; i < in.nodes.size(); ++i) {
    const MedianNode& n = in.nodes[i];
    const std::string where = "settle_median_round: node " + std::to_string(i);
    if (n.role == Role::Proposer && (n.voter != VoterStatus::Absent || !n.objects.empty()))
      throw std::invalid_argument(where + " is a proposer and cannot vote");
    if (n.role == Role::Voter && n.proposer != ProposerStatus::Absent)
      throw std::invalid_argument(where + " is a voter and has no update");
    if (n.voter != VoterStatus::Revealed && (!n.objects.empty() || n.score != 0))
      throw std::invalid_argument(where + " has a score or objections but did not reveal");
    if (n.score < kMinScore || n.score > kMaxScore)
      throw std::invalid_argument(where + " score must be in [-10000, 10000]");
    for (std::size_t j : n.objects)
      if (j >= in.nodes.size())
        throw std::invalid_argument(where + " objects to an index past the list");
  }
}

}  // namespace

int graded_score(double loss_before, double loss_after) {
  if ((std::isfinite(loss_before) && loss_before < 0) ||
      (std::isfinite(loss_after) && loss_after < 0))
    throw std::invalid_argument("graded_score: a mean loss cannot be negative");
  if (!std::isfinite(loss_after)) return kMinScore;
  if (!std::isfinite(loss_before)) return kMaxScore;
  if (loss_before == 0) return loss_after == 0 ? 0 : kMinScore;
  const double change = std::clamp((loss_before - loss_after) / loss_before, -1.0, 1.0);
  return static_cast<int>(std::lround(change * kBps));
}

MedianRoundSettlement settle_median_round(const MedianRoundInput& in) {
  validate(in);
  const std::size_t n = in.nodes.size();
  MedianRoundSettlement s;
  s.objection_stake.assign(n, U256());
  s.objection_disagreements.assign(n, 0);
  s.reward.assign(n, U256());
  s.slash.assign(n, U256());
  s.pool_after = in.pool;

  std::vector<std::pair<int, std::size_t>> revealed;  // (score, index)
  for (std::size_t i = 0; i < n; ++i) {
    const MedianNode& node = in.nodes[i];
    if (node.role == Role::Voter) s.voter_stake += node.stake;
    if (node.role != Role::Voter || node.voter != VoterStatus::Revealed) continue;
    s.revealed_stake += node.stake;
    revealed.emplace_back(node.score, i);
    for (std::size_t j : std::set<std::size_t>(node.objects.begin(), node.objects.end())) {
      const MedianNode& p = in.nodes[j];
      if (p.role == Role::Proposer && p.proposer != ProposerStatus::Absent)
        s.objection_stake[j] += node.stake;
    }
  }
  s.quorum = !s.revealed_stake.is_zero() &&
             s.revealed_stake * U256(kBps) >= U256(in.quorum_bps) * s.voter_stake;
  if (!s.quorum) return s;

  // Lower stake-weighted median: ties in score are adjacent after sorting, so their order does
  // not change the result.
  std::sort(revealed.begin(), revealed.end());
  U256 cum;
  for (const auto& [score, i] : revealed) {
    cum += in.nodes[i].stake;
    if (cum * U256(2) >= s.revealed_stake) {
      s.median = score;
      break;
    }
  }
  s.accepted = s.median >= 0;

  // The objection consensus: which committed updates the revealed stake's majority objects to.
  std::vector<bool> committed(n, false), objected(n, false);
  std::size_t committed_count = 0, objected_count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const MedianNode& node = in.nodes[i];
    if (node.role != Role::Proposer || node.proposer == ProposerStatus::Absent) continue;
    committed[i] = true;
    ++committed_count;
    objected[i] = s.objection_stake[i] * U256(2) > s.revealed_stake;
    objected_count += objected[i];
  }

  std::vector<Outcome> outcome(n, Outcome::Neither);
  for (std::size_t i = 0; i < n; ++i) {
    const MedianNode& node = in.nodes[i];
    Outcome o = Outcome::Neither;
    if (node.role == Role::Voter) {
      if (node.voter == VoterStatus::Revealed) {
        // Disagreements: the objected updates it does not object to, plus the others it does.
        std::size_t disagreements = objected_count;
        for (std::size_t j : std::set<std::size_t>(node.objects.begin(), node.objects.end())) {
          if (!committed[j]) continue;
          if (objected[j])
            --disagreements;
          else
            ++disagreements;
        }
        s.objection_disagreements[i] = disagreements;
        const long distance = std::abs(static_cast<long>(node.score) - s.median);
        const bool near = static_cast<std::uint64_t>(distance) <= in.tolerance_bps;
        const bool far = disagreements >= kMinDisagreements && 2 * disagreements > committed_count;
        o = near && !far ? Outcome::Winner : Outcome::Loser;
      } else if (node.voter == VoterStatus::Unrevealed) {
        o = Outcome::Loser;
      }
    } else if (node.proposer == ProposerStatus::Absent || objected[i]) {
      o = Outcome::Loser;
    } else if (node.proposer == ProposerStatus::Included) {
      o = Outcome::Winner;
    }
    outcome[i] = o;
    if (o == Outcome::Winner) s.winner_stake += node.stake;
    if (o == Outcome::Loser) {
      s.slash[i] = node.stake * U256(in.slash_bps) / U256(kBps);
      s.slashed += s.slash[i];
    }
  }
  s.pot = in.pool / U256(in.rounds_left) + s.slashed;
  if (!s.winner_stake.is_zero()) {
    for (std::size_t i = 0; i < n; ++i) {
      if (outcome[i] != Outcome::Winner) continue;
      s.reward[i] = mul_div(s.pot, in.nodes[i].stake, s.winner_stake);
      s.paid += s.reward[i];
    }
  }
  s.pool_after = in.pool + s.slashed - s.paid;
  if (in.rounds_left == 1) {
    s.creator_credit = s.pool_after;
    s.pool_after = U256();
  }
  return s;
}

}  // namespace murmur::chain
