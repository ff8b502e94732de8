// ArenaTask's reward rule (issue 17): per-submission consensus (lower stake-weighted median of the
// revealed losses), competition ranks, geometric rank rewards by stake, validator rewards by stake
// × submissions validated × agreement with consensus, slashing of unrevealed commits, the gamma
// split between nodes and validators and the delegation split. The same rule as
// contracts/contracts/ArenaSettlement.sol; both run contracts/test/arena_cases.json. Also the
// client side of the task: the validators assigned to a submission and the score commitment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

inline constexpr std::uint64_t kArenaMaxScore = 1'000'000'000'000'000;  ///< ArenaTask.MAX_SCORE
inline constexpr std::uint64_t kArenaScoreScale = 1'000'000;  ///< score = round(loss · 1e6)

/// One committed (validator, submission) score.
struct ArenaEntry {
  std::size_t submission = 0;  ///< index into ArenaInput::node_stake
  std::size_t validator = 0;   ///< index into ArenaInput::validator_stake
  bool revealed = false;
  std::uint64_t score = 0;  ///< revealed only: loss × 1e6, ≤ kArenaMaxScore
};

struct ArenaInput {
  U256 pot;                               ///< the task's pool (creator's funds + emission)
  std::uint64_t gamma_bps = 0;            ///< 0..10000
  std::uint64_t rank_ratio_bps = 1;       ///< 1..9999
  std::uint64_t tolerance_bps = 1;        ///< 1..10000
  std::uint64_t slash_bps = 0;            ///< 0..10000
  std::vector<U256> node_stake;           ///< per submission: the node's own + delegated stake
  std::vector<U256> validator_stake;      ///< own + delegated
  std::vector<U256> validator_own_stake;  ///< what a slash takes from
  std::vector<ArenaEntry> entries;        ///< in commit order (the rule does not depend on it)
};

/// What ArenaTask.finalize books (ArenaSettlement.Output).
struct ArenaSettlement {
  U256 node_pot, validator_pot, slashed, paid, creator_credit;
  std::vector<std::optional<std::uint64_t>> consensus;  ///< none: nobody revealed a score
  std::vector<std::optional<std::uint64_t>> rank;       ///< competition rank, 0 = best
  std::vector<U256> node_reward;
  std::vector<U256> validator_reward, validator_slash, validator_weight;
};

/// Settles a task exactly as ArenaSettlement.settle (contracts/README.md, "ArenaTask", has the
/// formulas and why):
///   consensus(s) = lowest revealed x with 2·Σ_{score ≤ x} S_v ≥ Σ S_v over s's revealed entries
///   rank(s)      = #{s' : consensus(s') < consensus(s)};  g_0 = 1e18, g_r = ⌊g_{r−1}·ratio/10⁴⌋
///   nodePot      = ⌊pot·(γ(T+S) + 2(10⁴−γ)T) / (2·10⁴(T+S))⌋;  node = ⌊nodePot·g_r·T_s/Σ g·T⌋
///   agreement    = d < tol ? ⌊(tol−d)·10⁴/tol⌋ : 0, tol = max(1, ⌊c·toleranceBps/10⁴⌋)
///   slash        = ⌊own·slashBps/10⁴⌋ for any unrevealed entry (weight 0), else weight = S_v·Σ a
///   validator    = ⌊(pot − nodePot + slashed)·q_v/Σ q⌋;  creatorCredit = pot + slashed − paid
/// Throws std::invalid_argument on inputs the contract cannot produce (a parameter out of range,
/// an entry index past a list, a score above kArenaMaxScore, two entries for one pair, stake
/// lists of different lengths). O(E log E + n² + m).
ArenaSettlement settle_arena(const ArenaInput& in);

/// Agreement of a revealed score with the consensus c, in bps (10000 at c, 0 from tol on).
std::uint64_t arena_agreement(std::uint64_t score, std::uint64_t consensus,
                              std::uint64_t tolerance_bps);

/// A delegate's reward split with its delegators (ArenaSettlement.splitDelegation):
///   gross = ⌊reward·D/(own + D)⌋, net = gross − ⌊gross·commissionBps/10⁴⌋,
///   delegator_j = ⌊net·d_j/D⌋, delegate = reward − Σ delegator_j.
struct DelegationSplit {
  U256 delegate;
  std::vector<U256> delegators;
};
DelegationSplit split_delegation(const U256& reward, const U256& own, std::uint64_t commission_bps,
                                 std::span<const U256> delegations);

/// The validators (indices in ArenaTask.validators order) assigned to `submission`, as
/// ArenaTask.assignees computes them from the drawn seed and the validators' effective stakes:
/// u = keccak256(seed ‖ submission) mod W, points u + j·⌊W/k⌋ on the ring of cumulative stakes,
/// each moved to the next validator when taken or when too few would be left. k ≤ stakes.size().
std::vector<std::size_t> arena_assignees(const Hash32& seed, std::uint64_t submission,
                                         std::span<const U256> effective_stakes, std::size_t k);

/// keccak256(abi.encode(taskId, submission, validator, uint64 score, salt)): what a validator
/// commits for one submission (ArenaTask.scoreCommitment).
Hash32 arena_score_commitment(const U256& task_id, std::uint64_t submission,
                              const Address& validator, std::uint64_t score, const Hash32& salt);

}  // namespace murmur::chain
