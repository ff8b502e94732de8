// murmurd settles its own rounds on a real chain ([chain] in its configuration): a Hardhat node
// on a free loopback port, AllianceTask deployed from the artifacts, six nodes staked and
// joined. murmurd opens each round with startRound (whose seed decides the roles it hands
// out), and at the end posts finalizeRound with the voters' signatures and the flagged
// proposers (one stayed silent: it goes unpaid), or abandonRound when no quorum was reached.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/client/node_client.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/update_source.hpp"
#include "murmur/server/server.hpp"
#include "network.hpp"
#include "state_store.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using chain::U256;

constexpr std::size_t kNodes = 6;
constexpr std::uint64_t kParameters = 1000;
constexpr std::uint64_t kStake = 100, kProposerBps = 5000, kSlashBps = 1000;

class MurmurdOnChain : public chain::testing::LocalChainTest {};

/// Waits (bounded) until `done(snapshot)`.
template <typename Done>
server::RoundSnapshot wait_until(const server::Server& s, Done done, std::chrono::seconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  auto snap = s.snapshot();
  while (!done(snap) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
    snap = s.snapshot();
  }
  return snap;
}

TEST_F(MurmurdOnChain, RoundsAreOpenedFinalizedAndAbandonedByMurmurdItself) {
  std::mt19937_64 rng(20261122);
  const chain::PrivateKey aggregator_key = funded_key(rng);
  chain::Wallet creator = wallet(funded_key(rng));
  chain::Wallet aggregator = wallet(aggregator_key);
  const chain::Deployment dep = deploy(creator);
  chain::AllianceTaskContract alliance(*eth_, dep.alliance_task);

  const U256 pool(1'000'000);
  const chain::TaskParams params{dep.token,
                                 pool,
                                 U256(2),
                                 U256(kStake),
                                 U256(kProposerBps),
                                 U256(kSlashBps),
                                 aggregator.address(),
                                 chain::keccak256(std::string_view("spec")),
                                 chain::keccak256(std::string_view("model 0"))};
  const U256 task = chain::testing::create_task(creator, dep, params);

  // The nodes of network.hpp (murmurd's participants), staked and joined on chain.
  std::vector<chain::PrivateKey> keys;
  std::vector<chain::Address> addresses;
  for (std::size_t i = 0; i < kNodes; ++i) {
    keys.push_back(client::derive_node_key(kKeySeed, i));
    addresses.push_back(keys.back().address());
    chain::testing::fund_stake_join(*eth_, creator, dep, chain::testing::TaskContract::alliance,
                                    task, keys.back(), U256(kStake));
  }

  TempDir dir("murmur-chain-posting");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  // No participants file: with [chain] murmurd takes the participants and their stakes from
  // the contract (registration below fails for anyone it does not list).
  cfg.participants.clear();
  cfg.task_id = task.to_u64();
  cfg.chain_id = creator.chain_id();
  cfg.contract = dep.alliance_task;
  cfg.rounds = 2;
  cfg.proposer_bps = kProposerBps;
  cfg.quorum = 3;
  cfg.vote_quorum = 1;
  cfg.upload_window = 5s;  // proposer 3 stays silent: round 1 waits for the deadline
  cfg.vote_window = 20s;
  server::ChainConfig chain_cfg;
  chain_cfg.rpc_url = url();
  chain_cfg.key_file = dir.path() / "aggregator.key";
  chain::write_key_file(chain_cfg.key_file, aggregator_key);
  cfg.chain = chain_cfg;

  // The next block's prevrandao is chosen so that startRound's seed makes nodes 0-3 proposers
  // and 4-5 voters (murmurd mines that block itself, when it is constructed).
  const auto parent = chain::hash_from_hex(
      eth_->raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}))
          .at("hash")
          .get<std::string>());
  const std::vector<chain::Role> roles = {chain::Role::Proposer, chain::Role::Proposer,
                                          chain::Role::Proposer, chain::Role::Proposer,
                                          chain::Role::Voter,    chain::Role::Voter};
  chain::Hash32 expected_seed{};
  for (std::uint64_t k = 1; k <= 200'000 && expected_seed == chain::Hash32{}; ++k) {
    const chain::Hash32 seed = chain::round_seed(U256(k), parent, task, U256(1));
    bool all = true;
    for (std::size_t i = 0; i < kNodes && all; ++i)
      all = chain::role_of(seed, addresses[i], kProposerBps) == roles[i];
    if (!all) continue;
    eth_->raw("hardhat_setPrevRandao",
              nlohmann::json::array({chain::to_hex(U256(k).to_be_bytes())}));
    expected_seed = seed;
  }
  ASSERT_NE(expected_seed, chain::Hash32{}) << "no prevrandao gives the wanted roles";

  server::Server srv(cfg);
  const auto round1 = alliance.get_round(task, U256(1));
  ASSERT_EQ(round1.state, 1) << "murmurd did not open round 1 on chain";
  ASSERT_EQ(chain::to_hex(round1.seed), chain::to_hex(expected_seed));
  srv.start();

  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  std::vector<std::unique_ptr<client::NodeClient>> clients;
  for (std::size_t i = 0; i < kNodes; ++i) {
    clients.push_back(
        std::make_unique<client::NodeClient>(client_options(cfg, srv.curve_public_key())));
    clients.back()->register_node(keys[i], cfg.chain_id);
    const auto info = clients.back()->round_info();
    EXPECT_EQ(info.role(),
              roles[i] == chain::Role::Proposer ? wire::ROLE_PROPOSER : wire::ROLE_VOTER)
        << "node " << i << ": murmurd's roles are not the chain's";
  }
  for (std::size_t i = 0; i < 3; ++i) {
    const client::SyntheticUpdate update(kKeySeed, i, kParameters, wire::DTYPE_F32);
    clients[i]->upload_update(cfg.task_id, 1, update, 10, {&keys[i], domain});
  }
  const auto voting = wait_until(
      srv, [](const auto& s) { return s.stage == wire::STAGE_VOTING; }, 30s);
  ASSERT_EQ(voting.stage, wire::STAGE_VOTING) << voting.last_outcome;
  clients[4]->vote(cfg.task_id, 1, voting.candidate_model, 1, 0.5, {&keys[4], domain});
  clients[5]->vote(cfg.task_id, 1, voting.candidate_model, 1, 0.6, {&keys[5], domain});

  // Round 2: nobody uploads; no quorum; murmurd abandons it on chain and closes the task.
  const auto closed = wait_until(
      srv, [](const auto& s) { return s.stage == wire::STAGE_CLOSED; }, 60s);
  ASSERT_EQ(closed.stage, wire::STAGE_CLOSED) << closed.last_outcome;
  clients.clear();
  srv.stop();

  server::StateStore store(cfg.data_dir);
  const auto r1 = store.round_record(1);
  ASSERT_TRUE(r1 && r1->decision && r1->posting);
  EXPECT_EQ(r1->decision->outcome, server::RoundOutcome::kAccepted);
  EXPECT_EQ(r1->decision->stake_for, U256(2 * kStake));  // the two voters' stakes on chain
  EXPECT_EQ(r1->posting->state, "finalized") << r1->posting->error;
  EXPECT_NE(r1->posting->tx, chain::Hash32{});
  const auto settled = alliance.get_round(task, U256(1));
  EXPECT_EQ(settled.state, 2);  // Finalized
  EXPECT_TRUE(settled.accepted);
  EXPECT_EQ(chain::to_hex(settled.model_hash), chain::to_hex(voting.candidate_model));
  // The silent proposer was flagged: unpaid (an accepted round slashes only voters against
  // it); the proposers that delivered and the voters for it share the round's reward.
  const auto silent = alliance.node_info(task, addresses[3]);
  EXPECT_EQ(silent.stake, U256(kStake));
  EXPECT_EQ(silent.reward, U256(0));
  for (std::size_t i = 0; i < 3; ++i) {
    const auto info = alliance.node_info(task, addresses[i]);
    EXPECT_EQ(info.stake, U256(kStake)) << "node " << i;
    EXPECT_FALSE(info.reward == U256(0)) << "node " << i;
  }

  const auto r2 = store.round_record(2);
  ASSERT_TRUE(r2 && r2->decision && r2->posting);
  EXPECT_EQ(r2->decision->outcome, server::RoundOutcome::kNoQuorum);
  EXPECT_EQ(r2->posting->state, "abandoned") << r2->posting->error;
  EXPECT_EQ(alliance.get_round(task, U256(2)).state, 3);  // Abandoned
}

}  // namespace
}  // namespace murmur::testing
