#pragma once
// A node against a murmurd shard set (docs/sharding.md): its update split at the shards'
// boundaries, part k uploaded to shard k, all parts at once; the model and the round's candidate
// fetched by range; the set a node was given checked against its coordinator first.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/protocol/part_commitment.hpp"

namespace murmur::client {

/// The shards a node was given are not the coordinator's shard set, or one does not answer: the
/// message names the shard (its place in the order given, and its name when one was given) and
/// what to fix.
class ShardSetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Checks, before anything is uploaded, that `shards` (clients of shards 0 .. S-1, in the order
/// given, each registered already) are the shard set of `coordinator` (registered too): every shard
/// answers RoundInfo (TimeoutError otherwise), serves the same task, and their parameters add up to
/// the coordinator's; and, when the coordinator names a global model, the shards' parts of it
/// concatenated in this order hash (keccak-256) to it, which is what finds shards given in the
/// wrong order or from another set. `names[k]` (optional) names shard k in messages, e.g. its
/// endpoint. Throws ShardSetError. Cost: one RoundInfo a shard and one download of the global model
/// (what a trainer fetches anyway); a task with no global model yet (zeros) cannot be checked for
/// the order: a shard then refuses a part that is not its own at the commit (ERR_MALFORMED), for
/// every part.
void check_shard_set(NodeClient& coordinator, std::span<NodeClient* const> shards,
                     std::span<const std::string> names = {});

/// Waits until every shard's RoundInfo is at round `round` (a shard adopts the coordinator's
/// opening within its 250 ms heartbeat, so a node that saw the coordinator open a round may ask
/// a shard still in the round before), asking every `poll`, at most `patience`; ServerError
/// ERR_WRONG_ROUND names a shard that is not there by then.
void wait_for_round(std::span<NodeClient* const> shards, std::uint64_t round,
                    std::chrono::milliseconds patience = std::chrono::seconds(30),
                    std::chrono::milliseconds poll = std::chrono::milliseconds(50));

/// A split upload before any byte is sent: the shards' byte boundaries (from each shard's
/// RoundInfo parameters, in shard order) and the commitment, whose `hash` is the whole update's
/// BLAKE3 hash, the one that is signed (and, on AllianceTaskV2, committed on chain first).
struct SplitPlan {
  std::vector<std::uint64_t> boundaries;
  protocol::SplitCommitment commitment;
};

/// The plan of uploading `values` (sent as f32) to `shards`: each shard's RoundInfo parameters,
/// in shard order, must add up to values.size() (std::invalid_argument otherwise); one BLAKE3
/// pass makes the whole update's hash and every part's proof (protocol::commit_parts).
SplitPlan plan_split(std::span<NodeClient* const> shards, std::span<const float> values);

/// What a split upload did: the whole update's BLAKE3 hash (what was signed) and each part's
/// upload, in shard order.
struct SplitUploadResult {
  chain::Hash32 update_hash{};
  std::vector<UploadResult> parts;
};

/// Uploads `values` as `plan` (plan_split of the same values) splits them: one thread a shard
/// runs NodeClient::upload_update on its part (credits, checksums, resume after a lost reply or
/// a restarted shard) and commits with the whole update's hash, signed once as EIP-712 Update,
/// and the split commitment. Returns when every part is committed; otherwise, once every part
/// has ended, rethrows the first part's failure (a part committed stays committed: a retry finds
/// it).
SplitUploadResult upload_split(std::span<NodeClient* const> shards, std::uint64_t task_id,
                               std::uint64_t round, std::span<const float> values,
                               const SplitPlan& plan, std::uint64_t num_samples,
                               const Signer& signer);

/// plan_split, then upload_split with the plan.
SplitUploadResult upload_split(std::span<NodeClient* const> shards, std::uint64_t task_id,
                               std::uint64_t round, std::span<const float> values,
                               std::uint64_t num_samples, const Signer& signer);

/// The global model of a shard set: each shard's part (the hash its RoundInfo names), fetched
/// and checked as NodeClient::fetch_model does, concatenated in shard order.
std::vector<float> fetch_split_model(std::span<NodeClient* const> shards);

/// The global model `whole` (keccak-256 of the whole model's f32 bytes, the coordinator's
/// RoundInfo.global_model_hash) of round `round` from a shard set: a shard still in an earlier
/// round (it adopts the coordinator's decision within its heartbeat) is asked again, every
/// `poll`, for at most `patience`; then as fetch_split_model, and the whole must hash to `whole`
/// (ServerError ERR_HASH_MISMATCH otherwise).
std::vector<float> fetch_split_model(
    std::span<NodeClient* const> shards, const chain::Hash32& whole, std::uint64_t round,
    std::chrono::milliseconds patience = std::chrono::seconds(30),
    std::chrono::milliseconds poll = std::chrono::milliseconds(50));

/// A voter's read of round `round`'s candidate `candidate` (keccak-256 of the whole model's f32
/// bytes, the coordinator's RoundInfo.candidate_model_hash) from a shard set: each shard's part,
/// under the hash its RoundInfo names for the candidate while it is VOTING in that round, fetched
/// and checked against it as NodeClient::fetch_model does, concatenated in shard order; the whole
/// must hash to `candidate` (ServerError ERR_HASH_MISMATCH otherwise). nullopt when some shard
/// does not name a candidate of `round` (yet: it follows the coordinator within its heartbeat;
/// ask again later).
std::optional<std::vector<float>> fetch_split_candidate(std::span<NodeClient* const> shards,
                                                        std::uint64_t task_id, std::uint64_t round,
                                                        const chain::Hash32& candidate);

}  // namespace murmur::client
