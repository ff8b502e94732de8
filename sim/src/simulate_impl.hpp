#pragma once
// The simulation's state, shared by its setup (simulate.cpp) and its round stages
// (simulate_round.cpp).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/node_loop.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/server/server.hpp"
#include "murmur/server/state_view.hpp"
#include "murmur/sim/simulate.hpp"
#include "murmur/sim/simulate_data.hpp"

namespace murmur::sim {

// The simulated nodes are libmurmur-client's.
using client::ClientOptions;
using client::CurveKeyPair;
using client::derive_node_key;
using client::NodeClient;
using client::ServerError;
using client::Signer;
using client::TimeoutError;

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// splitmix64 over (a, b, c): independent seeds per purpose, node and round.
std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0);

enum Purpose : std::uint64_t { kPool = 1, kSplit, kByzantine, kTrain, kAttack, kTestRows, kInit };

/// The 32 bytes of a RoundInfo hash field; nullopt when it is not 32 bytes (no model).
std::optional<chain::Hash32> hash_of(const std::string& bytes);

/// "ERR_NON_FINITE: ..." for a ServerError, "timeout: ..." for a TimeoutError, else what().
std::string describe_error(const std::exception& e);

/// Runs work(i) for i in [0, count) on up to `workers` threads (the caller is one of them);
/// rethrows the first exception after all have finished.
void parallel_for(std::size_t count, unsigned workers,
                  const std::function<void(std::size_t)>& work);

/// The simulated nodes' own calls on AllianceTaskV2 (simulate_v2.cpp), each node through
/// client::ChainParticipant, the class `murmur node --rpc` uses: commitUpdate before an upload,
/// the judgement of the candidate and of each listed update (client/objections.hpp), commitVote
/// and revealVote; claim at the end. Mines a block every ChainRoundOptions::block_ms while it
/// lives. Reads back each round's settlement.
class V2Nodes {
 public:
  /// Node i's evaluator scores a model on node i's held-out rows (mean loss).
  V2Nodes(const ChainRoundOptions& options, const std::vector<chain::PrivateKey>& keys,
          const std::filesystem::path& state_dir, std::vector<client::Evaluator> evaluators);
  ~V2Nodes();
  const chain::Address& contract() const;
  std::vector<NodeBalance> balances();
  chain::V2TaskInfo task();
  chain::V2RoundInfo round(std::uint64_t round);
  /// The round in flight's participants in bitmap order, as node indices (throws if one is not
  /// a simulated node).
  std::vector<std::size_t> participants();
  /// Node `node` commits `hash` as its update of `round` (before uploading it).
  void commit_update(std::size_t node, std::uint64_t round, const chain::Hash32& hash);
  bool candidate_posted(std::uint64_t round);
  struct Vote {
    int score = 0;
    std::vector<std::size_t> objections;  ///< participant indices
    std::size_t participants = 0;
  };
  /// ChainParticipant::judge for node `node` (nullopt: the candidate is not posted yet).
  std::optional<Vote> judge(
      std::size_t node, std::uint64_t round, const chain::Hash32& candidate,
      std::span<const float> values, client::RoundContext& ctx,
      const std::vector<client::RoundUpdate>& updates,
      const std::function<std::vector<float>(const client::RoundUpdate&)>& fetch,
      const std::function<void(const std::string&)>& say);
  void commit_vote(std::size_t node, std::uint64_t round, const Vote& vote);
  /// Every node's pending reveals (and, as a fallback, closes): reveals made now.
  std::size_t tick(const std::function<void(const std::string&)>& say);
  bool revealing() const;
  /// The settlement of a closed `round`; `participant_node` as participants() gave it.
  ChainV2Round read_round(std::uint64_t round, const std::vector<std::size_t>& participant_node,
                          std::size_t nodes);
  /// The finalizeRound or abandonRound transaction of `round` (tx, block, gas).
  void closing_tx(std::uint64_t round, ChainPosting& p);
  /// Every node with a reward claims it (claim()); the amounts, in node order.
  std::vector<chain::U256> claim_all();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Simulation {
 public:
  Simulation(const SimulationOptions& o, const SimulationData& data, std::ostream* log);
  ~Simulation();
  SimulationReport run();

 private:
  void say(const std::string& line);
  void prepare_data();
  void start_server();
  void connect_nodes();
  /// Polls node 0's RoundInfo until `done` holds; throws after stage_timeout.
  wire::RoundInfo wait_for(const std::function<bool(const wire::RoundInfo&)>& done,
                           const std::string& what);
  void play_round(RoundRecord& rec, const wire::RoundInfo& start);
  void train_and_upload(RoundRecord& rec, const wire::RoundInfo& info);
  void vote(RoundRecord& rec, const wire::RoundInfo& info);
  void collect(RoundRecord& rec, const std::optional<chain::Hash32>& candidate);
  void post_on_chain(RoundRecord& rec, const std::optional<chain::Hash32>& candidate);
  // AllianceTaskV2 (simulate_v2.cpp).
  void start_v2();
  void vote_v2(RoundRecord& rec, const wire::RoundInfo& info);
  /// Waits for murmurd to close `rec.round` on chain and reads the settlement into rec.
  void settle_v2(RoundRecord& rec, const std::vector<NodeBalance>& before,
                 const chain::U256& pool_before, std::uint64_t rounds_left);
  /// The update's hash committed on chain by node i, then the upload (v2), or the upload (v1).
  void upload(RoundRecord& rec, std::size_t i, const std::vector<float>& values);
  /// Reveals pending votes at most every 200 ms (while waiting).
  void tick_v2();
  /// (accuracy, mean loss) on the test rows, cached by model hash.
  std::pair<double, double> score_on_test(const chain::Hash32& hash);
  Signer signer(std::size_t i) const { return {&keys_[i], domain_}; }

  const SimulationOptions& o_;
  const SimulationData& data_;
  std::ostream* log_;
  kernels::MlpShape shape_;
  unsigned workers_ = 1;
  std::unique_ptr<kernels::Backend> backend_;
  std::vector<NodeShare> shares_;
  std::vector<model::LabelledSet> holdout_;
  model::LabelledSet test_subset_;
  const model::LabelledSet* test_ = nullptr;
  std::vector<chain::PrivateKey> keys_;
  std::vector<chain::Address> addresses_;
  std::map<chain::Address, std::size_t> index_of_;
  std::vector<Attack> node_attack_;
  chain::Eip712Domain domain_;
  std::uint64_t task_id_ = 1;
  std::string endpoint_, register_endpoint_, server_key_;
  std::unique_ptr<server::Server> server_;
  std::filesystem::path records_dir_;
  std::unique_ptr<server::StateView> records_;  ///< murmurd's state.db, read-only
  std::shared_ptr<zmq::context_t> context_;
  std::vector<std::unique_ptr<NodeClient>> clients_;
  std::unique_ptr<ChainRounds> chain_;         ///< v1
  std::unique_ptr<V2Nodes> v2_;                ///< v2
  std::vector<std::size_t> participant_node_;  ///< v2: the round's bitmap order, node indices
  Clock::time_point last_tick_{};
  std::map<chain::Hash32, std::pair<double, double>> scored_;
  SimulationReport report_;
};

}  // namespace murmur::sim
