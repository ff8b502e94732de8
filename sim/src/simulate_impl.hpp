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
  std::unique_ptr<ChainRounds> chain_;
  std::map<chain::Hash32, std::pair<double, double>> scored_;
  SimulationReport report_;
};

}  // namespace murmur::sim
