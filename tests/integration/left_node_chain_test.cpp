// Issue 16, finding 8, on a real chain: a node that leaves the task on chain (AllianceTask on a
// Hardhat node) between two rounds keeps its bound Curve key, so murmurd's ZAP still admits it;
// in the next round, whose participants murmurd re-reads when it opens, the node can neither
// upload nor vote (ERR_NOT_REGISTERED) and the round completes for the others.
//
// AllianceTask lets a node leave only while no round binds it: between finalizeRound and the next
// startRound, which murmurd sends back to back. The test holds the blocks (automine off) to
// put the leave there: it mines the block with finalizeRound, then one with the leave, then the
// one with startRound (with a prevrandao chosen so that round 2 has a proposer and a voter).
#include <gtest/gtest.h>

#include <algorithm>
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

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using chain::U256;
using nlohmann::json;

constexpr std::size_t kNodes = 5;
constexpr std::size_t kLeaver = 4;
constexpr std::uint64_t kParameters = 256;
constexpr std::uint64_t kStake = 100, kProposerBps = 5000;

class LeftNodeOnChain : public chain::testing::LocalChainTest {
 protected:
  /// Sets the next block's prevrandao so that startRound(`round`) mined on top of the latest
  /// block gives each of `nodes` the role `wanted(i, is_proposer)` accepts.
  template <class Wanted>
  bool choose_roles(const U256& task, std::uint64_t round, const std::vector<chain::Address>& nodes,
                    Wanted wanted) {
    const auto parent =
        chain::hash_from_hex(eth_->raw("eth_getBlockByNumber", json::array({"latest", false}))
                                 .at("hash")
                                 .get<std::string>());
    for (std::uint64_t k = 1; k <= 200'000; ++k) {
      const chain::Hash32 seed = chain::round_seed(U256(k), parent, task, U256(round));
      std::vector<bool> proposer;
      for (const auto& a : nodes)
        proposer.push_back(chain::role_of(seed, a, kProposerBps) == chain::Role::Proposer);
      if (!wanted(proposer)) continue;
      eth_->raw("hardhat_setPrevRandao", json::array({chain::to_hex(U256(k).to_be_bytes())}));
      return true;
    }
    return false;
  }
  /// Transactions of `a` sent but not mined.
  std::uint64_t pending_of(const chain::Address& a) {
    const auto count = [&](const char* tag) {
      return std::stoull(eth_->raw("eth_getTransactionCount", json::array({a.to_lower_hex(), tag}))
                             .get<std::string>(),
                         nullptr, 16);
    };
    return count("pending") - count("latest");
  }
  void mine() { eth_->raw("evm_mine", json::array()); }
};

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

/// The code of the ServerError `f` throws (ERR_UNSPECIFIED when it throws none).
template <class F>
wire::ErrorCode refusal_of(F f) {
  try {
    f();
  } catch (const client::ServerError& e) {
    return e.code();
  }
  return wire::ERR_UNSPECIFIED;
}

TEST_F(LeftNodeOnChain, CanNeitherUploadNorVoteInTheNextRoundWhichCompletesForTheOthers) {
  std::mt19937_64 rng(20261203);
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
                                 U256(1000),
                                 aggregator.address(),
                                 chain::keccak256(std::string_view("spec")),
                                 chain::keccak256(std::string_view("model 0"))};
  const U256 task = chain::testing::create_task(creator, dep, params);
  std::vector<chain::PrivateKey> keys;
  std::vector<chain::Address> addresses;
  for (std::size_t i = 0; i < kNodes; ++i) {
    keys.push_back(client::derive_node_key(kKeySeed, i));
    addresses.push_back(keys.back().address());
    chain::testing::fund_stake_join(*eth_, creator, dep, chain::testing::TaskContract::alliance,
                                    task, keys.back(), U256(kStake));
  }

  TempDir dir("murmur-left-node-chain");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.participants.clear();  // the contract's participants, re-read when each round opens
  cfg.task_id = task.to_u64();
  cfg.chain_id = creator.chain_id();
  cfg.contract = dep.alliance_task;
  cfg.rounds = 2;
  cfg.proposer_bps = kProposerBps;
  cfg.quorum = 1;
  cfg.vote_quorum = 1;
  cfg.upload_window = 30s;
  cfg.vote_window = 30s;
  server::ChainConfig chain_cfg;
  chain_cfg.rpc_url = url();
  chain_cfg.key_file = dir.path() / "aggregator.key";
  chain::write_key_file(chain_cfg.key_file, aggregator_key);
  cfg.chain = chain_cfg;

  // Round 1: the leaver is a voter; among the others a proposer and a voter.
  ASSERT_TRUE(choose_roles(task, 1, addresses, [](const std::vector<bool>& p) {
    bool proposer = false, voter = false;
    for (std::size_t i = 0; i < kLeaver; ++i) (p[i] ? proposer : voter) = true;
    return proposer && voter && !p[kLeaver];
  }));
  server::Server srv(cfg);
  srv.start();
  chain::Eip712Domain domain;
  domain.chain_id = cfg.chain_id;
  domain.verifying_contract = cfg.contract;
  std::vector<std::unique_ptr<client::NodeClient>> clients;
  for (std::size_t i = 0; i < kNodes; ++i) {
    clients.push_back(
        std::make_unique<client::NodeClient>(client_options(cfg, srv.curve_public_key())));
    clients.back()->register_node(keys[i], cfg.chain_id);
  }
  const auto run_round = [&](std::uint64_t round, bool leaver_takes_part) {
    std::vector<std::size_t> voters;
    for (std::size_t i = 0; i < kNodes; ++i) {
      if (i == kLeaver && !leaver_takes_part) continue;
      if (clients[i]->round_info().role() == wire::ROLE_PROPOSER) {
        const client::SyntheticUpdate update(kKeySeed, i, kParameters, wire::DTYPE_F32);
        clients[i]->upload_update(cfg.task_id, round, update, 10, {&keys[i], domain});
      } else {
        voters.push_back(i);
      }
    }
    return voters;
  };
  const auto voters1 = run_round(1, true);
  auto snap = wait_until(
      srv, [](const auto& s) { return s.stage == wire::STAGE_VOTING; }, 30s);
  ASSERT_EQ(snap.stage, wire::STAGE_VOTING) << snap.last_outcome;

  // Hold the blocks, then let the voters vote: murmurd decides and sends finalizeRound.
  eth_->raw("evm_setAutomine", json::array({false}));
  for (std::size_t v : voters1)
    clients[v]->vote(cfg.task_id, 1, snap.candidate_model, 1, 0.5, {&keys[v], domain});
  const auto until = [](auto done, std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
    return done();
  };
  ASSERT_TRUE(until([&] { return pending_of(aggregator.address()) > 0; }, 30s))
      << "murmurd sent no finalizeRound";
  mine();  // finalizeRound: round 1 closes, nothing binds the leaver
  ASSERT_EQ(alliance.get_round(task, U256(1)).state, 2) << "round 1 is not finalized";
  chain::Wallet leaver = wallet(keys[kLeaver]);
  chain::TxOptions fixed_gas;
  fixed_gas.gas_limit = 300'000;  // no estimate against the latest block
  const auto leave = leaver.prepare(dep.alliance_task, chain::alliance::leave(task), {}, fixed_gas);
  eth_->send_raw_transaction(leave.raw);
  mine();  // the leave (and a startRound that came meanwhile, after it)
  EXPECT_FALSE(alliance.node_info(task, addresses[kLeaver]).joined) << "the leave did not land";
  // Round 2: a proposer and a voter among the four that stayed.
  const std::vector<chain::Address> stayed(addresses.begin(), addresses.begin() + kLeaver);
  ASSERT_TRUE(choose_roles(task, 2, stayed, [](const std::vector<bool>& p) {
    return std::count(p.begin(), p.end(), true) >= 1 && std::count(p.begin(), p.end(), false) >= 1;
  }));
  ASSERT_TRUE(until(
      [&] {
        if (pending_of(aggregator.address()) > 0) mine();
        return alliance.get_round(task, U256(2)).state == 1;
      },
      60s))
      << "murmurd did not open round 2";
  eth_->raw("evm_setAutomine", json::array({true}));
  snap = wait_until(
      srv, [](const auto& s) { return s.round == 2 && s.stage == wire::STAGE_UPLOADING; }, 30s);
  ASSERT_EQ(snap.round, 2u) << snap.last_outcome;

  // The leaver is still connected with its bound key: no role, and refused.
  client::NodeClient& gone = *clients[kLeaver];
  EXPECT_EQ(gone.round_info().role(), wire::ROLE_UNSPECIFIED);
  const client::SyntheticUpdate update(kKeySeed, kLeaver, kParameters, wire::DTYPE_F32);
  EXPECT_EQ(refusal_of([&] {
              gone.upload_update(cfg.task_id, 2, update, 10, {&keys[kLeaver], domain});
            }),
            wire::ERR_NOT_REGISTERED);
  const auto voters2 = run_round(2, false);
  snap = wait_until(
      srv, [](const auto& s) { return s.stage == wire::STAGE_VOTING; }, 30s);
  ASSERT_EQ(snap.stage, wire::STAGE_VOTING) << snap.last_outcome;
  EXPECT_EQ(refusal_of([&] {
              gone.vote(cfg.task_id, 2, snap.candidate_model, 1, 0.5, {&keys[kLeaver], domain});
            }),
            wire::ERR_NOT_REGISTERED);
  for (std::size_t v : voters2)
    clients[v]->vote(cfg.task_id, 2, snap.candidate_model, 1, 0.5, {&keys[v], domain});
  snap = wait_until(
      srv, [](const auto& s) { return s.stage == wire::STAGE_CLOSED; }, 60s);
  ASSERT_EQ(snap.stage, wire::STAGE_CLOSED) << snap.last_outcome;
  EXPECT_EQ(alliance.get_round(task, U256(2)).state, 2) << "round 2 was not finalized on chain";
  EXPECT_EQ(snap.last_outcome.rfind("accepted", 0), 0u) << snap.last_outcome;
  clients.clear();
  srv.stop();
}

}  // namespace
}  // namespace murmur::testing
