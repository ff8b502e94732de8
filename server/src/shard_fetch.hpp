#pragma once
// The coordinator reading a shard's candidate part over the wire (docs/sharding.md, "The
// coordinator's validation"): the ranged ModelRequest / ModelChunk a node fetches models with,
// on the shard's round endpoint, as the Curve key the shard admits as its coordinator
// ([shard] coordinator_key). Nothing of the part passes through the store.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "murmur/chain/bytes.hpp"

namespace murmur::server {

/// Where and how the coordinator reaches shard k's round endpoint (published in its result).
struct ShardContact {
  std::string endpoint;    ///< e.g. tcp://10.0.0.2:7770
  std::string public_key;  ///< the shard's Curve server key, Z85; empty: plain ZeroMQ
  std::uint64_t chunk_bytes = 4u << 20;
};

/// The model `hash` (`bytes` long) from `shard`, `window` ranges of chunk_bytes in flight,
/// every reply checked (offset, total, length), the whole checked against its keccak-256.
/// `own_public`/`own_secret`: the coordinator's Curve key pair. Each request waits at most
/// `timeout` for its reply (a range lost is asked once more). Throws std::runtime_error naming
/// the shard's endpoint and what went wrong (its refusal's code and message included).
std::vector<float> fetch_shard_part(const ShardContact& shard, const chain::Hash32& hash,
                                    std::uint64_t bytes, const std::string& own_public,
                                    const std::string& own_secret,
                                    std::chrono::milliseconds timeout, std::size_t window = 8);

}  // namespace murmur::server
