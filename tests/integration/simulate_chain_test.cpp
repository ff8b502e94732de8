// A short simulation end to end on AllianceTaskV2 (the demo's path, issue 16): 6 nodes x 3
// rounds training Fashion-MNIST through a real murmurd (in process, CurveZMQ on loopback) that
// runs the task on a real AllianceTaskV2 (Hardhat node on a free port; the simulation mines a
// block every 250 ms). The nodes commit their update hashes on chain before uploading, judge the
// candidate and each update on their held-out rows, commit and reveal their votes themselves; a
// Byzantine sign flipper votes as the contrarian. Checks, for every round and whatever roles the
// chain drew: what the contract booked (median, accept, paid, slashed, every node's stake and
// reward, the pool) is exactly chain::settle_median_round (the contract's MedianSettlement in
// C++) over the round's frozen stakes, statuses, revealed scores and objection bits; every voter
// revealed; murmurd adopted the candidate exactly when the chain accepted it; the claims at the
// end pay exactly the rewards booked.
#include <gtest/gtest.h>

#include <fstream>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/median_settlement.hpp"
#include "murmur/sim/simulate.hpp"

namespace murmur::sim {
namespace {

using chain::U256;

class SimulateOnChain : public chain::testing::LocalChainTest {};

TEST_F(SimulateOnChain, V2SettlementFollowsTheContractsRuleAndClaimsPayIt) {
  constexpr std::uint64_t kSeed = 3;
  constexpr std::size_t kNodes = 6, kRounds = 3;
  const auto dir = chain::testing::make_temp_dir("murmur-simulate");
  std::mt19937_64 rng(kSeed);
  const chain::PrivateKey creator = funded_key(rng);
  chain::write_key_file(dir / "creator.key", creator);
  auto w = wallet(creator);
  chain::save_deployment(dir / "deployment.json", deploy_with_v2(w));

  ChainTaskSetup setup;
  setup.contract = TaskContract::kV2;
  setup.rpc = url();
  setup.deployment = dir / "deployment.json";
  setup.creator_key_file = dir / "creator.key";
  setup.nodes = kNodes;
  setup.seed = kSeed;
  setup.rounds = kRounds;
  setup.reward_pool = token_units(3000);
  setup.slash_bps = 1000;
  setup.rule = "median";
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
  o.server.upload_seconds = 60;  // 240 chain seconds at 4 blocks a second: within propose 2400
  o.work_dir = dir / "run";
  o.stage_timeout = std::chrono::seconds(120);
  ChainRoundOptions c;
  c.contract = TaskContract::kV2;
  c.rpc = url();
  c.deployment = setup.deployment;
  c.aggregator_key_file = setup.creator_key_file;
  c.task_id = task.task_id;
  o.chain = c;
  std::filesystem::create_directories(o.work_dir);
  const auto data = SimulationData::load();
  const SimulationReport r = run_simulation(o, data, &std::cout);

  ASSERT_EQ(r.rounds.size(), kRounds);
  ASSERT_TRUE(r.initial_balances);
  EXPECT_EQ(r.contract, "v2");
  std::size_t finalized = 0, accepted = 0, checked_nodes = 0;
  U256 booked_rewards;
  std::vector<U256> reward_of(kNodes);
  for (const auto& rec : r.rounds) {
    SCOPED_TRACE("round " + std::to_string(rec.round));
    ASSERT_TRUE(rec.chain_post);
    ASSERT_TRUE(rec.chain_post->v2);
    EXPECT_TRUE(rec.chain_error.empty()) << rec.chain_error;
    const auto& p = *rec.chain_post;
    const auto& v = *p.v2;
    ASSERT_EQ(p.before.size(), kNodes);
    ASSERT_EQ(p.after.size(), kNodes);
    if (p.abandoned) {
      EXPECT_EQ(v.state, chain::V2RoundState::Abandoned);
      EXPECT_EQ(p.after, p.before) << "an abandoned round moves nothing";
      EXPECT_EQ(p.pool_after, p.pool_before);
      continue;
    }
    ASSERT_EQ(v.state, chain::V2RoundState::Finalized);
    ASSERT_EQ(v.participant_node.size(), kNodes) << "every node is bound to the round";
    chain::MedianRoundInput in;
    in.pool = p.pool_before;
    in.rounds_left = v.rounds_left;
    in.slash_bps = setup.slash_bps;
    in.quorum_bps = setup.quorum_bps;
    in.tolerance_bps = setup.tolerance_bps;
    for (std::size_t k = 0; k < kNodes; ++k) {
      const std::size_t i = v.participant_node[k];
      const auto& n = rec.nodes[i];
      chain::MedianNode m;
      m.role = n.proposer ? chain::Role::Proposer : chain::Role::Voter;
      m.stake = p.before[i].stake;  // frozen at openRound; nothing else moves it in between
      if (n.proposer) {
        m.proposer = n.included          ? chain::ProposerStatus::Included
                     : n.chain_committed ? chain::ProposerStatus::Excluded
                                         : chain::ProposerStatus::Absent;
      } else {
        EXPECT_TRUE(n.revealed) << "voter " << i << " committed and revealed its vote";
        m.voter = n.revealed          ? chain::VoterStatus::Revealed
                  : n.chain_committed ? chain::VoterStatus::Unrevealed
                                      : chain::VoterStatus::Absent;
        m.score = n.vote_score;
        m.objects = n.objects;  // participant indices: the list is in participant order
      }
      in.nodes.push_back(m);
    }
    const chain::MedianRoundSettlement s = chain::settle_median_round(in);
    ASSERT_TRUE(s.quorum) << "every voter revealed, yet the chain finalized without quorum?";
    EXPECT_EQ(v.median, s.median);
    EXPECT_EQ(v.accepted, s.accepted);
    EXPECT_EQ(v.accepted, rec.accepted) << "chain and murmurd disagree";
    EXPECT_EQ(v.paid, s.paid);
    EXPECT_EQ(v.slashed, s.slashed);
    EXPECT_EQ(p.pool_after, s.pool_after);
    for (std::size_t k = 0; k < kNodes; ++k) {
      const std::size_t i = v.participant_node[k];
      EXPECT_EQ(p.after[i].stake, p.before[i].stake - s.slash[k]) << "node " << i;
      EXPECT_EQ(p.after[i].reward, p.before[i].reward + s.reward[k]) << "node " << i;
      EXPECT_EQ(v.reward[i], s.reward[k]) << "node " << i << "'s Rewarded log";
      EXPECT_EQ(v.slash[i], s.slash[k]) << "node " << i << "'s Slashed log";
      reward_of[i] += s.reward[k];
      ++checked_nodes;
    }
    booked_rewards += s.paid;
    ++finalized;
    accepted += v.accepted;
  }
  std::cout << "finalized " << finalized << " of " << kRounds << " rounds, accepted " << accepted
            << "; accuracy " << r.initial_accuracy << " -> " << r.final_accuracy() << "\n"
            << describe_totals(r) << "\n";
  // Roles come from block hashes this test does not control: a round may draw no proposer or no
  // voter and be abandoned. With 6 nodes at 5000 bps that happens with probability 2/64 a round.
  EXPECT_GE(finalized, 1u) << "no round was settled on chain: nothing was checked";
  EXPECT_EQ(checked_nodes, finalized * kNodes);
  if (accepted > 0) {
    EXPECT_GT(r.final_accuracy(), r.initial_accuracy + 0.05) << "accepted rounds did not learn";
  }
  // Claims (pull-based, at the end) pay exactly what the rounds booked.
  ASSERT_EQ(r.claimed.size(), kNodes);
  U256 claimed;
  for (std::size_t i = 0; i < kNodes; ++i) {
    EXPECT_EQ(r.claimed[i], reward_of[i]) << "node " << i;
    claimed += r.claimed[i];
    EXPECT_EQ(chain::erc20::balance_of(*eth_, task.deployment.token, task.nodes[i]), r.claimed[i])
        << "node " << i << " holds its claimed reward (its stake is still in the task)";
  }
  EXPECT_EQ(claimed, booked_rewards);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace murmur::sim
