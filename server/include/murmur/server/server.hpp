#pragma once
// murmurd in process: the round engine, ingest over ZeroMQ, the spool, aggregation through the
// kernels, metrics. Used by the murmurd binary and by tests and benchmarks.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "murmur/chain/address.hpp"

#include "murmur/chain/bytes.hpp"
#include "murmur/server/config.hpp"

namespace murmur::server {

/// What a round looks like from outside, for tests and status.
struct RoundSnapshot {
  std::uint64_t round = 0;
  int stage = 0;  ///< wire::Stage
  std::size_t committed_updates = 0;
  std::size_t votes = 0;
  chain::Hash32 global_model{};
  chain::Hash32 candidate_model{};
  std::string last_outcome;  ///< why the previous round ended
  std::string backend;       ///< the aggregation backend in use
  std::uint64_t faults = 0;  ///< the round engine's faults in this round (murmur_faults_total)
  std::string failing;       ///< "class: first error" of a fault failing now; "" when none
};

/// What the last SecAgg+ round's aggregation saw: each group's Z_2^32 sum and who is in it —
/// sums over groups, never an individual update (a group of one is one by configuration).
struct SecAggOutcome {
  std::uint64_t round = 0;
  std::vector<std::vector<std::uint32_t>> group_sums;        ///< groups that produced a sum
  std::vector<std::vector<chain::Address>> group_survivors;  ///< whose inputs each sum holds
  std::vector<chain::Address> dropped;                       ///< dealt keys, sent no masked input
  std::vector<std::string> excluded;       ///< "0x…: reason" for nodes excluded at share time
  std::vector<std::string> failed_groups;  ///< groups whose round failed, with the reason
};

/// The roles' seed of `round` when no [chain] supplies startRound's:
/// keccak256("murmur.local-seed.v1" || task_id || round), both big-endian u64.
chain::Hash32 local_seed(std::uint64_t task_id, std::uint64_t round);

class Server {
 public:
  /// Opens (or resumes) the spool in config.data_dir; binds nothing yet.
  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds the endpoints and starts serving on background threads.
  void start();
  /// Stops serving and joins the threads; state on disk stays as it is.
  void stop();

  /// The server's CurveZMQ public key (Z85, 40 characters) for nodes' configuration.
  std::string curve_public_key() const;
  RoundSnapshot snapshot() const;
  /// The last SecAgg+ round's outcome (round 0 when none has aggregated yet).
  SecAggOutcome last_secagg() const;
  /// The port the metrics server listens on (0 when disabled).
  int metrics_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The round records of the murmurd whose data directory is `data_dir` (state.db), as JSON:
/// an array of objects, oldest round first (only `round` when given), each with the outcome,
/// the vote's tally, the flags, the validation figures and each update's diagnostics and
/// contribution (NaN as null). Throws std::runtime_error when there is no state.db there.
std::string round_records_json(const std::filesystem::path& data_dir,
                               std::optional<std::uint64_t> round = std::nullopt);

/// A new CurveZMQ key pair as Z85 (public, secret).
std::pair<std::string, std::string> curve_keypair();

}  // namespace murmur::server
