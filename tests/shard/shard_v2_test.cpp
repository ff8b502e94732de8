// AllianceTaskV2 on a shard set's coordinator (docs/sharding.md, "AllianceTaskV2 at the
// coordinator"): a Hardhat node on a free loopback port (a block every 250 ms), AllianceTaskV2
// deployed, ten nodes staked and joined; the coordinator with [chain] on V2 opens the round and
// posts the candidate, S = 2 shards aggregate it. Proposers commit their whole update's BLAKE3
// hash on chain (client::ChainParticipant) and upload it split; one proposer's update is harmful
// (sign-flipped, five times an honest one). Voters read the candidate by range from the shards,
// the list from the coordinator and every listed update by parts (client::fetch_split_update),
// judge each with objections.hpp's rule and commit and reveal their score and objection bitmap
// through ChainParticipant. Read back from the chain: the round is Finalized with modelHash =
// keccak-256 of initial + FedAvg of the updates (what a single murmurd posts); the harmful
// proposer is objected to by every revealed voter and not paid, the honest ones are paid; every
// booking is chain::settle_median_round's over the frozen stakes and the revealed votes. Two
// drivers of the same nodes: ChainParticipant's calls one by one, and client::run_node with the
// shards in NodeLoopOptions (what `murmur node --shard` runs). A third case has no harmful
// proposer but an equivocating one: it commits the hash of one update on chain and uploads
// another split (the shards have no chain to refuse it); the voters object to it and report it
// with its signed Update (reportEquivocation), so it is slashed once and not paid.
//
// Roles are drawn on chain from a block hash the test does not control; the verdicts hold for
// every draw: the contract guarantees a proposer and a voter, the harmful proposer is the
// lowest-address proposer only when there are at least two (else every proposer is honest and
// the checks are the same without it), and the objection rule's reference is "no change"
// (ObjectionRule::relative = false), which needs no honest majority among the proposers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "chain/chain_fixture.hpp"
#include "chain/v2_fixture.hpp"
#include "chain_participant.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/median_settlement.hpp"
#include "murmur/client/node_loop.hpp"
#include "murmur/client/shard_upload.hpp"
#include "murmur/client/split_update_fetch.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using chain::U256;
using chain::testing::BlockProducer;

constexpr std::size_t kNodes = 10;
constexpr std::uint64_t kSeed = 19'002;
constexpr float kHarm = -5.0f;  // the harmful update: this times an honest one

float target(std::uint64_t j) {
  return 0.5f * std::sin(0.37f * static_cast<float>(j));
}
float noise(std::uint64_t node, std::uint64_t j, std::uint64_t salt) {
  return client::synthetic_value(kSeed + salt, node, j) * 0.05f;
}

/// Node i's update: half way from the global model to the target with its own noise (`salt`);
/// the harmful proposer's is kHarm times that.
std::vector<float> update_of(std::size_t i, const std::vector<float>& global, bool harmful,
                             std::uint64_t salt = 1) {
  std::vector<float> u(global.size());
  for (std::size_t j = 0; j < u.size(); ++j) {
    u[j] = 0.5f * (target(j) - global[j]) + noise(i, j, salt);
    if (harmful) u[j] *= kHarm;
  }
  return u;
}

/// Node i's held-out rows: the target seen through its own noise; loss = mean squared error.
client::Evaluator evaluator(std::uint64_t node) {
  return [node](client::RoundContext&, std::span<const float> model) {
    double sum = 0;
    for (std::uint64_t j = 0; j < model.size(); ++j) {
      const double d = static_cast<double>(model[j]) - (target(j) + noise(node, j, 2));
      sum += d * d;
    }
    return sum / static_cast<double>(model.size());
  };
}

/// Who drives the nodes: client::ChainParticipant's calls one by one, or client::run_node (the
/// loop `murmur node --shard ...` runs) with the shards in NodeLoopOptions.
enum class Driver { kParticipant, kNodeLoop };
/// The proposer the voters object to: a harmful update committed on chain, or an equivocation
/// (committed hash A on chain, uploaded other bytes B; its harmless noise salt differs).
enum class Cheat { kHarmful, kEquivocation };
constexpr std::uint64_t kEquivocationSalt = 3;

class ShardSetOnV2 : public chain::testing::LocalChainTest {
 protected:
  void run_round(Driver driver, Cheat cheat = Cheat::kHarmful);
};

TEST_F(ShardSetOnV2, VotersReadUpdatesByPartsObjectToTheHarmfulOneAndTheRoundSettles) {
  run_round(Driver::kParticipant);
}

TEST_F(ShardSetOnV2, NodeLoopsWithShardsObjectToTheHarmfulUpdateAndTheRoundSettles) {
  run_round(Driver::kNodeLoop);
}

TEST_F(ShardSetOnV2, VotersObjectToAndReportAnEquivocatingProposerWhichIsSlashedAndUnpaid) {
  run_round(Driver::kParticipant, Cheat::kEquivocation);
}

void ShardSetOnV2::run_round(Driver driver, Cheat cheat) {
  const bool equivocation = cheat == Cheat::kEquivocation;
  chain::EthClient eth(*rpc_, &chain::alliance_v2::errors());
  BlockProducer producer(url(), 250ms);
  TempDir dir(equivocation                     ? "shard-v2-equivocation"
              : driver == Driver::kParticipant ? "shard-v2"
                                               : "shard-v2-node-loop");
  std::mt19937_64 rng(kSeed);
  const chain::PrivateKey aggregator_key = funded_key(rng);
  chain::Wallet creator(eth, funded_key(rng));
  const chain::Deployment dep = deploy_with_v2(creator);
  const chain::Address v2 = *dep.alliance_task_v2;
  chain::testing::V2TaskSpec spec;
  spec.rounds = 1;
  // Chain seconds (about 4 per wall second): the round ends as soon as everyone acted, so the
  // windows only bound a loaded machine's stragglers.
  spec.windows = {600, 600, 600, 600, 12, 60, 100'000};
  spec.quorum_bps = 5000;
  spec.tolerance_bps = 20'000;  // every revealed voter near consensus: only proposers are judged
  const U256 task = chain::testing::create_v2_task(creator, dep, aggregator_key.address(), spec);
  std::vector<chain::PrivateKey> keys;
  std::map<chain::Address, U256> stake_of;
  for (std::size_t i = 0; i < kNodes; ++i) {
    keys.push_back(client::derive_node_key(kShardKeySeed, i));
    stake_of[keys.back().address()] = U256(100 + 37 * i);
    chain::testing::fund_stake_join(eth, creator, dep, chain::testing::TaskContract::alliance_v2,
                                    task, keys.back(), stake_of[keys.back().address()]);
  }

  ShardTask t;
  t.nodes = kNodes;
  t.parameters = 3 * 4096 + 1000;
  t.proposer_bps = spec.proposer_bps;
  t.quorum = 1;
  t.vote_quorum = 1;
  t.upload_seconds = 120;  // ends when every proposer committed, within the propose window
  t.task_id = task.to_u64();
  t.chain_id = creator.chain_id();
  t.contract = v2.to_checksum();
  chain::write_key_file(dir.path() / "aggregator.key", aggregator_key);
  t.coordinator_tables = "[chain]\nrpc_url = \"" + url() + "\"\nkey_file = \"" +
                         (dir.path() / "aggregator.key").string() + "\"\n";
  ShardSetFixture set(dir.path(), 2, t, /*single=*/false);
  set.start_all();
  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();

  // Every node registers with the coordinator and both shards; once the coordinator has drawn
  // the round's roles on chain, each shard (following its opening) hands out the same.
  struct Node {
    std::unique_ptr<client::NodeClient> coordinator;
    std::vector<std::unique_ptr<client::NodeClient>> own;
    std::vector<client::NodeClient*> shards;
    wire::Role role = wire::ROLE_UNSPECIFIED;
  };
  std::vector<Node> nodes(kNodes);
  for (std::size_t i = 0; i < kNodes; ++i) {
    Node& n = nodes[i];
    n.coordinator = std::make_unique<client::NodeClient>(set.options(set.coordinator(), ctx));
    n.coordinator->register_node(keys[i], t.chain_id);
    const wire::RoundInfo info = wait_round(*n.coordinator, [](const wire::RoundInfo& r) {
      return r.round() == 1 && r.stage() == wire::STAGE_UPLOADING &&
             r.role() != wire::ROLE_UNSPECIFIED;
    });
    ASSERT_NE(info.role(), wire::ROLE_UNSPECIFIED) << set.coordinator().process->log_text();
    n.role = info.role();
    for (std::size_t k = 0; k < set.shards(); ++k) {
      n.own.push_back(std::make_unique<client::NodeClient>(set.options(set.shard(k), ctx)));
      n.own.back()->register_node(keys[i], t.chain_id);
      n.shards.push_back(n.own.back().get());
      const auto s = wait_round(*n.own.back(), [&](const wire::RoundInfo& r) {
        return r.stage_deadline_unix_ms() == info.stage_deadline_unix_ms();
      });
      ASSERT_EQ(s.role(), n.role) << "node " << i << " at shard " << k << "\n"
                                  << set.shard(k).process->log_text();
    }
  }
  chain::AllianceTaskV2Contract c(eth, v2);
  const auto members = c.members(task);
  std::vector<chain::Address> proposers, voters;
  for (std::size_t i = 0; i < kNodes; ++i) {
    EXPECT_EQ(nodes[i].role == wire::ROLE_PROPOSER ? chain::Role::Proposer : chain::Role::Voter,
              c.role_of(task, U256(1), keys[i].address()))
        << "node " << i;
    (nodes[i].role == wire::ROLE_PROPOSER ? proposers : voters).push_back(keys[i].address());
  }
  std::sort(proposers.begin(), proposers.end());
  ASSERT_FALSE(proposers.empty());
  ASSERT_FALSE(voters.empty());
  // The equivocation is caught whatever the other proposers do: any draw has one.
  const std::optional<chain::Address> harmful =
      !equivocation && proposers.size() >= 2 ? std::optional(proposers.front()) : std::nullopt;
  const std::optional<chain::Address> equivocator =
      equivocation ? std::optional(proposers.front()) : std::nullopt;
  const std::optional<chain::Address> objected = equivocation ? equivocator : harmful;
  std::cout << "[ shards   ] " << proposers.size() << " proposers, " << voters.size()
            << " voters; harmful: " << (harmful ? harmful->to_checksum() : "none")
            << "; equivocating: " << (equivocator ? equivocator->to_checksum() : "none") << "\n";

  client::ChainCalls calls;
  calls.rpc_url = url();
  calls.finalize_after = -1ms;  // the coordinator closes the round
  calls.objections.relative = false;
  std::vector<std::string> failures(kNodes);
  std::vector<std::uint64_t> samples(kNodes);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      try {
        Node& n = nodes[i];
        client::ChainCalls mine = calls;
        mine.state_dir = dir.path() / ("node-" + std::to_string(i));
        mine.evaluator = evaluator(i);
        const bool bad = harmful && *harmful == keys[i].address();
        samples[i] = 10 + i;
        if (driver == Driver::kNodeLoop) {
          client::NodeLoopOptions o;
          o.chain_id = t.chain_id;
          o.domain = domain;
          o.poll = 100ms;
          o.idle_timeout = 90s;
          o.chain = mine;
          o.shards = n.shards;
          const client::Trainer train =
              [&, i, bad](client::RoundContext& round) -> std::optional<client::TrainedUpdate> {
            return client::TrainedUpdate{update_of(i, round.global_model(), bad), samples[i]};
          };
          const auto report =
              client::run_node(*n.coordinator, keys[i], o, train, client::rms_step_rule());
          if (!report.closed)
            throw std::runtime_error("the node loop ended before the task closed");
          if (n.role == wire::ROLE_VOTER && report.objections != (harmful ? 1u : 0u))
            throw std::runtime_error("the node loop objected to " +
                                     std::to_string(report.objections) + " updates");
          return;
        }
        client::ChainParticipant chain_part(mine, keys[i], v2, t.task_id);
        const auto say = [&](const std::string& s) {
          std::cout << "[ node " << i << "   ] " << s << "\n";
        };
        if (n.role == wire::ROLE_PROPOSER) {
          // Commit the whole update's hash on chain, then upload it split.
          const auto values = update_of(i, set.initial(), bad);
          const client::SplitPlan plan = client::plan_split(n.shards, values);
          chain_part.commit_update(1, plan.commitment.hash);
          if (equivocator && *equivocator == keys[i].address()) {
            // Hash A is on chain; upload (and sign) other bytes B.
            const auto other = update_of(i, set.initial(), false, kEquivocationSalt);
            const client::SplitPlan b = client::plan_split(n.shards, other);
            if (b.commitment.hash == plan.commitment.hash)
              throw std::runtime_error("the equivocation's two updates have one hash");
            client::upload_split(n.shards, t.task_id, 1, other, b, samples[i], {&keys[i], domain});
            return;
          }
          client::upload_split(n.shards, t.task_id, 1, values, plan, samples[i],
                               {&keys[i], domain});
          return;
        }
        // A voter: once the candidate is posted, read it by range from the shards, the list
        // from the coordinator and every update by parts; judge; commit; reveal.
        const auto until = Clock::now() + 180s;
        std::optional<client::ChainParticipant::Vote> vote;
        while (!vote && Clock::now() < until) {
          std::this_thread::sleep_for(100ms);
          const wire::RoundInfo info = n.coordinator->round_info();
          if (info.round() != 1 || info.stage() != wire::STAGE_VOTING ||
              !chain_part.candidate_posted(1))
            continue;
          chain::Hash32 candidate{};
          std::memcpy(candidate.data(), info.candidate_model_hash().data(), 32);
          const auto model = client::fetch_split_candidate(n.shards, t.task_id, 1, candidate);
          if (!model) continue;
          client::RoundContext round_ctx(*n.coordinator, info, n.shards);
          const client::RoundUpdates list = n.coordinator->round_updates(t.task_id, 1, domain);
          vote = chain_part.judge(
              1, candidate, *model, round_ctx, list.updates,
              [&](const client::RoundUpdate& u) {
                return client::fetch_split_update(n.shards, t.task_id, 1, u);
              },
              say);
        }
        if (!vote) throw std::runtime_error("no candidate to vote on within 180 s");
        chain_part.commit_vote(1, *vote);
        while (chain_part.revealing() && Clock::now() < until) {
          chain_part.tick(say);
          std::this_thread::sleep_for(100ms);
        }
        if (chain_part.revealing()) throw std::runtime_error("the vote was not revealed");
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < kNodes; ++i) ASSERT_EQ(failures[i], "") << "node " << i;

  // The coordinator closes the round (rounds = 1: the task closes).
  const auto closed = wait_round(
      *nodes[0].coordinator,
      [](const wire::RoundInfo& r) { return r.stage() == wire::STAGE_CLOSED; }, 180s);
  ASSERT_EQ(closed.stage(), wire::STAGE_CLOSED) << set.coordinator().process->log_text();
  const auto info = c.get_round(task, U256(1));
  ASSERT_EQ(info.state, chain::V2RoundState::Finalized) << set.coordinator().process->log_text();

  // modelHash: what a single murmurd computes, initial + FedAvg of every update (address order).
  {
    std::vector<std::pair<chain::Address, std::size_t>> order;
    for (std::size_t i = 0; i < kNodes; ++i)
      if (nodes[i].role == wire::ROLE_PROPOSER) order.emplace_back(keys[i].address(), i);
    std::sort(order.begin(), order.end());
    std::vector<float> rows;
    std::vector<double> counts;
    for (const auto& [a, i] : order) {
      const auto u = equivocator && *equivocator == a
                         ? update_of(i, set.initial(), false, kEquivocationSalt)
                         : update_of(i, set.initial(), harmful && *harmful == a);
      rows.insert(rows.end(), u.begin(), u.end());
      counts.push_back(static_cast<double>(samples[i]));
    }
    auto backend = kernels::make_cpu_backend();
    std::vector<float> want(t.parameters);
    kernels::aggregate(*backend, kernels::MemoryRowSource(rows, order.size(), t.parameters), counts,
                       kernels::parse_aggregation("fedavg"), want);
    for (std::size_t j = 0; j < want.size(); ++j) want[j] += set.initial()[j];
    EXPECT_EQ(chain::to_hex(info.model_hash),
              chain::to_hex(chain::keccak256(std::span<const std::uint8_t>(
                  reinterpret_cast<const std::uint8_t*>(want.data()), want.size() * 4))));
  }

  // The bookings: settle_median_round over the frozen stakes and the revealed votes (each
  // voter's objections as its vote file says it revealed them).
  const auto bitmap = c.included_of(task, U256(1));
  const auto task_info = c.get_task(task);
  // An equivocation reported before finalizeRound took slashBps of the stake into the pool, and
  // the settlement sees the stake that is left.
  const auto equivocation_slash = [&](const chain::Address& a) {
    return equivocator && *equivocator == a
               ? U256(stake_of.at(a).to_u64() * task_info.slash_bps / 10'000)
               : U256();
  };
  chain::MedianRoundInput in;
  in.pool = spec.pool;
  if (equivocator) in.pool += equivocation_slash(*equivocator);
  in.rounds_left = 1;
  in.slash_bps = task_info.slash_bps;
  in.quorum_bps = task_info.quorum_bps;
  in.tolerance_bps = task_info.tolerance_bps;
  U256 revealed_stake;
  const std::size_t objected_index =
      objected ? static_cast<std::size_t>(std::find(members.begin(), members.end(), *objected) -
                                          members.begin())
               : members.size();
  for (std::size_t m = 0; m < members.size(); ++m) {
    chain::MedianNode node;
    node.role = c.role_of(task, U256(1), members[m]);
    node.stake = stake_of.at(members[m]) - equivocation_slash(members[m]);
    const auto e = c.entry_of(task, U256(1), members[m]);
    if (node.role == chain::Role::Proposer) {
      const bool included = (bitmap[m >> 8] >> static_cast<unsigned>(m & 255)).bit(0);
      EXPECT_TRUE(included) << "FedAvg includes every update: " << members[m].to_checksum();
      node.proposer = included                          ? chain::ProposerStatus::Included
                      : e.commitment != chain::Hash32{} ? chain::ProposerStatus::Excluded
                                                        : chain::ProposerStatus::Absent;
    } else {
      EXPECT_TRUE(e.revealed) << "voter " << members[m].to_checksum() << " did not reveal";
      node.voter = e.revealed ? chain::VoterStatus::Revealed : chain::VoterStatus::Unrevealed;
      node.score = e.revealed ? e.score : 0;
      if (e.revealed) {
        revealed_stake += node.stake;
        std::size_t i = 0;
        while (keys[i].address() != members[m]) ++i;
        std::ifstream f(dir.path() / ("node-" + std::to_string(i)) /
                        ("vote-" + task.to_dec() + "-1.json"));
        const auto j = nlohmann::json::parse(f);
        node.objects = j.at("objections").get<std::vector<std::size_t>>();
        // Exactly the harmful (or equivocating) proposer objected to, by participant index.
        EXPECT_EQ(node.objects,
                  objected ? std::vector<std::size_t>{objected_index} : std::vector<std::size_t>{})
            << "voter " << members[m].to_checksum();
      }
    }
    in.nodes.push_back(node);
  }
  const auto want = chain::settle_median_round(in);
  ASSERT_TRUE(want.quorum);
  EXPECT_EQ(info.median, want.median);
  EXPECT_EQ(info.accepted, want.accepted);
  EXPECT_EQ(info.paid, want.paid);
  EXPECT_EQ(info.slashed, want.slashed);
  std::map<chain::Address, U256> rewarded, slashed;
  for (const auto& b : c.bookings(task, U256(1), false)) rewarded[b.node] = b.amount;
  for (const auto& b : c.bookings(task, U256(1), true)) slashed[b.node] = b.amount;
  for (std::size_t m = 0; m < members.size(); ++m) {
    EXPECT_EQ(rewarded.count(members[m]) ? rewarded[members[m]] : U256(), want.reward[m])
        << members[m].to_checksum();
    EXPECT_EQ(slashed.count(members[m]) ? slashed[members[m]] : U256(), want.slash[m])
        << members[m].to_checksum();
  }
  for (std::size_t m = 0; m < members.size(); ++m) {
    if (c.role_of(task, U256(1), members[m]) != chain::Role::Proposer) continue;
    const U256 objection = c.objection_stake(task, U256(1), m);
    if (objected && members[m] == *objected) {
      EXPECT_EQ(objection, revealed_stake) << "every revealed voter objects to the update";
      EXPECT_EQ(rewarded.count(members[m]), 0u) << "the objected update is paid";
    } else {
      EXPECT_EQ(objection, U256()) << "an honest update objected to: " << members[m].to_checksum();
      EXPECT_EQ(rewarded.count(members[m]), 1u) << "an honest proposer unpaid";
    }
  }
  if (equivocator) {
    // Reported once (by one voter; the others saw it reported or were refused), the
    // Equivocation's slash taken from the stake on top of the settlement's booking.
    const auto e = c.entry_of(task, U256(1), *equivocator);
    EXPECT_TRUE(e.reported) << "the equivocation is not reported on chain";
    const std::size_t m = objected_index;
    const U256 left = c.node_info(task, *equivocator).stake;
    EXPECT_GT(equivocation_slash(*equivocator), U256()) << "slashBps is zero: nothing to check";
    EXPECT_EQ(left, stake_of.at(*equivocator) - equivocation_slash(*equivocator) - want.slash[m])
        << "the equivocating proposer's stake";
    EXPECT_EQ(rewarded.count(*equivocator), 0u) << "the equivocating proposer is paid";
  }
  std::cout << "[ shards   ] median " << info.median
            << (info.accepted ? ", accepted" : ", rejected") << ", paid " << info.paid.to_dec()
            << ", slashed " << info.slashed.to_dec() << "\n";
}

}  // namespace
}  // namespace murmur::testing
