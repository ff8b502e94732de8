#pragma once
// murmurd's configuration, read from a TOML file (see server/murmurd.example.toml).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"
#include "murmur/chain/uint256.hpp"
#include "murmur/kernels/rules.hpp"

namespace murmur::server {

/// A staked node allowed in the task (from the participants file until the chain supplies it).
struct Participant {
  chain::Address address;
  chain::U256 stake;
};

/// [validation]: the task's model and a validation set; when present murmurd scores every
/// round's candidates after aggregation (model::validate_round).
struct ValidationConfig {
  std::vector<std::size_t> mlp;       ///< layer widths, e.g. {784, 128, 10}; empty: torchscript
  std::filesystem::path torchscript;  ///< a TorchScript module file (scored one at a time)
  // The set: exactly one of fashion_mnist, IDX images + labels, a labelled-tensor file.
  std::string fashion_mnist;                ///< "test" or "train": Debian's dataset-fashion-mnist
  std::filesystem::path fashion_mnist_dir;  ///< empty: /usr/share/datasets/fashion-mnist
  std::filesystem::path images, labels;     ///< IDX files (gzip or plain)
  std::filesystem::path labelled_tensors;   ///< a ".mlt" file (model/labelled_tensor_file.hpp)
  std::size_t max_rows = 0;                 ///< 0: every example; else the first max_rows
  /// x -> (x - mean) / std on every feature (the nodes' preprocessing); std > 0.
  double feature_mean = 0, feature_std = 1;
  std::size_t max_batch = 32;  ///< candidates per batched pass
};

/// [chain]: murmurd posts each round's outcome (AllianceTask.finalizeRound) itself. The
/// contract is task.contract and the chain task.chain_id: what the nodes sign their votes for.
struct ChainConfig {
  std::string rpc_url;             ///< e.g. http://127.0.0.1:8545
  std::filesystem::path key_file;  ///< the aggregator's key (chmod 600)
  std::filesystem::path outbox;    ///< empty: <data_dir>/outbox.db
  std::chrono::milliseconds receipt_timeout{120000};
};

/// [secagg]: rounds run SecAgg+ with bucketing instead of plaintext uploads (secagg/README.md):
/// the proposers of a round are put into groups of group_size drawn from the round seed, the
/// server learns only each group's sum, and [aggregation]'s rule runs across the group means.
struct SecAggConfig {
  bool enabled = false;
  std::uint32_t group_size = 5;  ///< s; 1 is plain robust aggregation, >= N one group
  std::uint32_t degree = 0;      ///< neighbours per node in a group; 0: complete graph
  std::uint32_t threshold = 0;   ///< shares that rebuild a secret; 0: a majority of neighbours
  double clip = 1.0;             ///< update coordinates are clipped to [-clip, clip]
  /// Deadlines of the five stages (advertise, share, check, masked, unmask). A stage also
  /// ends as soon as every node it waits for has answered.
  std::chrono::milliseconds advertise_window{30000}, share_window{30000}, check_window{30000},
      masked_window{60000}, unmask_window{30000};
};

/// [shard] (docs/sharding.md): this murmurd is shard `index` of a set of `count`, holding
/// coordinates [range_begin, range_end) of every update and of the model, or (role
/// "coordinator") the set's coordinator, serving the rendezvous store the shards meet at.
struct ShardConfig {
  bool coordinator = false;                    ///< role = "coordinator"
  std::size_t index = 0;                       ///< this shard's place, 0 .. count-1
  std::size_t count = 1;                       ///< S
  std::string coordinator_host = "127.0.0.1";  ///< the coordinator's store (shards connect)
  std::uint16_t coordinator_port = 29500;
  std::string host = "127.0.0.1";  ///< where this shard's peers reach its collective transport
  std::chrono::milliseconds timeout{30000};      ///< waits for the other shards, each collective
  std::uint64_t total_parameters = 0;            ///< D of the whole model ([task] parameters)
  std::uint64_t range_begin = 0, range_end = 0;  ///< this shard's coordinates
  /// A shard: the coordinator's Curve public key (Z85), admitted on the round endpoint to read
  /// candidate parts for its validation; empty: the coordinator cannot read them.
  std::string coordinator_key;
};

struct Config {
  // [server]
  std::string endpoint = "tcp://127.0.0.1:7770";           ///< round endpoint (ROUTER)
  std::string register_endpoint = "tcp://127.0.0.1:7771";  ///< registration endpoint (ROUTER)
  std::string metrics_address = "127.0.0.1";               ///< Prometheus text over HTTP
  int metrics_port = 0;                                    ///< 0: no metrics server
  std::filesystem::path data_dir = "murmur-data";          ///< spool, models, state.db
  bool curve = true;                                       ///< CurveZMQ on both endpoints
  std::string curve_secret_key;  ///< Z85 (40 chars); from curve_secret_key_file if empty
  std::size_t chunk_bytes = 4u << 20;
  std::size_t inflight_budget_bytes = 256u << 20;  ///< all peers' granted chunk credits
  /// Chunks one peer may have unacknowledged. A chunk is acknowledged once fsynced, so the
  /// window must cover the sync as well as the network: 8 x 4 MiB keeps one node's stream
  /// going through a ~5 ms sync at 1 GB/s plus a few ms of network.
  std::uint32_t peer_credits = 8;
  /// How long an UploadBegin that finds the budget spent waits for credits (answered the
  /// moment some return, oldest first) before ERR_BUSY; 0 refuses at once.
  std::chrono::milliseconds busy_wait{2000};
  /// A fault of the round engine (its tick, or answering waiting begins) that fails on every
  /// wake-up for this long ends the round as failed, with the fault as its reason; 0: never.
  std::chrono::milliseconds fault_limit{60000};
  /// Spooled update files (spool/r<N>) of the last this many ended rounds are kept; older
  /// ones are deleted when a round opens (never the current round's, nor one whose chain
  /// posting is not recorded yet). `murmur verify` reads a round's files: only kept rounds
  /// can be verified. 0: keep every round.
  std::uint64_t spool_keep_rounds = 16;
  double peer_messages_per_second = 2000;  ///< token bucket per peer
  /// curve = false (plain ZeroMQ: nothing encrypted, connections attributed by routing id) is
  /// for tests on a trusted host; murmurd refuses to start with it unless this is true.
  bool insecure_plaintext = false;
  /// The registration endpoint's own limits (its messages are at most 64 KiB and its queues
  /// small): live connections from all peers, from one IP address, and Register messages per
  /// second per IP address (a token bucket, checked before any signature is recovered).
  std::size_t register_max_connections = 256;
  std::size_t register_connections_per_address = 128;
  double register_messages_per_second = 200;
  /// Credit hoarding bound: an upload holding chunk credits must move at least
  /// min_upload_bytes_per_second (averaged since its credits were granted) once credit_grace
  /// has passed, or its credits return to the budget and its next chunk is refused ERR_BUSY.
  std::chrono::milliseconds credit_grace{10000};
  std::size_t min_upload_bytes_per_second = 64u << 10;
  std::string backend = "auto";  ///< auto, cpu or cuda

  // [task]
  std::uint64_t task_id = 1;
  std::uint64_t chain_id = 31337;
  chain::Address contract;       ///< EIP-712 verifying contract of the task
  std::uint64_t parameters = 0;  ///< D
  std::uint64_t rounds = 1;
  std::uint64_t proposer_bps = 5000;
  std::filesystem::path initial_model;  ///< raw f32 file; zeros when empty
  std::vector<Participant> participants;

  // [round]
  std::chrono::milliseconds upload_window{60000};
  std::chrono::milliseconds vote_window{30000};
  std::size_t quorum = 1;       ///< committed updates needed to aggregate
  std::size_t vote_quorum = 0;  ///< votes needed to decide; fewer: the round is rejected

  // [aggregation]: rule (a name or a full spec), the rule's parameters by name, nnm, bucket,
  // bucket_seed (kernels::AggregationTable, kernels/include/murmur/kernels/rule_registry.hpp).
  kernels::AggregationSpec aggregation;
  /// Flags (round record): coordinate-wise rules' rows farther from the aggregate than
  /// flag_ratio x the median distance; clipping rules' rows scaled by less than 1 / flag_ratio.
  double flag_ratio = 2.0;

  std::optional<ValidationConfig> validation;
  std::optional<ChainConfig> chain;
  /// [shard]: shard or coordinator of a shard set; absent: a single murmurd.
  std::optional<ShardConfig> shard;

  // [secagg]
  SecAggConfig secagg;
};

/// Reads `path`; relative file names inside resolve against its folder. Throws
/// std::runtime_error naming the file, the key and what was wrong.
Config load_config(const std::filesystem::path& path);

/// Parses a participants CSV ("address,stake" per line, '#' comments).
std::vector<Participant> load_participants(const std::filesystem::path& path);

}  // namespace murmur::server
