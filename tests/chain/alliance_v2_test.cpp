// The AllianceTaskV2 binding (chain/include/murmur/chain/alliance_v2.hpp): its signatures against
// the committed ABI, and one round through every call against a real Hardhat node (free loopback
// port), read back through the views and events; the bookings must equal settle_median_round.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "chain/chain_fixture.hpp"
#include "chain/v2_fixture.hpp"
#include "murmur/chain/errors.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/median_settlement.hpp"
#include "murmur/chain/v2_commitments.hpp"

namespace murmur::chain {
namespace {

using testing::kKeySeed;
using testing::LocalChainTest;

TEST(AllianceV2Binding, MatchesTheCommittedContractAbi) {
  std::ifstream in(std::string(MURMUR_SOURCE_DIR) + "/contracts/abi/AllianceTaskV2.abi.json");
  ASSERT_TRUE(in) << "contracts/abi/AllianceTaskV2.abi.json is missing";
  nlohmann::json j = nlohmann::json::parse(in);
  const nlohmann::json& items = j.is_array() ? j : j.at("abi");
  std::set<std::string> functions, events, errors;
  for (const auto& item : items) {
    const std::string type = item.value("type", "");
    if (type == "function") functions.insert(abi::signature_from_json(item).canonical());
    if (type == "event") events.insert(abi::signature_from_json(item).canonical());
    if (type == "error") errors.insert(abi::signature_from_json(item).canonical());
  }
  ASSERT_GT(functions.size(), 20u);
  for (const auto& f : alliance_v2::function_signatures())
    EXPECT_TRUE(functions.count(f)) << f << " not in the ABI";
  for (const auto& e : alliance_v2::event_signatures())
    EXPECT_TRUE(events.count(e)) << e << " not in the ABI";
  for (const auto& e : errors) {
    const auto sel = abi::Signature::parse(e).selector();
    EXPECT_EQ(alliance_v2::errors().decode(Bytes(sel.begin(), sel.end())).name,
              e.substr(0, e.find('(')))
        << e << " is not in alliance_v2::errors()";
  }
}

TEST(AllianceV2Binding, DeploymentFileCarriesTheV2AddressAndStaysOptional) {
  const auto dir = testing::make_temp_dir("deployment-v2");
  Deployment d;
  d.chain_id = 31337;
  d.token = Address::from_hex("0x1000000000000000000000000000000000000001");
  d.alliance_task = Address::from_hex("0x2000000000000000000000000000000000000002");
  save_deployment(dir / "old.json", d);
  EXPECT_FALSE(load_deployment(dir / "old.json").alliance_task_v2.has_value());
  d.alliance_task_v2 = Address::from_hex("0x3000000000000000000000000000000000000003");
  save_deployment(dir / "new.json", d);
  EXPECT_EQ(load_deployment(dir / "new.json").alliance_task_v2, d.alliance_task_v2);
  std::filesystem::remove_all(dir);
}

struct Node {
  PrivateKey key;
  U256 stake;
};

TEST_F(LocalChainTest, V2RoundThroughTheBindingMatchesTheMedianSettlement) {
  EthClient eth(*rpc_, &alliance_v2::errors());
  std::mt19937_64 rng(kKeySeed + 16);
  Wallet creator(eth, funded_key(rng));
  Wallet aggregator(eth, funded_key(rng));
  Deployment dep = deploy_with_v2(creator);
  const Address v2 = *dep.alliance_task_v2;
  AllianceTaskV2Contract c(eth, v2);

  testing::V2TaskSpec spec;
  spec.rounds = 3;
  spec.windows.exit = 600;  // every transaction moves Hardhat's clock by a second or more
  spec.quorum_bps = 500;    // one revealed voter of the smallest stake suffices
  spec.initial_model = keccak256(std::string_view("model 0"));
  const U256 task = testing::create_v2_task(creator, dep, aggregator.address(), spec);
  EXPECT_EQ(c.task_count(), task);

  std::vector<Node> nodes;
  std::vector<Address> addrs;
  for (std::uint64_t s : {300, 500, 200, 400, 700, 600, 250, 350}) {
    nodes.push_back({funded_key(rng), U256(s)});
    Wallet w(eth, nodes.back().key);
    testing::stake_and_join(creator, w, dep, task, U256(s));
    addrs.push_back(w.address());
  }

  V2TaskInfo t = c.get_task(task);
  EXPECT_EQ(t.creator, creator.address());
  EXPECT_EQ(t.aggregator, aggregator.address());
  EXPECT_EQ(t.token, dep.token);
  EXPECT_EQ(t.total_rounds, 3u);
  EXPECT_EQ(t.proposer_bps, 5000);
  EXPECT_EQ(t.quorum_bps, 500);
  EXPECT_EQ(t.tolerance_bps, 2000);
  EXPECT_EQ(t.windows.propose, 600u);
  EXPECT_EQ(t.windows.exit, 600u);
  EXPECT_EQ(t.windows.task_timeout, 100'000u);
  EXPECT_FALSE(t.in_flight);
  EXPECT_EQ(t.pool, spec.pool);
  EXPECT_EQ(t.model_hash, spec.initial_model);
  EXPECT_EQ(t.rule_hash, keccak256(std::string_view("trimmed-mean(beta=0.2)")));
  EXPECT_GT(t.last_closed_at, 0u);
  EXPECT_EQ(c.members(task), addrs);
  EXPECT_TRUE(c.participants(task).empty());
  EXPECT_TRUE(c.node_info(task, addrs[1]).joined);
  EXPECT_EQ(c.node_info(task, addrs[1]).stake, U256(500));

  // The exit window counts from creation: too early, then 601 s later it opens.
  try {
    aggregator.transact(v2, alliance_v2::open_round(task));
    ADD_FAILURE() << "openRound inside the exit window did not revert";
  } catch (const RevertError& e) {
    EXPECT_EQ(e.error_name(), "ExitWindow") << e.what();
  }

  // Roles are drawn from a block hash (drawRoles redraws one that gave everyone the same role);
  // this test needs two of each, so a draw with fewer is abandoned after its post deadline and
  // the next round opened (at most a few times).
  U256 round;
  V2RoundInfo r;
  std::vector<Role> roles;
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 6) << "no draw with both roles";
    eth.raw("evm_increaseTime", nlohmann::json::array({601}));
    testing::mine(eth, 1);
    const Receipt opened = aggregator.transact(v2, alliance_v2::open_round(task));
    std::uint64_t seed_block = 0;
    std::tie(round, seed_block) = alliance_v2::opened_from_receipt(opened, v2);
    EXPECT_EQ(seed_block, opened.block_number + alliance_v2::kSeedDelay);
    r = c.get_round(task, round);
    EXPECT_EQ(r.state, V2RoundState::Seeding);
    EXPECT_EQ(r.seed_block, seed_block);
    EXPECT_EQ(r.participant_count, 8u);
    EXPECT_EQ(c.participants(task), addrs);
    EXPECT_TRUE(c.get_task(task).in_flight);
    EXPECT_TRUE(c.node_info(task, addrs[0]).bound);
    try {
      creator.transact(v2, alliance_v2::draw_roles(task));
      ADD_FAILURE() << "drawRoles before the seed block did not revert";
    } catch (const RevertError& e) {
      EXPECT_EQ(e.error_name(), "TooEarly") << e.what();
    }
    testing::mine(eth, 2);
    creator.transact(v2, alliance_v2::draw_roles(task));  // anyone may draw
    r = c.get_round(task, round);
    ASSERT_EQ(r.state, V2RoundState::Proposing);
    EXPECT_EQ(r.seed,
              v2_roles_seed(v2_round_seed(testing::block_hash(eth, seed_block), task, round), addrs,
                            5000));
    EXPECT_EQ(r.post_deadline, r.propose_deadline + 600);
    roles.clear();
    for (const auto& a : addrs) {
      roles.push_back(role_of(r.seed, a, 5000));
      EXPECT_EQ(c.role_of(task, round, a), roles.back());
    }
    EXPECT_EQ(r.proposer_count + r.voter_count, 8u);
    if (r.proposer_count >= 2 && r.voter_count >= 2) break;
    eth.raw("evm_increaseTime", nlohmann::json::array({1300}));
    testing::mine(eth, 1);
    aggregator.transact(v2, alliance_v2::abandon_round(task));
    EXPECT_EQ(c.get_round(task, round).state, V2RoundState::Abandoned);
    ASSERT_EQ(c.round_abandoned_events(task, round).size(), 1u);
    EXPECT_EQ(c.round_abandoned_events(task, round)[0].reason, alliance_v2::kAbandonNoCandidate);
  }

  // Proposers commit; the first proposer's update is left out of the candidate, the last
  // proposer never commits (provably absent).
  std::vector<std::size_t> proposers, voters;
  for (std::size_t i = 0; i < addrs.size(); ++i)
    (roles[i] == Role::Proposer ? proposers : voters).push_back(i);
  std::vector<Hash32> update(addrs.size());
  std::vector<std::size_t> included;
  const std::size_t committing = proposers.size() >= 3 ? proposers.size() - 1 : proposers.size();
  for (std::size_t k = 0; k < committing; ++k) {
    const std::size_t i = proposers[k];
    for (auto& b : update[i]) b = static_cast<std::uint8_t>(rng());
    Wallet w(eth, nodes[i].key);
    w.transact(v2, alliance_v2::commit_update(task, round, update[i]));
    EXPECT_EQ(c.entry_of(task, round, addrs[i]).commitment, update[i]);
    if (k > 0) included.push_back(i);
  }
  const Hash32 candidate = keccak256(std::string_view("candidate 1"));
  const auto bitmap = participant_bitmap(included, addrs.size());
  eth.raw("evm_increaseTime", nlohmann::json::array({601}));  // past the propose deadline
  testing::mine(eth, 1);
  // A bit on a voter is refused.
  try {
    const std::vector<std::size_t> bad{voters[0]};
    aggregator.transact(v2, alliance_v2::post_candidate(task, round, candidate,
                                                        participant_bitmap(bad, addrs.size())));
    ADD_FAILURE() << "postCandidate with a voter's bit did not revert";
  } catch (const RevertError& e) {
    EXPECT_EQ(e.error_name(), "BadBitmap") << e.what();
  }
  aggregator.transact(v2, alliance_v2::post_candidate(task, round, candidate, bitmap));
  r = c.get_round(task, round);
  EXPECT_EQ(r.state, V2RoundState::Voting);
  EXPECT_EQ(r.model_hash, candidate);
  std::vector<Hash32> included_hashes;
  for (std::size_t i : included) included_hashes.push_back(update[i]);
  EXPECT_EQ(r.included_hash, included_hash(included_hashes));
  EXPECT_EQ(r.rule_hash, t.rule_hash);
  EXPECT_EQ(c.included_of(task, round), bitmap);

  // Voters commit hidden scores, the first voter objects to the first included update; the
  // last voter commits and never reveals.
  std::vector<int> score(addrs.size(), 0);
  std::vector<Hash32> salt(addrs.size());
  std::vector<std::vector<std::size_t>> objects(addrs.size());
  const int scores[] = {1200, 900, -300, 4000, 800, 100};
  for (std::size_t k = 0; k < voters.size(); ++k) {
    const std::size_t i = voters[k];
    score[i] = scores[k % 6];
    for (auto& b : salt[i]) b = static_cast<std::uint8_t>(rng());
    if (k == 0) objects[i] = {included.front()};
    const auto obj = participant_bitmap(objects[i], addrs.size());
    const Hash32 commitment = vote_commitment(task, round, addrs[i], score[i], obj, salt[i]);
    EXPECT_EQ(commitment, c.vote_commitment(task, round, addrs[i], score[i], obj, salt[i]));
    Wallet w(eth, nodes[i].key);
    w.transact(v2, alliance_v2::commit_vote(task, round, commitment));
  }
  for (std::size_t k = 0; k + 1 < voters.size(); ++k) {
    const std::size_t i = voters[k];
    Wallet w(eth, nodes[i].key);
    w.transact(v2, alliance_v2::reveal_vote(task, round, score[i],
                                            participant_bitmap(objects[i], addrs.size()), salt[i]));
    const V2Entry e = c.entry_of(task, round, addrs[i]);
    EXPECT_TRUE(e.revealed);
    EXPECT_EQ(e.score, score[i]);
  }
  // One vote is still hidden: finalizing waits for the reveal deadline.
  try {
    creator.transact(v2, alliance_v2::finalize_round(task));
    ADD_FAILURE() << "finalizeRound before the reveal deadline did not revert";
  } catch (const RevertError& e) {
    EXPECT_EQ(e.error_name(), "TooEarly") << e.what();
  }

  // What the contract will book, from the rule in C++.
  MedianRoundInput in;
  in.pool = c.get_task(task).pool;
  in.rounds_left = 3;
  in.slash_bps = 1000;
  in.quorum_bps = 500;
  in.tolerance_bps = 2000;
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    MedianNode n;
    n.role = roles[i];
    n.stake = nodes[i].stake;
    if (n.role == Role::Proposer) {
      const bool committed = update[i] != Hash32{};
      const bool inc = std::find(included.begin(), included.end(), i) != included.end();
      n.proposer = inc ? ProposerStatus::Included
                       : (committed ? ProposerStatus::Excluded : ProposerStatus::Absent);
    } else {
      const bool revealed = i != voters.back();
      n.voter = revealed ? VoterStatus::Revealed : VoterStatus::Unrevealed;
      n.score = revealed ? score[i] : 0;
      if (revealed) n.objects = objects[i];
    }
    in.nodes.push_back(n);
  }
  const MedianRoundSettlement want = settle_median_round(in);

  eth.raw("evm_increaseTime", nlohmann::json::array({1201}));
  testing::mine(eth, 1);
  const Receipt fin = creator.transact(v2, alliance_v2::finalize_round(task));  // anyone
  r = c.get_round(task, round);
  ASSERT_TRUE(want.quorum);
  EXPECT_EQ(r.state, V2RoundState::Finalized);
  EXPECT_EQ(r.median, want.median);
  EXPECT_EQ(r.accepted, want.accepted);
  EXPECT_EQ(r.paid, want.paid);
  EXPECT_EQ(r.slashed, want.slashed);
  EXPECT_EQ(r.revealed_stake, want.revealed_stake);
  const auto events = c.round_finalized_events(task, round, fin.block_number);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].median, want.median);
  EXPECT_EQ(events[0].model_hash, candidate);
  EXPECT_EQ(events[0].tx_hash, fin.tx_hash);
  std::map<Address, U256> rewarded, slashed;
  for (const auto& b : c.bookings(task, round, false)) rewarded[b.node] = b.amount;
  for (const auto& b : c.bookings(task, round, true)) slashed[b.node] = b.amount;
  bool some_reward = false, some_slash = false;
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    EXPECT_EQ(rewarded.count(addrs[i]) ? rewarded[addrs[i]] : U256(), want.reward[i]) << i;
    EXPECT_EQ(slashed.count(addrs[i]) ? slashed[addrs[i]] : U256(), want.slash[i]) << i;
    EXPECT_EQ(c.node_info(task, addrs[i]).stake, nodes[i].stake - want.slash[i]) << i;
    some_reward |= want.reward[i] != U256();
    some_slash |= want.slash[i] != U256();
  }
  EXPECT_TRUE(some_reward);
  EXPECT_TRUE(some_slash);  // the unrevealed voter and the absent proposer at least
  EXPECT_FALSE(c.get_task(task).in_flight);
  EXPECT_TRUE(c.participants(task).empty());
}

}  // namespace
}  // namespace murmur::chain

namespace murmur::chain {
namespace {

/// `murmur chain-v2` with a deployment and key files in `dir`.
struct ChainV2Cli {
  std::string url;
  std::filesystem::path dir;
  testing::ProcessResult run(const std::string& key, const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {
        MURMUR_CLI,   "chain-v2",           "--rpc",
        url,          "--deployment",       (dir / "deployment.json").string(),
        "--key-file", (dir / key).string(), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, {}, std::chrono::seconds(90));
  }
  /// A call that must succeed: its JSON object (the last line).
  nlohmann::json operator()(const std::string& key, const std::vector<std::string>& args) const {
    const auto r = run(key, args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::string last = r.out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    return nlohmann::json::parse(last.substr(last.rfind('\n') + 1));
  }
  /// A refusal: a non-zero exit naming the contract's error.
  void refused(const std::string& key, const std::vector<std::string>& args,
               const std::string& error) const {
    const auto r = run(key, args);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_NE((r.out + r.err).find(error), std::string::npos) << r.out << r.err;
  }
};

// `murmur chain-v2`: a creator creates a task, a node stakes and joins, status reads them back.
TEST_F(LocalChainTest, ChainV2CliCreatesJoinsAndReads) {
  EthClient eth(*rpc_, &alliance_v2::errors());
  std::mt19937_64 rng(kKeySeed + 17);
  const PrivateKey creator_key = funded_key(rng), node_key = funded_key(rng);
  Wallet creator(eth, creator_key);
  Deployment dep = deploy_with_v2(creator);
  const auto dir = testing::make_temp_dir("chain-v2-cli");
  save_deployment(dir / "deployment.json", dep);
  write_key_file(dir / "creator.key", creator_key);
  write_key_file(dir / "node.key", node_key);
  creator.transact(dep.token, erc20::mint(creator.address(), U256(5000)));
  creator.transact(dep.token, erc20::mint(node_key.address(), U256(700)));
  const ChainV2Cli cli{url(), dir};
  const std::string spec = to_hex(keccak256(std::string_view("spec")));
  const auto created =
      cli("creator.key", {"create-task", "--reward-pool", "5000", "--rounds", "4", "--min-stake",
                          "100", "--aggregator", creator.address().to_checksum(),
                          "--model-spec-hash", spec, "--initial-model-hash", spec, "--rule",
                          "krum(f=1)", "--quorum-bps", "6000", "--exit-s", "30"});
  const std::string task = created.at("taskId").get<std::string>();
  const auto joined = cli("node.key", {"join", "--task", task, "--stake", "700"});
  EXPECT_EQ(joined.at("stake").get<std::string>(), "700");
  EXPECT_TRUE(joined.at("joined").get<bool>());
  const auto status = cli("node.key", {"status", "--task", task});
  EXPECT_EQ(status.at("pool").get<std::string>(), "5000");
  EXPECT_EQ(status.at("totalRounds").get<int>(), 4);
  EXPECT_EQ(status.at("quorumBps").get<int>(), 6000);
  EXPECT_EQ(status.at("windows").at("exit").get<int>(), 30);
  EXPECT_EQ(status.at("ruleHash").get<std::string>(),
            to_hex(keccak256(std::string_view("krum(f=1)"))));
  EXPECT_EQ(AllianceTaskV2Contract(eth, *dep.alliance_task_v2).members(U256::from_string(task)),
            std::vector<Address>{node_key.address()});
  std::filesystem::remove_all(dir);
}

// The ways out, each by its owner through `murmur chain-v2`: a dead round abandoned by a node,
// stake unbonded and withdrawn only once unlocked, leaving, the creator's set-aggregator, and
// cancelling an idle task whose unpaid pool the creator then claims. Refusals name the
// contract's error.
TEST_F(LocalChainTest, ChainV2CliWaysOut) {
  EthClient eth(*rpc_, &alliance_v2::errors());
  std::mt19937_64 rng(kKeySeed + 23);
  const PrivateKey creator_key = funded_key(rng), node_key = funded_key(rng),
                   other_key = funded_key(rng), new_aggregator = funded_key(rng);
  Wallet creator(eth, creator_key);
  Deployment dep = deploy_with_v2(creator);
  const auto dir = testing::make_temp_dir("chain-v2-cli-out");
  save_deployment(dir / "deployment.json", dep);
  write_key_file(dir / "creator.key", creator_key);
  write_key_file(dir / "node.key", node_key);
  write_key_file(dir / "other.key", other_key);
  creator.transact(dep.token, erc20::mint(creator.address(), U256(5000)));
  creator.transact(dep.token, erc20::mint(node_key.address(), U256(700)));
  creator.transact(dep.token, erc20::mint(other_key.address(), U256(700)));
  const ChainV2Cli cli{url(), dir};
  auto advance = [&](std::uint64_t seconds) {
    eth.raw("evm_increaseTime", nlohmann::json::array({seconds}));
    testing::mine(eth, 1);
  };
  const std::string spec = to_hex(keccak256(std::string_view("spec")));
  // Windows: propose 600, post 300, commit 300, reveal 300, exit 30; unbonding 100; idle 2000.
  const std::string task =
      cli("creator.key", {"create-task", "--reward-pool", "5000", "--rounds", "4", "--min-stake",
                          "100", "--aggregator", creator.address().to_checksum(),
                          "--model-spec-hash", spec, "--initial-model-hash", spec, "--exit-s", "30",
                          "--unbonding-s", "100", "--task-timeout-s", "2000"})
          .at("taskId")
          .get<std::string>();
  const U256 t = U256::from_string(task);
  cli("node.key", {"join", "--task", task, "--stake", "700"});
  cli("other.key", {"join", "--task", task, "--stake", "700"});

  // A round whose aggregator posts nothing: a node abandons it after the post deadline.
  advance(31);
  const Address v2 = *dep.alliance_task_v2;
  creator.transact(v2, alliance_v2::open_round(t));
  testing::mine(eth, 3);
  creator.transact(v2, alliance_v2::draw_roles(t));
  cli.refused("node.key", {"abandon", "--task", task}, "TooEarly");
  cli.refused("node.key", {"leave", "--task", task}, "Bound");  // a participant of the round
  advance(901);
  EXPECT_EQ(cli("node.key", {"abandon", "--task", task}).at("result").get<std::string>(),
            "round 1 abandoned");

  // Unstake 300 of 700: withdrawn only after the 100 s unbonding.
  cli("node.key", {"unstake", "--task", task, "--amount", "300"});
  const auto node =
      cli("node.key", {"status", "--task", task, "--node", node_key.address().to_checksum()});
  EXPECT_EQ(node.at("stake").get<std::string>(), "400");
  EXPECT_EQ(node.at("pending").get<std::string>(), "300");
  cli.refused("node.key", {"unstake", "--task", task, "--amount", "350"}, "StakeTooSmall");
  cli.refused("node.key", {"withdraw", "--task", task}, "NotUnlocked");
  advance(101);
  cli("node.key", {"withdraw", "--task", task});
  EXPECT_EQ(erc20::balance_of(eth, dep.token, node_key.address()), U256(300));
  cli("node.key", {"leave", "--task", task});
  EXPECT_FALSE(AllianceTaskV2Contract(eth, v2).node_info(t, node_key.address()).joined);

  // Only the creator names another aggregator.
  cli.refused(
      "node.key",
      {"set-aggregator", "--task", task, "--aggregator", new_aggregator.address().to_checksum()},
      "NotCreator");
  cli("creator.key",
      {"set-aggregator", "--task", task, "--aggregator", new_aggregator.address().to_checksum()});
  EXPECT_EQ(AllianceTaskV2Contract(eth, v2).get_task(t).aggregator, new_aggregator.address());

  // Cancel: refused while the task is not idle, then the whole pool is the creator's to claim.
  cli.refused("creator.key", {"cancel", "--task", task}, "TaskNotIdle");
  advance(2001);
  cli.refused("node.key", {"cancel", "--task", task}, "NotCreator");
  cli("creator.key", {"cancel", "--task", task});
  const auto after = cli("creator.key", {"status", "--task", task});
  EXPECT_TRUE(after.at("ended").get<bool>());
  EXPECT_EQ(after.at("creatorBalance").get<std::string>(), "5000");
  const U256 before = erc20::balance_of(eth, dep.token, creator.address());
  cli("creator.key", {"claim", "--task", task});
  EXPECT_EQ(erc20::balance_of(eth, dep.token, creator.address()), before + U256(5000));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace murmur::chain
