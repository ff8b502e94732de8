#pragma once
// The chain side of a simulation (contracts/): a task whose participants are the simulated nodes
// (create_simulation_task), on AllianceTaskV2 (the default; murmurd settles each round, the nodes
// commit and reveal their own votes: simulate.hpp) or on the old AllianceTask (v1). On v1,
// round by round, the simulation posts what the aggregator posts:
// startRound with the server's roles, then finalizeRound with the voters' signed votes and the
// flagged proposers (through chain::Poster and its outbox), or abandonRound when the server's
// round produced no candidate.
//
// murmurd draws roles from a local seed until it reads the contract's round seed. So that the
// chain's roles (keccak(seed, node) mod 10000 < proposerBps, seed from startRound's block) equal
// the server's, startRound is sent in a block whose prevrandao was chosen with
// hardhat_setPrevRandao: Hardhat and other local development chains only.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/deployment.hpp"

namespace murmur::sim {

/// 10^18: one token of 18 decimals.
chain::U256 token_units(std::uint64_t tokens);
/// "1234.56" for an amount of 18-decimal base units (two decimals, truncated).
std::string format_tokens(const chain::U256& wei);

/// Which task contract a simulation settles on.
enum class TaskContract {
  kV2,  ///< AllianceTaskV2 (issue 16): murmurd opens, posts and closes rounds; nodes vote on chain
  kV1,  ///< AllianceTask: the simulation posts startRound / finalizeRound with murmurd's votes
};
/// "v1" / "v2"; parse_task_contract throws std::invalid_argument on anything else.
const char* task_contract_name(TaskContract c);
TaskContract parse_task_contract(const std::string& name);

/// What create_simulation_task sets up.
struct ChainTaskSetup {
  TaskContract contract = TaskContract::kV1;  ///< `murmur simulate setup-chain`'s default: v2
  std::string rpc = "http://127.0.0.1:8545";
  std::filesystem::path deployment;  ///< contracts/scripts/deploy.js's JSON
  std::filesystem::path
      creator_key_file;       ///< pays the pool and the nodes' gas; empty: $MURMUR_CHAIN_KEY
  chain::Address aggregator;  ///< may post rounds; zero: the creator
  std::size_t nodes = 20;
  std::uint64_t seed = 1;  ///< node i's key is derive_node_key(seed, i)
  chain::U256 stake = token_units(1000);
  chain::U256 reward_pool = token_units(10000);
  std::uint64_t rounds = 10;
  std::uint64_t proposer_bps = 5000;
  std::uint64_t slash_bps = 1000;
  chain::Hash32 model_spec_hash{}, initial_model_hash{};
  chain::U256 gas_allowance = token_units(1);  ///< ETH sent to each node for its transactions
  // AllianceTaskV2 only (contracts/README.md, "AllianceTaskV2"); minStake is `stake`.
  std::uint64_t quorum_bps = 5000;     ///< revealed voter stake needed, of all voters' stake
  std::uint64_t tolerance_bps = 5000;  ///< |score - median| within this is near consensus
  std::uint64_t max_members = 0;       ///< 0: the number of nodes
  /// keccak256 of this text is the task's ruleHash; murmurd logs whether its rule matches
  /// (murmur verify recomputes with it). kernels::describe of murmurd's [aggregation].
  std::string rule;
  /// Chain seconds. A round ends as soon as everyone acted; the windows bound stragglers. With
  /// the simulation mining a block every 250 ms (ChainRoundOptions::block_ms) chain time runs
  /// about 4x wall time: propose 2400 s is about 10 minutes of training and upload.
  chain::V2Windows windows{2400, 1200, 1200, 1200, 12, 60, 10'000'000};
};

struct ChainTask {
  chain::U256 task_id;
  chain::Deployment deployment;
  chain::Address contract;  ///< the task's contract (AllianceTask or AllianceTaskV2)
  std::vector<chain::Address> nodes;
};

/// Mints the pool (MockToken) and creates the task on `setup.contract`'s contract (v2: the
/// deployment's allianceTaskV2); for each node: sends it gas money, mints its stake, and has it
/// approve, stake and join. 2 + 5 N transactions. Progress lines to `log`.
/// Throws chain errors (RevertError names the contract's error) and std::runtime_error.
ChainTask create_simulation_task(const ChainTaskSetup& setup, std::ostream* log = nullptr);

/// A prevrandao k in [1, max_tries] such that seed = round_seed(k, parent, task, round) gives
/// every node the wanted role (proposer[i] <=> keccak(seed ‖ nodes[i]) mod 10000 < bps), with
/// its seed; nullopt if none. Expected tries: 1 / prod_i P(role_i), 2^N at bps = 5000, about
/// 3 keccak-256 per try.
std::optional<std::pair<std::uint64_t, chain::Hash32>> find_prevrandao(
    const chain::Hash32& parent, const chain::U256& task, const chain::U256& round,
    const std::vector<chain::Address>& nodes, const std::vector<bool>& proposer,
    std::uint64_t proposer_bps, std::uint64_t max_tries);

struct NodeBalance {
  chain::U256 stake, reward;
  friend bool operator==(const NodeBalance&, const NodeBalance&) = default;
};

struct ChainRoundStart {
  chain::U256 round;
  chain::Hash32 seed{}, tx{};
  std::uint64_t prevrandao = 0;  ///< also the number of tries it took
  double seconds = 0;
};

/// One AllianceTaskV2 round as the chain settled it (read back after murmurd closed it).
struct ChainV2Round {
  chain::V2RoundState state = chain::V2RoundState::None;
  std::uint8_t abandon_reason = 0;  ///< Abandoned: alliance_v2::kAbandon*
  std::int64_t median = 0;
  bool accepted = false;
  chain::U256 revealed_stake, voter_stake, paid, slashed;
  std::uint64_t rounds_left = 0;  ///< totalRounds − finalizedRounds before the round
  /// Participant index → node index (the bitmap order of the round), as the chain bound them.
  std::vector<std::size_t> participant_node;
  /// Transactions the simulated nodes sent in the round.
  std::size_t update_commits = 0, vote_commits = 0, reveals = 0;
  /// Per node: its standing on chain and what the contract booked for it.
  std::vector<chain::U256> objection_stake, reward, slash;
};

/// One round's posting and its effect.
struct ChainPosting {
  bool abandoned = false;  ///< abandonRound instead of finalizeRound (v2: the round was abandoned)
  bool already_done = false;
  chain::Hash32 tx{};
  std::uint64_t block = 0, gas = 0;
  std::optional<chain::RoundFinalizedEvent> event;
  std::vector<NodeBalance> before, after;  ///< every node, in node order
  chain::U256 pool_before, pool_after;
  double seconds = 0;
  std::optional<ChainV2Round> v2;  ///< AllianceTaskV2: the settlement read back (event unset)
};

struct ChainRoundOptions {
  TaskContract contract = TaskContract::kV1;  ///< `murmur simulate`'s default: v2
  std::string rpc = "http://127.0.0.1:8545";
  std::filesystem::path deployment;
  /// v1: the simulation posts with it; v2: an in-process murmurd's [chain] key_file (an external
  /// murmurd has its own). Empty: $MURMUR_CHAIN_KEY.
  std::filesystem::path aggregator_key_file;
  chain::U256 task_id;
  std::filesystem::path outbox;          ///< v1: the Poster's SQLite journal
  std::uint64_t max_tries = 1ull << 27;  ///< v1: find_prevrandao's bound
  /// v2: the simulation mines a block (evm_mine) every this many ms while it runs; murmurd and
  /// the nodes wait for blocks (seed block, windows). 0: the chain makes its own blocks.
  std::uint64_t block_ms = 250;
};

/// The aggregator's chain session for the simulation's rounds. Not thread-safe.
class ChainRounds {
 public:
  /// Connects, checks the chain id against the deployment and that `nodes` are the task's
  /// members. Throws std::runtime_error saying what does not match.
  ChainRounds(const ChainRoundOptions& options, std::vector<chain::Address> nodes);
  ~ChainRounds();
  ChainRounds(const ChainRounds&) = delete;
  ChainRounds& operator=(const ChainRounds&) = delete;

  /// startRound for round `round` (it must be the task's next) with proposer[i] <=> node i is a
  /// proposer. Throws when no prevrandao within max_tries gives those roles, the chain is not a
  /// Hardhat node, or the mined seed is not the predicted one.
  ChainRoundStart start_round(std::uint64_t round, const std::vector<bool>& proposer);
  /// finalizeRound through the Poster (exactly once per round, journaled in the outbox).
  ChainPosting finalize(std::uint64_t round, const chain::Hash32& model_hash,
                        const std::vector<chain::SignedVote>& votes,
                        const std::vector<chain::Address>& flagged);
  /// abandonRound: no payouts, no slashing, the round does not count.
  ChainPosting abandon(std::uint64_t round);
  std::vector<NodeBalance> balances();
  chain::TaskInfo task();
  std::uint64_t slash_bps();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace murmur::sim
