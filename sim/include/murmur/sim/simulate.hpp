#pragma once
// `murmur simulate`: federated learning on Fashion-MNIST end to end through a real murmurd.
// N nodes, each with its own ZeroMQ connection (CurveZMQ, its own key pair, registered with its
// chain key), each holding a Dirichlet(alpha) share of the training set. Every round each
// proposer downloads the global model, trains it locally with libtorch and uploads its delta;
// each voter downloads the candidate and judges it on its own held-out rows. A fraction of the
// nodes is Byzantine (simulate_attacks.hpp). After each round: test accuracy of the global model
// on the 10,000 test images, the rule's per-row diagnostics, the votes and the outcome;
// optionally the round on chain (simulate_chain.hpp). Everything follows from one seed.
//
// On AllianceTaskV2 (ChainRoundOptions::contract v2) murmurd runs the chain side itself ([chain]:
// openRound, drawRoles, postCandidate, finalizeRound) and the nodes do what `murmur node --rpc`
// does (client::ChainParticipant): a proposer commits its update's hash on chain before the
// upload; a voter scores the candidate on its held-out rows (chain::graded_score), judges each
// update murmurd lists (client/objections.hpp), then commits and reveals its score and objection
// bitmap on chain itself. Byzantine voters (byzantine_votes_inverted) reveal the negated score
// and the complement of their objections (the incentive bench's contrarian). At the end every
// node claims its rewards. Without a chain, or on v1, a voter votes +1 when the candidate's loss
// on its rows is at most the global model's, and the votes go through murmurd.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "murmur/kernels/rule_registry.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/labelled_set.hpp"
#include "murmur/sim/simulate_attacks.hpp"
#include "murmur/sim/simulate_chain.hpp"
#include "murmur/sim/simulate_train.hpp"

namespace murmur::sim {

/// Where murmurd runs. In this process unless `endpoint` is set.
struct ServerTarget {
  // External murmurd: its endpoints and public key. Its data_dir (optional) is read for the
  // rule's diagnostics, the signed votes and the outcomes (SQLite, read-only).
  std::string endpoint, register_endpoint, server_public_key;
  std::filesystem::path data_dir;
  /// The EIP-712 domain updates and votes are signed for, without a chain (with one: the
  /// deployment's chain id and AllianceTask).
  std::uint64_t chain_id = 31337;
  chain::Address contract;
  // In-process murmurd (data in <work_dir>/server):
  /// The rule as murmurd's [aggregation] holds it (kernels/rule_registry.hpp): a name with its
  /// parameters by name (f, beta, m, tau, ...) and bucket, or a full spec in `rule`.
  std::string rule = "fedavg";
  kernels::Parameters rule_parameters;
  std::uint64_t bucket = 1;
  kernels::AggregationTable aggregation() const {
    return {rule, rule_parameters, false, bucket, 0};
  }
  std::uint64_t proposer_bps = 5000;
  double upload_seconds = 0;  ///< 0: measured (a calibration run of one node's training)
  double vote_seconds = 30;
  std::string backend = "cpu";
  bool server_logs = false;  ///< keep murmurd's info lines (spdlog); otherwise warnings only
  bool in_process() const { return endpoint.empty(); }
};

struct SimulationOptions {
  std::size_t nodes = 20;
  std::size_t rounds = 10;
  std::uint64_t seed = 1;      ///< keys, data split, Byzantine choice, training order, attacks
  double alpha = 0.5;          ///< Dirichlet concentration (smaller: more non-IID)
  double holdout = 0.1;        ///< share of each node's rows kept for voting
  std::size_t train_rows = 0;  ///< training rows used (0: all 60,000)
  std::size_t test_rows = 0;   ///< test rows scored each round (0: all 10,000)
  std::size_t min_node_rows = 10;
  std::string shape = "784-128-10";
  LocalTraining training;
  std::size_t byzantine = 0;    ///< Byzantine nodes, chosen by a seeded permutation
  std::vector<Attack> attacks;  ///< assigned to the Byzantine nodes in turn
  AttackParams attack_params;
  /// Byzantine voters vote against what their held-out rows say (otherwise they vote honestly).
  bool byzantine_votes_inverted = true;
  /// Coordinate-wise rules keep every finite row: a row is flagged when its distance to the
  /// aggregate exceeds flag_ratio x the median distance (the rule's score). Krum-family rules
  /// flag the rows they reject. Every rule flags non-finite rows and absent proposers.
  double flag_ratio = 2.0;
  unsigned workers = 0;  ///< training threads (0: hardware threads)
  ServerTarget server;
  std::optional<ChainRoundOptions> chain;
  chain::U256 stake = token_units(1000);  ///< in-process: every participant's stake
  std::filesystem::path work_dir;         ///< in-process server data, the outbox
  std::filesystem::path data_dir = model::kFashionMnistDir;
  std::chrono::seconds stage_timeout{600};  ///< give up when a stage does not end in time
};

/// Fashion-MNIST in memory, loaded once and shared by the runs of a grid.
struct SimulationData {
  model::LabelledSet train, test;
  /// Reads the training and test sets; with `standardize`, every pixel becomes
  /// (x - mean) / std with the training set's mean and standard deviation over all pixels (the
  /// task's preprocessing, applied to both sets: plain SGD on an MLP converges much faster).
  static SimulationData load(const std::filesystem::path& dir = model::kFashionMnistDir,
                             bool standardize = true);
  double mean = 0, std = 1;  ///< the standardisation applied
};

/// One node in one round.
struct NodeRound {
  bool proposer = false, byzantine = false;
  bool committed = false;
  std::string refusal;  ///< the server's refusal of its upload or vote (error code name: text)
  std::string verdict;  ///< the rule's diagnostics ("kept", "rejected by rule", ...)
  double weight = 0, score = 0, distance = 0;
  bool flagged = false;
  int vote = 0;  ///< voters: +1, -1 (0: no vote); v2: the sign of the score (0 ≥ counts +1)
  double holdout_loss_global = 0, holdout_loss_candidate = 0;
  // AllianceTaskV2:
  int vote_score = 0;                ///< voters: the graded score committed (bps)
  std::vector<std::size_t> objects;  ///< voters: participant indices objected to
  bool chain_committed = false;      ///< an update hash (proposers) or a vote committed on chain
  bool revealed = false;             ///< voters: the vote was revealed on chain
  bool included = false;             ///< proposers: in the posted bitmap
  bool objected = false;             ///< proposers: objected to by the revealed stake majority
};

struct RoundRecord {
  std::uint64_t round = 0;
  double accuracy = 0, loss = 0;  ///< global model after the round, on the test rows
  /// The candidate's test accuracy (NaN when the round produced none that was seen).
  double candidate_accuracy = std::numeric_limits<double>::quiet_NaN();
  std::string outcome;            ///< the server's
  bool accepted = false;          ///< the global model moved to the candidate
  std::string candidate, global;  ///< hashes (0x...)
  std::size_t proposers = 0, byzantine_proposers = 0, committed = 0, refused = 0;
  std::size_t votes_for = 0, votes_against = 0;
  std::vector<std::size_t> flagged;  ///< node indices
  std::vector<NodeRound> nodes;
  double train_seconds = 0, aggregate_seconds = 0, vote_seconds = 0, chain_seconds = 0, seconds = 0;
  std::optional<ChainRoundStart> chain_start;
  std::optional<ChainPosting> chain_post;
  std::string chain_error;
};

struct SimulationReport {
  std::string rule, shape, attacks;  ///< descriptions
  std::size_t nodes = 0, parameters = 0;
  double alpha = 0;
  std::uint64_t seed = 0;
  std::vector<std::string> addresses;
  std::vector<std::size_t> byzantine;  ///< node indices
  std::vector<Attack> node_attack;     ///< per node (kNone: honest)
  std::vector<std::size_t> train_rows, holdout_rows;
  double initial_accuracy = 0;
  std::vector<RoundRecord> rounds;
  std::optional<std::vector<NodeBalance>> initial_balances;
  std::string contract;              ///< "v1", "v2" or "" (no chain)
  std::vector<chain::U256> claimed;  ///< v2: what each node claimed at the end
  double upload_window_seconds = 0;
  double seconds = 0;
  double final_accuracy() const {
    return rounds.empty() ? initial_accuracy : rounds.back().accuracy;
  }
};

/// The initial global model of a simulation from `seed` (initial_model under the seed's own
/// stream): what run_simulation starts from and what `murmur simulate setup-chain` commits to.
std::vector<float> simulation_initial_model(const kernels::MlpShape& shape, std::uint64_t seed);

/// Runs the simulation; one progress line per round to `log`. Throws std::runtime_error when
/// the server, the chain or the data cannot be used, or a stage does not end within
/// stage_timeout.
SimulationReport run_simulation(const SimulationOptions& options, const SimulationData& data,
                                std::ostream* log = nullptr);

/// A few lines per round as the demo prints them (accuracy, flags, vote or scores and objections,
/// transactions, balances).
std::string describe_round(const SimulationReport& report, const RoundRecord& round);

/// The run's money by group, the demo's last lines: for the honest and the Byzantine nodes, the
/// sum and mean of (stake + reward at the end) − (at the start) in tokens, as the chain holds
/// them. Without a chain: a line saying no stake moved.
std::string describe_totals(const SimulationReport& report);

/// Writes rounds.csv, accuracy.png and report.html (accuracy plot, per-round table, rewards and
/// slashes per node) into `dir`.
void write_simulation_report(const SimulationReport& report, const std::filesystem::path& dir);

}  // namespace murmur::sim
