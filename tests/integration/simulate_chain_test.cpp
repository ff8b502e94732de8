// A short simulation end to end: 6 nodes x 3 rounds training Fashion-MNIST through a real
// murmurd (in process, CurveZMQ on loopback) with every round settled on a real AllianceTask
// (Hardhat node on a free port). Checks that the global model learns, and that every stake and
// reward on chain moved exactly as the contract's rules say (chain::settle_round, the
// contract's arithmetic in C++) for the roles, flags and votes of the round.
#include <gtest/gtest.h>

#include <fstream>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/sim/simulate.hpp"

namespace murmur::sim {
namespace {

using chain::U256;

class SimulateOnChain : public chain::testing::LocalChainTest {};

TEST_F(SimulateOnChain, AccuracyRisesAndBalancesFollowTheContractsRules) {
  constexpr std::uint64_t kSeed = 3;
  constexpr std::size_t kNodes = 6, kRounds = 3;
  const auto dir = chain::testing::make_temp_dir("murmur-simulate");
  std::mt19937_64 rng(kSeed);
  const chain::PrivateKey creator = funded_key(rng);
  chain::write_key_file(dir / "creator.key", creator);
  auto w = wallet(creator);
  chain::save_deployment(dir / "deployment.json", deploy(w));

  ChainTaskSetup setup;
  setup.rpc = url();
  setup.deployment = dir / "deployment.json";
  setup.creator_key_file = dir / "creator.key";
  setup.nodes = kNodes;
  setup.seed = kSeed;
  setup.rounds = kRounds;
  setup.reward_pool = token_units(3000);
  setup.slash_bps = 1000;
  const ChainTask task = create_simulation_task(setup);

  SimulationOptions o;
  o.nodes = kNodes;
  o.rounds = kRounds;
  o.seed = kSeed;
  o.train_rows = 6000;
  o.test_rows = 2000;
  o.holdout = 0.2;
  o.shape = "784-32-10";
  o.training = {1, 32, 0.1};
  o.byzantine = 1;
  o.attacks = {Attack::kSignFlip};
  o.server.rule = "median";
  o.server.upload_seconds = 60;
  o.server.vote_seconds = 30;
  o.stake = setup.stake;
  o.work_dir = dir / "run";
  o.stage_timeout = std::chrono::seconds(90);
  ChainRoundOptions c;
  c.rpc = url();
  c.deployment = setup.deployment;
  c.aggregator_key_file = setup.creator_key_file;
  c.task_id = task.task_id;
  c.outbox = dir / "outbox.db";
  o.chain = c;
  std::filesystem::create_directories(o.work_dir);
  const auto data = SimulationData::load();
  const SimulationReport r = run_simulation(o, data, &std::cout);

  ASSERT_EQ(r.rounds.size(), kRounds);
  EXPECT_LT(r.initial_accuracy, 0.2);
  EXPECT_GT(r.final_accuracy(), r.initial_accuracy + 0.3) << "the federation did not learn";
  ASSERT_TRUE(r.initial_balances);
  std::size_t finalized = 0, accepted = 0, byzantine_proposals = 0;
  U256 rewards, slashes;
  for (const auto& rec : r.rounds) {
    SCOPED_TRACE("round " + std::to_string(rec.round));
    ASSERT_TRUE(rec.chain_post);
    ASSERT_TRUE(rec.chain_start);
    EXPECT_TRUE(rec.chain_error.empty()) << rec.chain_error;
    const auto& p = *rec.chain_post;
    if (p.abandoned) {
      EXPECT_EQ(p.after, p.before) << "an abandoned round moves nothing";
      continue;
    }
    ASSERT_TRUE(p.event);
    chain::SettlementInput in;
    in.pool = p.pool_before;
    in.rounds_left = kRounds - finalized;
    in.slash_bps = setup.slash_bps;
    for (std::size_t i = 0; i < kNodes; ++i) {
      const auto& n = rec.nodes[i];
      in.nodes.push_back({n.proposer ? chain::Role::Proposer : chain::Role::Voter,
                          p.before[i].stake, n.proposer && n.flagged, n.proposer ? 0 : n.vote});
    }
    const chain::Settlement s = chain::settle_round(in);
    EXPECT_EQ(p.event->accepted, s.accepted);
    EXPECT_EQ(p.event->accepted, rec.accepted) << "chain and murmurd disagree";
    EXPECT_EQ(p.event->vote_sum, s.vote_sum);
    EXPECT_EQ(p.event->reward_paid, s.paid);
    EXPECT_EQ(p.event->slashed, s.slashed);
    EXPECT_EQ(p.pool_after, s.pool_after);
    for (std::size_t i = 0; i < kNodes; ++i) {
      EXPECT_EQ(p.after[i].stake, p.before[i].stake - s.slash[i]) << "node " << i;
      EXPECT_EQ(p.after[i].reward, p.before[i].reward + s.reward[i]) << "node " << i;
    }
    rewards += s.paid;
    slashes += s.slashed;
    ++finalized;
    accepted += rec.accepted;
    // The sign flipper's update is flagged whenever it proposes (median: far from the aggregate).
    for (std::size_t i : r.byzantine)
      if (rec.nodes[i].proposer) {
        EXPECT_TRUE(rec.nodes[i].flagged) << "Byzantine node " << i;
        ++byzantine_proposals;
      }
  }
  // The seed is fixed: the sign flipper proposes in at least one settled round, so the check
  // above ran.
  EXPECT_GE(byzantine_proposals, 1u) << "the Byzantine node never proposed: nothing was checked";
  EXPECT_GE(finalized, 2u);
  EXPECT_GE(accepted, 1u);
  EXPECT_FALSE(rewards.is_zero()) << "nobody was paid";
  EXPECT_FALSE(slashes.is_zero()) << "with seed 3 some voter votes against an accepted round";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace murmur::sim
