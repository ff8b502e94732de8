#include "murmur/chain/v2_commitments.hpp"

#include <limits>
#include <stdexcept>
#include <string>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/consensus.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain {

Hash32 vote_commitment(const U256& task_id, const U256& round, const Address& voter, int score,
                       std::span<const U256> objections, const Hash32& salt) {
  if (score < std::numeric_limits<std::int16_t>::min() ||
      score > std::numeric_limits<std::int16_t>::max())
    throw std::invalid_argument("vote_commitment: score " + std::to_string(score) +
                                " does not fit int16");
  static const std::vector<abi::Type> types = {
      abi::Type::parse("uint256"), abi::Type::parse("uint256"),   abi::Type::parse("address"),
      abi::Type::parse("int16"),   abi::Type::parse("uint256[]"), abi::Type::parse("bytes32")};
  std::vector<abi::Value> words;
  words.reserve(objections.size());
  for (const U256& w : objections) words.emplace_back(w);
  std::vector<abi::Value> values = {task_id,          round, voter, abi::Value::int_(score),
                                    std::move(words), salt};
  return keccak256(abi::encode(types, values));
}

Hash32 v2_round_seed(const Hash32& seed_block_hash, const U256& task_id, const U256& round) {
  Bytes buf(seed_block_hash.begin(), seed_block_hash.end());
  append(buf, task_id.to_be_bytes());
  append(buf, round.to_be_bytes());
  return keccak256(buf);
}

Hash32 v2_roles_seed(const Hash32& first, std::span<const Address> participants,
                     std::uint64_t proposer_bps) {
  const auto one_role = [&](const Hash32& seed) {
    std::size_t proposers = 0;
    for (const Address& a : participants) proposers += is_proposer(seed, a, proposer_bps);
    return proposers == 0 || proposers == participants.size();
  };
  Hash32 seed = first;
  for (int k = 0; k < kV2MaxRedraws && one_role(seed); ++k)
    seed = keccak256(std::span<const std::uint8_t>(seed.data(), seed.size()));
  return seed;
}

Hash32 included_hash(std::span<const Hash32> update_hashes_in_index_order) {
  Bytes buf;
  buf.reserve(32 * update_hashes_in_index_order.size());
  for (const Hash32& h : update_hashes_in_index_order) append(buf, h);
  return keccak256(buf);
}

std::vector<U256> participant_bitmap(std::span<const std::size_t> indices, std::size_t count) {
  std::vector<U256> words((count + 255) / 256);
  for (std::size_t i : indices) {
    if (i >= count)
      throw std::invalid_argument("participant_bitmap: index " + std::to_string(i) +
                                  " is not below the participant count " + std::to_string(count));
    U256 bit = U256(1) << static_cast<unsigned>(i & 255);
    U256& w = words[i >> 8];
    if (!(w >> static_cast<unsigned>(i & 255)).bit(0)) w += bit;
  }
  return words;
}

}  // namespace murmur::chain
