#include "murmur/chain/eip712.hpp"

#include <stdexcept>
#include <vector>

#include "murmur/chain/abi.hpp"
#include "murmur/chain/keccak.hpp"

namespace murmur::chain {
namespace {

Hash32 hash_words(const std::vector<std::string>& types, const std::vector<abi::Value>& values) {
  std::vector<abi::Type> ts;
  for (const auto& t : types) ts.push_back(abi::Type::parse(t));
  return keccak256(abi::encode(ts, values));
}

}  // namespace

Hash32 Eip712Domain::separator() const {
  static const Hash32 kTypeHash = keccak256(
      "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
  return hash_words(
      {"bytes32", "bytes32", "bytes32", "uint256", "address"},
      {kTypeHash, keccak256(name), keccak256(version), U256(chain_id), verifying_contract});
}

Hash32 VoteMessage::struct_hash() const {
  static const Hash32 kTypeHash = keccak256(kVoteType);
  return hash_words({"bytes32", "uint256", "uint256", "bytes32", "int8"},
                    {kTypeHash, task_id, round, model_hash, abi::Value::int_(score)});
}

Hash32 UpdateMessage::struct_hash() const {
  static const Hash32 kTypeHash = keccak256(kUpdateType);
  return hash_words({"bytes32", "uint256", "uint256", "bytes32", "uint256"},
                    {kTypeHash, task_id, round, update_hash, num_samples});
}

Hash32 typed_data_digest(const Hash32& domain_separator, const Hash32& struct_hash) {
  Bytes buf{0x19, 0x01};
  append(buf, domain_separator);
  append(buf, struct_hash);
  return keccak256(buf);
}

Hash32 vote_digest(const Eip712Domain& domain, const VoteMessage& vote) {
  return typed_data_digest(domain.separator(), vote.struct_hash());
}

Hash32 update_digest(const Eip712Domain& domain, const UpdateMessage& update) {
  return typed_data_digest(domain.separator(), update.struct_hash());
}

Bytes sign_vote(const PrivateKey& key, const Eip712Domain& domain, const VoteMessage& vote) {
  return key.sign(vote_digest(domain, vote)).to_rsv();
}

Address recover_typed_signer(const Hash32& digest, std::span<const std::uint8_t> rsv) {
  if (rsv.size() != 65)
    throw std::invalid_argument("signature must be 65 bytes r||s||v, got " +
                                std::to_string(rsv.size()));
  if (rsv[64] != 27 && rsv[64] != 28)
    throw std::invalid_argument("signature v must be 27 or 28, got " + std::to_string(rsv[64]));
  Signature sig = Signature::from_rsv(rsv);
  if (!sig.is_low_s()) throw std::invalid_argument("signature has a high s (EIP-2 malleability)");
  return recover_address(digest, sig);
}

Bytes sign_update(const PrivateKey& key, const Eip712Domain& domain, const UpdateMessage& update) {
  return key.sign(update_digest(domain, update)).to_rsv();
}

}  // namespace murmur::chain
