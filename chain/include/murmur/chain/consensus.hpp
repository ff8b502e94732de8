// Roles and round settlement exactly as AllianceTask computes them (see its NatSpec and
// contracts/README.md): the server uses these to predict and to check what the chain will do.
#pragma once

#include <cstdint>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

/// Role values as the contract's enum: Voter = 0, Proposer = 1.
enum class Role : std::uint8_t { Voter = 0, Proposer = 1 };

/// proposer ⇔ uint256(keccak256(seed ‖ node)) mod 10000 < proposer_bps (52 hashed bytes).
bool is_proposer(const Hash32& seed, const Address& node, std::uint64_t proposer_bps);
inline Role role_of(const Hash32& seed, const Address& node, std::uint64_t proposer_bps) {
  return is_proposer(seed, node, proposer_bps) ? Role::Proposer : Role::Voter;
}

/// The seed startRound derives: keccak256(prevrandao ‖ blockhash(number − 1) ‖ taskId ‖ round),
/// four 32-byte words.
Hash32 round_seed(const U256& prevrandao, const Hash32& parent_hash, const U256& task_id,
                  const U256& round);

/// One participant of a round as the settlement sees it.
struct SettlementNode {
  Role role = Role::Voter;
  U256 stake;            ///< frozen for the round
  bool flagged = false;  ///< proposers only
  int vote = 0;          ///< voters only: +1, −1, or 0 (no vote submitted)
};

/// Inputs of one finalized round.
struct SettlementInput {
  U256 pool;                      ///< undistributed pool before the round
  std::uint64_t rounds_left = 1;  ///< totalRounds − finalizedRounds (≥ 1)
  std::uint64_t slash_bps = 0;    ///< ≤ 10000
  std::vector<SettlementNode> nodes;
};

/// What the contract books for the round.
struct Settlement {
  bool accepted = true;
  U256 vote_sum;      ///< int256 two's complement: Σ vote·stake
  U256 round_reward;  ///< R = floor(pool / roundsLeft)
  U256 winner_stake;
  U256 paid, slashed, to_pool, to_creator;
  U256 pool_after;           ///< 0 after the last round
  U256 creator_credit;       ///< toCreator (+ leftover pool after the last round)
  std::vector<U256> reward;  ///< per node, same order as the input
  std::vector<U256> slash;   ///< per node
};

/// Settles a round with the contract's integer arithmetic (floor divisions, mulDiv with a
/// 512-bit intermediate, 10% of slashes to the creator). Throws std::invalid_argument for inputs
/// the contract would refuse (vote outside {−1,0,1} or on a proposer, a flagged voter,
/// rounds_left 0, bps > 10000). O(nodes).
Settlement settle_round(const SettlementInput& in);

}  // namespace murmur::chain
