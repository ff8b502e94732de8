#pragma once
// `murmur bench incentives`: who earns and who loses under AllianceTaskV2's settlement. Each run
// is the demo's scenario played in process (no ZeroMQ, no chain): N nodes with Dirichlet(alpha)
// shares of Fashion-MNIST, roles drawn per round as the contract draws them, proposers training
// locally (libtorch) or attacking, the aggregator screening and aggregating the updates with a
// robust rule, every voter scoring the candidate on its own held-out rows (a graded score,
// chain::graded_score) and objecting to updates that make its loss much worse, and the
// round settled by chain::settle_median_round, the C++ twin of the contract's MedianSettlement
// (checked against it on contracts/test/median_cases.json). Stakes, rewards and the pool are
// kept in token wei (U256) exactly as the contract books them.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "murmur/chain/uint256.hpp"
#include "murmur/sim/simulate.hpp"
#include "murmur/sim/simulate_attacks.hpp"
#include "murmur/sim/simulate_train.hpp"

namespace murmur::sim {

/// How a node votes when it is a voter.
enum class VoteBehaviour {
  kHonest,      ///< its graded score and objections from its held-out rows
  kAlwaysUp,    ///< +10000 whatever the candidate, no objection, without evaluating
  kContrarian,  ///< evaluates, then reveals the negated score and the complement of its objections
  kAbstain,     ///< does no work: commits no vote (neither paid nor slashed)
};

/// A kind of node: what it uploads as a proposer and how it votes as a voter. The Byzantine
/// kinds attack in one role and behave honestly in the other, except the free rider, which does
/// no work in either (a zero update, no vote).
struct NodeKind {
  std::string name = "honest";
  Attack update = Attack::kNone;
  VoteBehaviour vote = VoteBehaviour::kHonest;
  friend bool operator==(const NodeKind&, const NodeKind&) = default;
};

/// The Byzantine kinds of the bench, in order: sign-flip, alie, ipm, label-flip, free-ride,
/// always-up, contrarian.
std::vector<NodeKind> incentive_kinds();
/// One of incentive_kinds() (or "honest") by name; throws std::invalid_argument listing them.
NodeKind parse_incentive_kind(std::string_view name);

/// The task's settlement parameters (AllianceTaskV2's, contracts/README.md) and the node-side
/// thresholds of voting and screening.
struct SettlementKnobs {
  std::uint64_t proposer_bps = 5000;  ///< as the demo: half the nodes propose
  std::uint64_t slash_bps = 1000;     ///< 10 % of a loser's stake, as the demo
  std::uint64_t quorum_bps = 5000;    ///< revealed voter stake needed, of all voters' stake
  /// |score − median| ≤ this is "near consensus" (paid); farther is slashed. Honest voters'
  /// scores of one candidate spread with their non-IID rows (sim/README.md, "Incentives").
  std::uint64_t tolerance_bps = 5000;
  /// A voter objects to a proposer whose update, taken at objection_scale times its share of a
  /// plain mean of the round's P updates, does worse on the voter's held-out rows than the
  /// round's typical update by more than this: with
  /// a_j = graded_score(loss(global), loss(global + objection_scale · update_j / P)),
  ///   a_i < median_j(a_j) − objection_bps   (or a_i < −objection_bps, objection_relative off).
  /// (The update alone at full size is no evidence: any honest non-IID update alone raises the
  /// loss on most other nodes' rows, sim/README.md "Incentives".)
  int objection_bps = 1200;
  /// Judge each update against the voter's own median score over the round's updates (true)
  /// or against no change (false).
  bool objection_relative = true;
  /// The size at which a voter evaluates each update: global + objection_scale · update / P.
  double objection_scale = 3.0;
  /// The voter's median update (the reference of objection_relative) over distinct updates only:
  /// copies of one vector (ALIE's colluders, free riders' zero updates) count once.
  bool objection_median_distinct = true;
  /// The aggregator's screening before the rule: an update whose L2 norm is outside
  /// [min_norm_ratio, max_norm_ratio] x the median norm of the round's committed updates is left
  /// out of the candidate (excluded: it earns nothing and costs nothing; the voters' objections
  /// still apply to it). A zero update is always left out.
  double min_norm_ratio = 0.25;
  double max_norm_ratio = 3.0;
  /// The aggregator also leaves out every update that is a copy of another proposer's update of
  /// the round (L2 distance ≤ 1e-6 × the larger norm): both copies, since it cannot tell which
  /// was trained. Colluding ALIE proposers all send the same vector; a lazy node that copies
  /// another's upload does too.
  bool exclude_copies = true;
  chain::U256 stake;  ///< every node's stake at the start (0: 1000 tokens)
  chain::U256 pool;   ///< the reward pool (0: 10,000 tokens)
};

struct IncentiveRunOptions {
  std::size_t nodes = 20;
  std::size_t rounds = 20;
  std::uint64_t seed = 1;
  double alpha = 0.5;
  double byzantine_fraction = 0.2;  ///< round(fraction x nodes) nodes, a seeded choice
  NodeKind kind;                    ///< of every Byzantine node
  std::string shape = "784-32-10";
  std::size_t train_rows = 20000;  ///< rows split among the nodes (0: all 60,000)
  std::size_t test_rows = 2000;    ///< test rows scored per round (0: all 10,000)
  std::size_t min_node_rows = 20;
  double holdout = 0.2;  ///< share of each node's rows kept for voting
  LocalTraining training;
  AttackParams attack_params;
  std::string rule = "trimmed-mean(beta=0.2)";  ///< kernels/rule_registry.hpp grammar
  SettlementKnobs settlement;
  unsigned workers = 0;  ///< training threads (0: hardware threads)
};

/// One revealed vote of a round.
struct IncentiveVote {
  std::size_t voter = 0;
  int score = 0;  ///< as revealed
  /// The voter's own evaluation (the revealed score for always-up, which does not evaluate).
  int honest_score = 0;
  std::size_t objections = 0;
  /// Committed updates on which its objection bits differ from the objection consensus, and
  /// whether that made it far from it (more than half of them, at least two: slashed whatever
  /// its score; chain::MedianRoundSettlement::objection_disagreements).
  std::size_t disagreements = 0;
  bool far_objections = false;
  bool paid = false, slashed = false;
  /// The voter's own evaluation (NaN for always-up, which does not evaluate): mean loss on its
  /// held-out rows of the global model and of the candidate.
  double loss_before = 0, loss_after = 0;
  /// Per update of the round (IncentiveRound::proposals order): graded_score(loss(global),
  /// loss(global + update / P)) on the voter's rows, and whether the revealed vote objects to it.
  std::vector<int> update_scores;
  std::vector<bool> objects_to;
};

/// One proposer's update in a round.
struct IncentiveProposal {
  std::size_t proposer = 0;
  double norm_ratio = 0;  ///< its L2 norm / the median norm of the round's updates
  bool included = false;
  /// The median over the round's evaluating voters of graded_score(loss(global),
  /// loss(global + update / P)): the objection evidence.
  int median_alone_score = 0;
  double objection_share = 0;  ///< objecting stake / revealed stake
  bool paid = false, slashed = false;
};

/// One round as settled.
struct IncentiveRound {
  std::uint64_t round = 0;
  bool candidate = false;  ///< the aggregator posted one (else: abandoned, nothing moves)
  bool quorum = false, accepted = false;
  int median = 0;
  double accuracy = 0;  ///< the global model's test accuracy after the round
  double candidate_accuracy = 0;
  std::size_t proposers = 0, included = 0, objected = 0, voters = 0, voters_slashed = 0;
  chain::U256 pot, paid, slashed, creator_credit;
  std::vector<IncentiveVote> votes;
  std::vector<IncentiveProposal> proposals;
  /// Σ stake + Σ reward + pool + creator, which no round may change.
  chain::U256 total_before, total_after;
};

/// One node over a run.
struct IncentiveNode {
  std::string kind;  ///< "honest" or the Byzantine kind's name
  bool byzantine = false;
  chain::U256 stake_start, stake_end, rewards, slashes;
  std::size_t proposer_rounds = 0, voter_rounds = 0, paid_rounds = 0, slashed_rounds = 0;
  /// In tokens: (stake_end + rewards − stake_start) / 1e18.
  double net_tokens() const;
  bool net_negative() const { return stake_end + rewards < stake_start; }
};

struct IncentiveRun {
  std::uint64_t seed = 0;
  double alpha = 0;
  std::string kind;
  std::vector<IncentiveNode> nodes;
  std::vector<IncentiveRound> rounds;
  double initial_accuracy = 0, final_accuracy = 0, seconds = 0;
  chain::U256 pool_end, creator_end;
};

/// Plays one run. Throws std::runtime_error when the data does not fit the model, and
/// std::logic_error if a round does not conserve tokens (a bug, never expected).
IncentiveRun run_incentives(const IncentiveRunOptions& options, const SimulationData& data);

struct IncentiveBenchOptions {
  IncentiveRunOptions base;  ///< seed, alpha and kind are set per run
  std::vector<std::uint64_t> seeds = {1, 2, 3, 4, 5};
  std::vector<double> alphas = {0.1, 0.5, 1.0};
  std::vector<NodeKind> kinds = incentive_kinds();
  std::filesystem::path out_dir = "incentives";
};

/// The aggregate of one (alpha, kind) cell over its seeds.
struct IncentiveCell {
  double alpha = 0;
  std::string kind;
  std::size_t honest_pairs = 0, byzantine_pairs = 0;  ///< (node, seed) pairs
  double honest_mean = 0, byzantine_mean = 0;         ///< net, tokens
  double honest_nonnegative = 0;                      ///< share of honest pairs with net ≥ 0
  double byzantine_negative = 0;                      ///< share of Byzantine pairs with net < 0
  double byzantine_max = 0;                           ///< the largest Byzantine net
  double accepted = 0;                                ///< share of rounds accepted
  double final_accuracy = 0;                          ///< mean over seeds
};

/// Cells in (alpha, kind) order of the runs given.
std::vector<IncentiveCell> summarize_incentives(const std::vector<IncentiveRun>& runs);

/// Every (alpha, kind, seed) run; after each, incentives.csv is rewritten; at the end the
/// Markdown table, the plot and the per-round CSV (write_incentive_report). One line per run
/// to `log`.
std::vector<IncentiveRun> run_incentive_bench(const IncentiveBenchOptions& options,
                                              const SimulationData& data,
                                              std::ostream* log = nullptr);

/// incentives.csv (one row per node per run: seed, alpha, kind, node, role counts, stake start
/// and end, rewards, slashes, net in wei and tokens), rounds.csv (one row per round per run),
/// votes.csv and proposals.csv (one row per revealed vote and per update: the evidence),
/// incentives.md (the table of summarize_incentives with the acceptance checks) and
/// incentives.png (mean net of honest and Byzantine nodes per kind, one panel per alpha).
void write_incentive_report(const std::vector<IncentiveRun>& runs,
                            const std::filesystem::path& dir);

/// The Markdown table of the cells (what the bench prints).
std::string incentive_table(const std::vector<IncentiveCell>& cells);

}  // namespace murmur::sim
