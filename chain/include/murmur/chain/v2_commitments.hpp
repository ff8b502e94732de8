// The hashes a client of AllianceTaskV2 computes (issue 16): a voter's commitment, the round seed,
// the commitment to the included updates, and participant bitmaps. The same formulas as the
// contract; contracts/test/v2_vectors.json holds vectors checked against both.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

/// keccak256(abi.encode(uint256 taskId, uint256 round, address voter, int16 score,
/// uint256[] objections, bytes32 salt)): what commitVote takes and revealVote checks. Throws
/// std::invalid_argument if `score` does not fit int16 (the contract also refuses |score| > 10000
/// at reveal).
Hash32 vote_commitment(const U256& task_id, const U256& round, const Address& voter, int score,
                       std::span<const U256> objections, const Hash32& salt);

/// keccak256(blockhash(seedBlock) ‖ taskId ‖ round) (96 bytes): drawRoles' seed. Roles follow from
/// it by is_proposer (consensus.hpp), as in AllianceTask.
Hash32 v2_round_seed(const Hash32& seed_block_hash, const U256& task_id, const U256& round);

/// drawRoles' redraws of a one-role draw (AllianceTaskV2.MAX_REDRAWS).
inline constexpr int kV2MaxRedraws = 8;

/// The seed drawRoles stores (getRound().seed): starting from `first` (v2_round_seed), while
/// every participant would get the same role by is_proposer, keccak256(seed) (32 bytes) again,
/// at most kV2MaxRedraws times. A round so has a proposer and a voter unless the draws ran out.
Hash32 v2_roles_seed(const Hash32& first, std::span<const Address> participants,
                     std::uint64_t proposer_bps);

/// keccak256 of the included proposers' update hashes concatenated in participant index order
/// (keccak256 of nothing when none): postCandidate's includedHash.
Hash32 included_hash(std::span<const Hash32> update_hashes_in_index_order);

/// Bitmap over participant indices: bit i & 255 of word i >> 8, ceil(count / 256) words. Throws
/// std::invalid_argument for an index ≥ count.
std::vector<U256> participant_bitmap(std::span<const std::size_t> indices, std::size_t count);

}  // namespace murmur::chain
