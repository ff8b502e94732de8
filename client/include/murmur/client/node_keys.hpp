#pragma once
// Deterministic chain keys for load tests, simulations and integration tests: many nodes from
// one seed without key files. Never use them for real stake: anyone who knows the seed (and
// the seed is small) knows the keys.
#include <cstdint>

#include "murmur/chain/secp256k1.hpp"

namespace murmur::client {

/// The key of node `index` under `seed`:
///   secret = keccak256("murmur.node-key.v1" || seed (8 bytes BE) || index (8 bytes BE) || k (1
///   byte))
/// with k = 0, 1, ... the first value that is a valid secp256k1 secret (1 <= secret < n;
/// k > 0 happens with probability about 2^-128). O(1), ~50 µs (one public-key derivation
/// when the address is asked for).
chain::PrivateKey derive_node_key(std::uint64_t seed, std::uint64_t index);

}  // namespace murmur::client
