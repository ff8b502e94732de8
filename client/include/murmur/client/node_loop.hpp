#pragma once
// A node's whole life in a task: register once, then poll the round; as a proposer upload one
// update per round (from a training callback or from files) — or, when the round runs SecAgg+,
// send it masked through the SecAgg+ stages (SecAggNode; the update is computed when the
// advertise stage opens, so murmurd's [secagg] advertise_seconds must cover training) — as a
// voter fetch the candidate model and vote on it by a rule. Ends when the task closes, after a
// number of rounds, or when the server's round stops moving for too long.
//
// On AllianceTaskV2 (NodeLoopOptions::chain set; issue 16) the node makes its own chain calls:
// a proposer persists its update, commits its hash on chain (commitUpdate) and only then uploads
// it; a voter fetches the candidate, checks it is the one posted on chain, evaluates the global
// model and the candidate on its own held-out rows (the Evaluator) into a graded score
// (chain::graded_score), persists the score and a random salt, commits the hidden vote
// (commitVote) and reveals it once the commit phase is over (revealVote); murmurd never carries
// the vote. Any node may close a round nobody closed (finalizeRound).
//
// Against a murmurd shard set (NodeLoopOptions::shards; docs/sharding.md) the client passed to
// run_node is the coordinator's: the node registers there and with every shard, checks the
// shards against the coordinator (check_shard_set: same task, parameters adding up, the global
// model's parts in the order given), reads its role, the stage and the candidate at the
// coordinator, uploads split (upload_split: part k to shard k, one signed whole-update hash),
// fetches the global model and the candidate by range from the shards (each part against the
// hash its shard names, the whole against the coordinator's) and votes at the coordinator. On
// AllianceTaskV2 the whole update's hash is committed on chain before any part is uploaded, and
// a voter reads the updates it judges by parts from the shards (fetch_split_update).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/client/objections.hpp"

namespace murmur::client {

/// What a trainer or a vote rule sees of a round: its RoundInfo and the current global model,
/// downloaded (and hash-checked) on first use only.
class RoundContext {
 public:
  /// `shards` (clients of shards 0 .. S-1) empty: `client` is a single murmurd; else `client` is
  /// the shard set's coordinator and the model is read by range from the shards.
  RoundContext(NodeClient& client, wire::RoundInfo info, std::span<NodeClient* const> shards = {})
      : client_(client), info_(std::move(info)), shards_(shards) {}
  const wire::RoundInfo& info() const { return info_; }
  /// The global model (RoundInfo.global_model_hash); zeros of RoundInfo.parameters when the
  /// task has none yet (empty hash). From a shard set: fetch_split_model, the whole checked
  /// against the coordinator's hash.
  const std::vector<float>& global_model();

 private:
  NodeClient& client_;
  wire::RoundInfo info_;
  std::span<NodeClient* const> shards_;
  std::optional<std::vector<float>> global_;
};

/// A proposer's contribution: the update (RoundInfo.parameters floats) and its sample count.
struct TrainedUpdate {
  std::vector<float> values;
  std::uint64_t num_samples = 1;
};
/// Produces this node's update for a round; nullopt skips the round.
using Trainer = std::function<std::optional<TrainedUpdate>(RoundContext&)>;

/// A voter's verdict on a candidate model.
struct Verdict {
  int score = 1;      ///< +1 or -1
  double loss = 0.0;  ///< reported with the vote, for the record
};
/// Judges `candidate` (the round's candidate model) for a voter.
using VoteRule = std::function<Verdict(RoundContext&, std::span<const float> candidate)>;

/// The default rule: +1 when every parameter of the candidate is finite and its RMS step from
/// the global model, sqrt(sum (c_i - g_i)^2 / D), is at most `max_rms_step`; -1 otherwise.
/// The RMS step is reported as the loss. O(D).
VoteRule rms_step_rule(double max_rms_step = 1.0);

/// Updates read from `path`: raw f32 little-endian files of RoundInfo.parameters floats. A
/// file is uploaded every round; a directory's regular files, sorted by name, are uploaded one
/// per round in that order (the n-th round this node proposes in takes the n-th file; when
/// they run out the node stops proposing). Throws std::runtime_error naming a file whose size
/// is not parameters x 4 bytes.
Trainer updates_from_files(const std::filesystem::path& path, std::uint64_t num_samples);

/// A voter's evaluation of a model (RoundInfo.parameters floats) on its own held-out rows: the
/// mean loss (finite, ≥ 0). AllianceTaskV2 voters score graded_score(loss(global),
/// loss(candidate)).
using Evaluator = std::function<double(RoundContext&, std::span<const float> model)>;

/// A node's own calls on AllianceTaskV2 (the contract is NodeLoopOptions::domain's
/// verifying_contract, the task RoundInfo.task_id).
struct ChainCalls {
  std::string rpc_url;              ///< e.g. http://127.0.0.1:8545
  std::filesystem::path state_dir;  ///< committed updates and vote salts (created if missing)
  Evaluator evaluator;              ///< required for voting
  /// Voters judge each of the round's updates murmurd lists (UpdateListRequest) on their
  /// held-out rows and object to the harmful ones in their vote (objections.hpp, the
  /// simulator's rule); false: the vote carries no objection.
  bool object = true;
  ObjectionRule objections;
  /// Close a round (finalizeRound) that can be closed and that nobody closed for this long;
  /// negative: never (murmurd, or any other node, does it).
  std::chrono::milliseconds finalize_after{5000};
};

struct NodeLoopOptions {
  std::uint64_t chain_id = 31337;
  chain::Eip712Domain domain;           ///< the task contract's EIP-712 domain
  wire::DType dtype = wire::DTYPE_F32;  ///< how updates travel
  std::chrono::milliseconds poll{250};  ///< round polling interval
  std::uint64_t max_rounds = 0;  ///< stop after this many rounds have ended (0: until closed)
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};  ///< give up if nothing changes
  bool register_first = true;       ///< Register before the first round request
  std::optional<ChainCalls> chain;  ///< set: the task runs on AllianceTaskV2
  /// A murmurd shard set: clients of shards 0 .. S-1, in shard order (each shard's [shard]
  /// index), not registered yet; run_node's client is then the coordinator's. Empty: a single
  /// murmurd. Updates travel as f32 (`dtype` must be DTYPE_F32).
  std::vector<NodeClient*> shards;
  /// How messages name each shard (e.g. its endpoint); optional.
  std::vector<std::string> shard_names;
};

struct NodeLoopReport {
  std::uint64_t rounds_seen = 0, uploads = 0, votes = 0, skipped = 0;
  std::uint64_t reveals = 0, finalized = 0;  ///< AllianceTaskV2: votes revealed, rounds closed
  std::uint64_t objections = 0;  ///< AllianceTaskV2: updates objected to in committed votes
  bool closed = false;           ///< the task closed (STAGE_CLOSED)
};

/// Runs the loop described above with `key` as the node's chain key. Server refusals of an
/// upload or vote are logged to `log` (when given) and the node goes on with the next round;
/// ERR_NOT_REGISTERED, a TimeoutError and the idle timeout end the loop by exception. With
/// `options.shards`, a set that is not the coordinator's (check_shard_set) or a dtype other than
/// f32 ends it before anything is uploaded: ShardSetError / std::invalid_argument.
NodeLoopReport run_node(NodeClient& client, const chain::PrivateKey& key,
                        const NodeLoopOptions& options, const Trainer& trainer,
                        const VoteRule& vote_rule, std::ostream* log = nullptr);

}  // namespace murmur::client
