// GoogleTest fixture: one Hardhat node per test suite on a free loopback port, and helpers to
// fund keys, deploy the contracts from their artifacts and start rounds with chosen roles.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "murmur/chain/alliance.hpp"
#include "murmur/chain/alliance_v2.hpp"
#include "murmur/chain/deployment.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/poster.hpp"
#include "murmur/chain/rpc.hpp"
#include "murmur/testing/local_chain.hpp"

namespace murmur::chain::testing {

/// Mines a block every `period` on its own connection until destroyed.
class BlockProducer {
 public:
  BlockProducer(const std::string& url, std::chrono::milliseconds period)
      : thread_([this, url, period] {
          RpcClient rpc(url);
          while (!stop_) {
            rpc.call("evm_mine", nlohmann::json::array());
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~BlockProducer() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Seed of the test keys (printed by the fixture).
inline constexpr std::uint64_t kKeySeed = 5'000'001;

/// Sets `a`'s balance to 1000 ETH (hardhat_setBalance).
void fund(EthClient& eth, const Address& a);
/// Mints `params.reward_pool` to `creator` (MockToken's open mint), approves it to
/// `d.alliance_task` and creates the AllianceTask task; returns its id.
U256 create_task(Wallet& creator, const Deployment& d, const TaskParams& params);
/// The same on AllianceTaskV2 (`*d.alliance_task_v2`).
U256 create_task(Wallet& creator, const Deployment& d, const V2TaskParams& params);

/// Which task contract of a Deployment a node joins.
enum class TaskContract { alliance, alliance_v2 };
/// A task's node set up on chain: 1000 ETH on `node` (hardhat_setBalance), `stake` minted to it by
/// `minter` (MockToken's open mint), then from `node` approve, stake and join `task` on
/// `d.alliance_task` (AllianceTask) or `*d.alliance_task_v2` (AllianceTaskV2). The task set-up of
/// the tests that run murmurd, its nodes or a shard set against a Hardhat node.
void fund_stake_join(EthClient& eth, Wallet& minter, const Deployment& d, TaskContract contract,
                     const U256& task, const PrivateKey& node, const U256& stake);

class LocalChainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static std::filesystem::path repo() { return MURMUR_SOURCE_DIR; }
  /// A random key (from `rng`) with 1000 ETH set by hardhat_setBalance.
  PrivateKey funded_key(std::mt19937_64& rng);
  Wallet wallet(const PrivateKey& key) { return Wallet(*eth_, key); }
  /// Deploys MockToken and AllianceTask from contracts/artifacts with contract-creation
  /// transactions.
  Deployment deploy(Wallet& deployer);
  /// Deploys MockToken, AllianceTask and AllianceTaskV2 (contracts/scripts/deploy.js's set).
  Deployment deploy_with_v2(Wallet& deployer);
  /// Deploys one contract from contracts/artifacts/contracts/<name>.sol/<name>.json.
  Address deploy_artifact(Wallet& deployer, const std::string& name);
  /// Starts the task's next round with a prevrandao (hardhat_setPrevRandao) chosen so that each
  /// node gets the wanted role; returns (round, seed) and checks the on-chain seed is the
  /// predicted keccak256(prevrandao ‖ parent hash ‖ taskId ‖ round).
  std::pair<U256, Hash32> start_round_with_roles(Wallet& aggregator, const Address& contract,
                                                 const U256& task,
                                                 const std::vector<Address>& nodes,
                                                 const std::vector<Role>& roles,
                                                 std::uint64_t proposer_bps);
  std::string url() const { return node_->url(); }

  std::unique_ptr<RpcClient> rpc_;
  std::unique_ptr<EthClient> eth_;

 private:
  static HardhatNode* node_;
  static std::string start_error_;
};

}  // namespace murmur::chain::testing
