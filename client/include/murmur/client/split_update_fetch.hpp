#pragma once
// A voter's read of a committed update in a murmurd shard set (docs/sharding.md, "Update reads
// by part"): the list with each proposer's signed Update comes from the coordinator
// (NodeClient::round_updates on the coordinator's client, as from a single murmurd); the bytes
// come from the shards, part k from shard k, each part checked against the split commitment the
// proposer uploaded with it, so that the parts combine into the signed whole-update hash.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "murmur/client/node_client.hpp"

namespace murmur::client {

/// A shard served a part that is not its part of the signed update: bytes that do not match the
/// split commitment, a commitment that does not combine into the signed hash, or one of another
/// shape. `shard()` is the index of the shard at fault; `code()` ERR_HASH_MISMATCH (bytes or
/// chaining values) or ERR_MALFORMED (the commitment's shape).
class PartMismatchError : public ServerError {
 public:
  PartMismatchError(wire::ErrorCode code, std::size_t shard, const std::string& message)
      : ServerError(code, message), shard_(shard) {}
  std::size_t shard() const { return shard_; }

 private:
  std::size_t shard_;
};

/// The bytes of `update` (an entry of the coordinator's UpdateList of (task, round)) read by
/// parts from a shard set, `shards[k]` being a client of shard k (registered there; a voter's
/// read on the round endpoint in VOTING). The parts' boundaries are the shards' ranges (each
/// shard's RoundInfo parameters, in shard order, times the element size; they must add up to
/// update.total_bytes). Each part is read in ranged UpdateRequests (offsets in the whole update)
/// with the split commitment its shard recorded, checked with protocol::check_part against
/// update.update_hash; a wrong part throws PartMismatchError naming the shard. Returns the whole
/// update as uploaded (its dtype), whose BLAKE3 is update.update_hash. Refusals of a shard
/// (ServerError) and timeouts (TimeoutError) pass through.
std::vector<std::uint8_t> fetch_split_update_bytes(std::span<NodeClient* const> shards,
                                                   std::uint64_t task_id, std::uint64_t round,
                                                   const RoundUpdate& update);

/// The same, widened to f32 (what objections.hpp's judge takes).
std::vector<float> fetch_split_update(std::span<NodeClient* const> shards, std::uint64_t task_id,
                                      std::uint64_t round, const RoundUpdate& update);

}  // namespace murmur::client
