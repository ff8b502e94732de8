#pragma once
// A node against a murmurd shard set (docs/sharding.md): its update split at the shards'
// boundaries, part k uploaded to shard k, all parts at once; the model fetched by range.
#include <cstdint>
#include <span>
#include <vector>

#include "murmur/client/node_client.hpp"

namespace murmur::client {

/// What a split upload did: the whole update's BLAKE3 hash (what was signed) and each part's
/// upload, in shard order.
struct SplitUploadResult {
  chain::Hash32 update_hash{};
  std::vector<UploadResult> parts;
};

/// Uploads `values` (sent as f32) to a shard set, `shards[k]` being a client of shard k (each
/// registered already). The boundaries are the shards' ranges: each shard's RoundInfo
/// parameters, in shard order, must add up to values.size(). One BLAKE3 pass makes the whole
/// update's hash and every part's proof (protocol::commit_parts); then one thread a shard runs
/// NodeClient::upload_update on its part (credits, checksums, resume after a lost reply or a
/// restarted shard) and commits with the whole update's hash, signed once as EIP-712 Update, and
/// the split commitment. Returns when every part is committed; otherwise, once every part has
/// ended, rethrows the first part's failure (a part committed stays committed: a retry finds it).
SplitUploadResult upload_split(std::span<NodeClient* const> shards, std::uint64_t task_id,
                               std::uint64_t round, std::span<const float> values,
                               std::uint64_t num_samples, const Signer& signer);

/// The global model of a shard set: each shard's part (the hash its RoundInfo names), fetched
/// and checked as NodeClient::fetch_model does, concatenated in shard order.
std::vector<float> fetch_split_model(std::span<NodeClient* const> shards);

}  // namespace murmur::client
