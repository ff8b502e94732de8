#pragma once
// The chain side of a simulation on an AllianceTask deployment (contracts/): a task whose
// participants are the simulated nodes, and, round by round, what the aggregator posts:
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
#include "murmur/chain/deployment.hpp"

namespace murmur::sim {

/// 10^18: one token of 18 decimals.
chain::U256 token_units(std::uint64_t tokens);
/// "1234.56" for an amount of 18-decimal base units (two decimals, truncated).
std::string format_tokens(const chain::U256& wei);

/// What create_simulation_task sets up.
struct ChainTaskSetup {
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
};

struct ChainTask {
  chain::U256 task_id;
  chain::Deployment deployment;
  std::vector<chain::Address> nodes;
};

/// Mints the pool (MockToken) and creates the task; for each node: sends it gas money, mints its
/// stake, and has it approve, stake and join. 2 + 5 N transactions. Progress lines to `log`.
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

/// One round's posting and its effect.
struct ChainPosting {
  bool abandoned = false;  ///< abandonRound instead of finalizeRound
  bool already_done = false;
  chain::Hash32 tx{};
  std::uint64_t block = 0, gas = 0;
  std::optional<chain::RoundFinalizedEvent> event;
  std::vector<NodeBalance> before, after;  ///< every node, in node order
  chain::U256 pool_before, pool_after;
  double seconds = 0;
};

struct ChainRoundOptions {
  std::string rpc = "http://127.0.0.1:8545";
  std::filesystem::path deployment;
  std::filesystem::path aggregator_key_file;  ///< empty: $MURMUR_CHAIN_KEY
  chain::U256 task_id;
  std::filesystem::path outbox;          ///< the Poster's SQLite journal
  std::uint64_t max_tries = 1ull << 27;  ///< find_prevrandao's bound
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
