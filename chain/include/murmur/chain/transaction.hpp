// EIP-1559 (type 2) transactions: fields, signing hash, signature and raw serialization.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/bytes.hpp"
#include "murmur/chain/secp256k1.hpp"
#include "murmur/chain/uint256.hpp"

namespace murmur::chain {

/// One EIP-2930 access-list entry.
struct AccessListEntry {
  Address address;
  std::vector<Hash32> storage_keys;
};

/// The fields of a type-2 transaction. `to` empty means contract creation.
struct Eip1559Transaction {
  std::uint64_t chain_id = 0;
  std::uint64_t nonce = 0;
  U256 max_priority_fee_per_gas;
  U256 max_fee_per_gas;
  std::uint64_t gas_limit = 0;
  std::optional<Address> to;
  U256 value;
  Bytes data;
  std::vector<AccessListEntry> access_list;

  /// keccak256(0x02 ‖ rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to,
  /// value, data, accessList])): the digest the sender signs.
  Hash32 signing_hash() const;
};

/// A signed transaction ready for eth_sendRawTransaction.
struct SignedTransaction {
  Eip1559Transaction tx;
  Signature signature;
  Bytes raw;      ///< 0x02 ‖ rlp([..., yParity, r, s])
  Hash32 hash{};  ///< keccak256(raw): the transaction hash
  Address from;   ///< the signer
};

/// Signs `tx` with `key` (RFC 6979, low-s) and serializes it. Deterministic. Throws
/// std::invalid_argument if maxPriorityFeePerGas > maxFeePerGas (invalid on every chain).
SignedTransaction sign_transaction(const Eip1559Transaction& tx, const PrivateKey& key);

/// Parses a raw type-2 transaction (0x02 ‖ rlp) and recovers its sender; throws
/// std::invalid_argument on any other type or malformed field.
SignedTransaction decode_transaction(std::span<const std::uint8_t> raw);

}  // namespace murmur::chain
