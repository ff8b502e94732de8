// AllianceTaskV2's settlement of one round (issue 16): stake quorum, stake-weighted median of
// graded scores, voters slashed only far from consensus (score far from the median, or objection
// bits against the objection consensus on more than half of the updates), proposers slashed only
// on evidence (absent, or objected to by the revealed voters' stake majority). The same rule as
// contracts/contracts/MedianSettlement.sol; both run contracts/test/median_cases.json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "murmur/chain/consensus.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

inline constexpr int kMinScore = -10'000;  ///< graded scores are bps of a clipped loss change
inline constexpr int kMaxScore = 10'000;
/// A revealed voter is far from the objection consensus when its bits differ from it on more than
/// half of the round's committed updates and on at least this many (MedianSettlement's
/// MIN_DISAGREEMENTS): one close call alone never slashes.
inline constexpr std::size_t kMinDisagreements = 2;

/// A voter's graded score of a candidate: the relative change of its mean loss on the voter's
/// held-out rows, clipped and in basis points, > 0 = better (contracts/README.md, "A round",
/// step 6):
///   score = round(10000 · clamp((loss_before − loss_after) / loss_before, −1, 1))
/// loss_before: the task's model before the round, loss_after: the candidate (or, for an
/// objection, the model plus one update). Edge cases: a non-finite loss_after is −10000 (a model
/// that produces NaN is the worst); a finite loss_after with a non-finite loss_before is +10000;
/// loss_before = 0 gives 0 when loss_after is 0 too, else −10000. Throws std::invalid_argument on
/// a negative finite loss (a mean cross-entropy is ≥ 0). Shared by the simulator's voters and
/// `murmur node`'s, so both put the same number on chain for the same losses.
int graded_score(double loss_before, double loss_after);

/// A proposer's standing in the round: no update hash committed, committed but left out by the
/// robust rule, or included in the candidate.
enum class ProposerStatus : std::uint8_t { Absent, Excluded, Included };
/// A voter's standing: no vote committed, committed but never revealed, or revealed.
enum class VoterStatus : std::uint8_t { Absent, Unrevealed, Revealed };

/// One participant of an AllianceTaskV2 round.
struct MedianNode {
  Role role = Role::Voter;
  U256 stake;                                        ///< frozen for the round
  ProposerStatus proposer = ProposerStatus::Absent;  ///< proposers only
  VoterStatus voter = VoterStatus::Absent;           ///< voters only
  int score = 0;                                     ///< revealed voters: in [kMinScore, kMaxScore]
  /// Revealed voters: indices (into the node list) of the proposers whose update this voter objects
  /// to. Indices of voters or absent proposers are ignored, as the contract ignores those bits;
  /// repeated indices count once (a bitmap on chain).
  std::vector<std::size_t> objects;
};

struct MedianRoundInput {
  U256 pool;                        ///< undistributed pool before the round
  std::uint64_t rounds_left = 1;    ///< totalRounds − finalizedRounds (≥ 1)
  std::uint64_t slash_bps = 0;      ///< ≤ 10000
  std::uint64_t quorum_bps = 1;     ///< 1..10000
  std::uint64_t tolerance_bps = 0;  ///< ≤ 20000
  std::vector<MedianNode> nodes;    ///< in participant order
};

/// What finalizeRound books (MedianSettlement.Output).
struct MedianRoundSettlement {
  bool quorum = false;  ///< false: the round is abandoned and nothing below moves
  int median = 0;
  bool accepted = false;
  U256 revealed_stake, voter_stake, winner_stake, pot, paid, slashed;
  U256 pool_after;                    ///< 0 after the last round
  U256 creator_credit;                ///< the leftover pool after the last round
  std::vector<U256> objection_stake;  ///< per node (proposers)
  /// Per node (revealed voters): committed updates on which its objection bit differs from the
  /// consensus (0 for the others).
  std::vector<std::size_t> objection_disagreements;
  std::vector<U256> reward;  ///< per node
  std::vector<U256> slash;   ///< per node
};

/// Settles one round exactly as MedianSettlement.settle:
///   quorum    W_r > 0 and W_r·10000 ≥ quorumBps·W_v (W_r: revealed voters' stake, W_v: all
///             voters'); below it nothing moves
///   median    lowest revealed score s with 2·(stake of scores ≤ s) ≥ W_r; accepted = median ≥ 0
///   objected  a committed update is objected to when 2·objectionStake > W_r (the consensus)
///   voters    revealed → winner when |score − median| ≤ tolerance and it is not far from the
///             objection consensus; far = its bits differ from the consensus on more than half
///             of the round's C committed updates and on at least kMinDisagreements of them
///             (2·d > C and d ≥ 2); otherwise loser. Unrevealed → loser; absent → neither
///   proposers absent or objected → loser; included (and not objected) → winner, whether or not
///             the candidate was accepted; excluded → neither
///   slash     floor(stake·slashBps/10000);  pot = floor(pool/roundsLeft) + Σ slash
///   reward    floor(pot·stake/winnerStake) (mulDiv);  poolAfter = pool + slashed − paid
///   last round: creatorCredit = poolAfter, poolAfter = 0
/// Throws std::invalid_argument on inputs the contract cannot produce (parameters out of range, a
/// score out of range, an object index past the list, a status on the wrong role). O(n log n + Σ
/// objects · log).
MedianRoundSettlement settle_median_round(const MedianRoundInput& in);

}  // namespace murmur::chain
