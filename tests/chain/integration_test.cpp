// Integration against a real Hardhat node on a free loopback port (never 8545): contracts deployed
// from the artifacts by C++ contract-creation transactions, nodes staked, rounds started with
// chosen roles, voters' EIP-712 signatures made in C++, finalizeRound posted by the Poster; the
// stakes, claimables, pool and token balances afterwards must equal settle_round's formula (the
// contract's documented arithmetic). The `murmur chain` CLI and the crash tests run in
// chain_cli_test.cpp on the same kind of node.
#include <gtest/gtest.h>

#include <random>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/errors.hpp"

namespace murmur::chain {
namespace {

using testing::kKeySeed;
using testing::LocalChainTest;

struct Node {
  PrivateKey key;
  Address address;
  U256 stake;
};

TEST_F(LocalChainTest, PosterFinalizesRealVotesAndBalancesMatchTheFormula) {
  std::mt19937_64 rng(kKeySeed + 1);
  Wallet creator = wallet(funded_key(rng));
  Wallet aggregator = wallet(funded_key(rng));
  Deployment dep = deploy(creator);
  AllianceTaskContract alliance(*eth_, dep.alliance_task);

  // The contract's EIP-712 domain is the one chain/ builds.
  Eip712Domain domain{"Murmuration", "1", creator.chain_id(), dep.alliance_task};
  ASSERT_EQ(to_hex(alliance.domain_separator()), to_hex(domain.separator()));

  const U256 pool(1'000'000);
  const std::uint64_t proposer_bps = 5000, slash_bps = 1000;
  TaskParams params{dep.token,
                    pool,
                    U256(2),
                    U256(100),
                    U256(proposer_bps),
                    U256(slash_bps),
                    aggregator.address(),
                    keccak256(std::string_view("spec: mlp 784-128-10")),
                    keccak256(std::string_view("model 0"))};
  creator.transact(dep.token, erc20::mint(creator.address(), pool));
  creator.transact(dep.token, erc20::approve(dep.alliance_task, pool));
  U256 task = alliance::task_id_from_receipt(
      creator.transact(dep.alliance_task, alliance::create_task(params)), dep.alliance_task);

  // Six nodes: 0-2 will be proposers, 3-5 voters.
  std::vector<Node> nodes;
  const std::uint64_t stakes[] = {100, 300, 200, 200, 400, 300};
  for (std::uint64_t s : stakes) {
    PrivateKey k = funded_key(rng);
    Address a = k.address();
    nodes.push_back({k, a, U256(s)});
    Wallet w = wallet(k);
    creator.transact(dep.token, erc20::mint(a, U256(s)));
    w.transact(dep.token, erc20::approve(dep.alliance_task, U256(s)));
    w.transact(dep.alliance_task, alliance::stake(task, U256(s)));
    w.transact(dep.alliance_task, alliance::join(task));
  }
  std::vector<Address> addrs;
  for (const auto& n : nodes) addrs.push_back(n.address);
  const std::vector<Role> roles = {Role::Proposer, Role::Proposer, Role::Proposer,
                                   Role::Voter,    Role::Voter,    Role::Voter};

  auto outbox_dir = testing::make_temp_dir("poster");
  Outbox outbox(outbox_dir / "outbox.db");
  Poster poster(aggregator, dep.alliance_task, outbox);
  U256 creator_tokens_before = erc20::balance_of(*eth_, dep.token, creator.address());

  // Round 1 accepted (+200 +400 −300), proposer 2 flagged; round 2 (the last) rejected.
  struct RoundPlan {
    std::vector<int> votes;  // per node, voters only
    std::vector<bool> flagged;
  };
  const RoundPlan plans[] = {{{0, 0, 0, 1, 1, -1}, {false, false, true, false, false, false}},
                             {{0, 0, 0, -1, -1, 1}, {false, true, false, false, false, false}}};
  std::vector<U256> expected_reward(nodes.size());
  U256 expected_creator;
  std::uint64_t rounds_left = 2;
  U256 pool_now = pool;
  for (const RoundPlan& plan : plans) {
    auto [round, seed] =
        start_round_with_roles(aggregator, dep.alliance_task, task, addrs, roles, proposer_bps);
    // Roles: the contract's roleOf equals chain/'s role_of for every node.
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      EXPECT_EQ(alliance.role_of(task, round, nodes[i].address),
                role_of(seed, nodes[i].address, proposer_bps));
      ASSERT_EQ(role_of(seed, nodes[i].address, proposer_bps), roles[i]);
    }
    Hash32 model = keccak256("model of round " + round.to_dec());
    FinalizeRequest rq{task, round, model, {}, {}};
    SettlementInput in{pool_now, rounds_left, slash_bps, {}};
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      NodeInfo info = alliance.node_info(task, nodes[i].address);
      in.nodes.push_back({roles[i], info.stake, plan.flagged[i], plan.votes[i]});
      if (plan.flagged[i]) rq.flagged_proposers.push_back(nodes[i].address);
      if (plan.votes[i] == 0) continue;
      VoteMessage v{task, round, model, static_cast<std::int8_t>(plan.votes[i])};
      // The digest the contract checks is the one the voter signs.
      ASSERT_EQ(alliance.vote_digest(task, round, model, v.score), vote_digest(domain, v));
      rq.votes.push_back({nodes[i].address, v.score, sign_vote(nodes[i].key, domain, v)});
    }
    Settlement expected = settle_round(in);

    // A forged vote (voter 3's vote signed by voter 4) is refused at estimation: nothing recorded.
    FinalizeRequest forged = rq;
    forged.votes[0].signature =
        sign_vote(nodes[4].key, domain, VoteMessage{task, round, model, forged.votes[0].score});
    try {
      poster.finalize_round(forged);
      ADD_FAILURE() << "a forged vote was accepted";
    } catch (const RevertError& e) {
      EXPECT_EQ(e.error_name(), "BadSignature") << e.what();
    }
    EXPECT_FALSE(outbox.find({"finalizeRound", task, round}));

    PostingResult r = poster.finalize_round(rq);
    ASSERT_TRUE(r.success) << r.error;
    ASSERT_TRUE(r.event);
    std::cout << "round " << round.to_dec() << ": finalizeRound with " << rq.votes.size()
              << " votes, gas " << r.gas_used << ", "
              << (r.event->accepted ? "accepted" : "rejected") << "\n";
    EXPECT_EQ(r.event->accepted, expected.accepted);
    EXPECT_EQ(to_signed_dec(r.event->vote_sum), to_signed_dec(expected.vote_sum));
    EXPECT_EQ(r.event->reward_paid, expected.paid);
    EXPECT_EQ(r.event->slashed, expected.slashed);
    EXPECT_EQ(r.event->to_pool, expected.to_pool);
    EXPECT_EQ(r.event->to_creator, expected.to_creator);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      expected_reward[i] += expected.reward[i];
      NodeInfo info = alliance.node_info(task, nodes[i].address);
      EXPECT_EQ(info.stake, in.nodes[i].stake - expected.slash[i]) << "node " << i;
      EXPECT_EQ(info.reward, expected_reward[i]) << "node " << i;
    }
    expected_creator += expected.creator_credit;
    TaskInfo t = alliance.get_task(task);
    EXPECT_EQ(t.pool, expected.pool_after);
    EXPECT_EQ(t.creator_balance, expected_creator);
    pool_now = expected.pool_after;
    --rounds_left;

    // Posting again is a no-op answered from the outbox: no transaction, same hash.
    std::uint64_t nonce = eth_->pending_nonce(aggregator.address());
    PostingResult again = poster.finalize_round(rq);
    EXPECT_TRUE(again.already_done);
    EXPECT_EQ(again.tx_hash, r.tx_hash);
    EXPECT_EQ(eth_->pending_nonce(aggregator.address()), nonce);
    EXPECT_EQ(alliance.round_finalized_events(task, round).size(), 1u);
  }
  EXPECT_TRUE(expected_reward[0] > U256(0) && expected_reward[3] > U256(0))
      << "the plan must pay someone";

  // The contract itself refuses a second finalize, with a decoded reason.
  try {
    aggregator.prepare(dep.alliance_task,
                       alliance::finalize_round(task, U256(2), Hash32{}, {}, {}));
    ADD_FAILURE() << "finalizing a closed round was accepted";
  } catch (const RevertError& e) {
    EXPECT_EQ(e.error_name(), "RoundNotOpen") << e.what();
    EXPECT_NE(std::string(e.what()).find("RoundNotOpen(round=2)"), std::string::npos) << e.what();
  }

  // Claims pay exactly the credited amounts in tokens.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (expected_reward[i].is_zero()) continue;
    Wallet w = wallet(nodes[i].key);
    U256 before = erc20::balance_of(*eth_, dep.token, nodes[i].address);
    w.transact(dep.alliance_task, alliance::claim(task));
    EXPECT_EQ(erc20::balance_of(*eth_, dep.token, nodes[i].address) - before, expected_reward[i])
        << "node " << i;
  }
  creator.transact(dep.alliance_task, alliance::claim(task));
  EXPECT_EQ(erc20::balance_of(*eth_, dep.token, creator.address()) - creator_tokens_before,
            expected_creator);
  std::filesystem::remove_all(outbox_dir);
}

}  // namespace
}  // namespace murmur::chain
