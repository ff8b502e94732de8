// EIP-712 typed-data hashing for Murmuration's messages: Vote (checked by AllianceTask on chain)
// and Update (proposers' update commits, checked by the server). Same domain for both.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

/// EIP712Domain(string name,string version,uint256 chainId,address verifyingContract), as
/// OpenZeppelin's EIP712 builds it; AllianceTask's constructor uses ("Murmuration", "1").
struct Eip712Domain {
  std::string name = "Murmuration";
  std::string version = "1";
  std::uint64_t chain_id = 0;
  Address verifying_contract;

  /// keccak256(abi.encode(TYPE_HASH, keccak(name), keccak(version), chainId, verifyingContract)).
  Hash32 separator() const;
};

/// The EIP-712 type strings (their keccak256 are the typehashes).
inline constexpr std::string_view kVoteType =
    "Vote(uint256 taskId,uint256 round,bytes32 modelHash,int8 score)";
inline constexpr std::string_view kUpdateType =
    "Update(uint256 taskId,uint256 round,bytes32 updateHash,uint256 numSamples)";

/// A voter's verdict on a round's candidate model; score is +1 or −1.
struct VoteMessage {
  U256 task_id;
  U256 round;
  Hash32 model_hash{};
  std::int8_t score = 1;
  /// keccak256(abi.encode(VOTE_TYPEHASH, taskId, round, modelHash, score)), score sign-extended.
  Hash32 struct_hash() const;
};

/// A proposer's commitment to its uploaded update.
struct UpdateMessage {
  U256 task_id;
  U256 round;
  Hash32 update_hash{};
  U256 num_samples;
  /// keccak256(abi.encode(UPDATE_TYPEHASH, taskId, round, updateHash, numSamples)).
  Hash32 struct_hash() const;
};

/// keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash).
Hash32 typed_data_digest(const Hash32& domain_separator, const Hash32& struct_hash);

/// The digest a voter signs (equals AllianceTask.voteDigest on chain).
Hash32 vote_digest(const Eip712Domain& domain, const VoteMessage& vote);
/// The digest a proposer signs for an update commit.
Hash32 update_digest(const Eip712Domain& domain, const UpdateMessage& update);

/// Signs the vote: 65 bytes r ‖ s ‖ v (v = 27/28, low s), as finalizeRound expects.
Bytes sign_vote(const PrivateKey& key, const Eip712Domain& domain, const VoteMessage& vote);
/// The signer of `digest` under a 65-byte r ‖ s ‖ v signature, by OpenZeppelin ECDSA's rules
/// (exactly 65 bytes, v ∈ {27, 28}, low s): the signatures AllianceTask accepts. Throws
/// std::invalid_argument naming the rule a signature breaks. Use it to check votes and update
/// commits before relying on them.
Address recover_typed_signer(const Hash32& digest, std::span<const std::uint8_t> rsv);

/// Signs the update commit: 65 bytes r ‖ s ‖ v.
Bytes sign_update(const PrivateKey& key, const Eip712Domain& domain, const UpdateMessage& update);

}  // namespace murmur::chain
