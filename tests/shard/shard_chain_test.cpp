// A shard set on chain ([chain] on its coordinator, docs/sharding.md "The coordinator"): a
// Hardhat node on a free loopback port, AllianceTask deployed from the artifacts, five nodes
// staked and joined. The coordinator opens the round with startRound (its seed gives the roles
// every shard follows), the proposers upload their parts to S = 2 shards, the voter votes at the
// coordinator, and the coordinator posts finalizeRound through its outbox with the model hash
// of the whole model assembled from the parts: keccak-256 of the f32 bytes of initial + FedAvg of
// the updates, what a single murmurd posts. The proposer that never uploaded is flagged.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/client/shard_upload.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "shard_set.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using chain::U256;
using nlohmann::json;

constexpr std::size_t kNodes = 5;
constexpr std::uint64_t kStake = 100, kProposerBps = 5000;

class ShardSetOnChain : public chain::testing::LocalChainTest {};

TEST_F(ShardSetOnChain, TheCoordinatorPostsTheWholeModelsHash) {
  std::mt19937_64 rng(20261203);
  const chain::PrivateKey aggregator_key = funded_key(rng);
  chain::Wallet creator = wallet(funded_key(rng));
  chain::Wallet aggregator = wallet(aggregator_key);
  const chain::Deployment dep = deploy(creator);
  chain::AllianceTaskContract alliance(*eth_, dep.alliance_task);
  const U256 pool(1'000'000);
  const chain::TaskParams params{dep.token,
                                 pool,
                                 U256(1),
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
    keys.push_back(client::derive_node_key(kShardKeySeed, i));
    addresses.push_back(keys.back().address());
    chain::testing::fund_stake_join(*eth_, creator, dep, chain::testing::TaskContract::alliance,
                                    task, keys.back(), U256(kStake));
  }

  TempDir dir("shard-chain");
  ShardTask t;
  t.nodes = kNodes;
  t.parameters = 3 * 4096 + 1000;
  t.proposer_bps = kProposerBps;
  t.quorum = 3;
  t.vote_quorum = 1;
  t.upload_seconds = 10;  // node 3, a proposer, stays silent: the uploads last to the deadline
  t.vote_seconds = 60;
  t.task_id = task.to_u64();
  t.chain_id = creator.chain_id();
  t.contract = dep.alliance_task.to_checksum();
  chain::write_key_file(dir.path() / "aggregator.key", aggregator_key);
  t.coordinator_tables = "[chain]\nrpc_url = \"" + url() + "\"\nkey_file = \"" +
                         (dir.path() / "aggregator.key").string() + "\"\n";

  // startRound's block gets a prevrandao that makes nodes 0-3 proposers and node 4 the voter
  // (the coordinator mines it when it starts).
  const auto parent = chain::hash_from_hex(
      eth_->raw("eth_getBlockByNumber", nlohmann::json::array({"latest", false}))
          .at("hash")
          .get<std::string>());
  std::vector<chain::Role> roles(kNodes, chain::Role::Proposer);
  roles[4] = chain::Role::Voter;
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

  ShardSetFixture set(dir.path(), 2, t, /*single=*/false);
  set.start_all();
  const auto round1 = alliance.get_round(task, U256(1));
  ASSERT_EQ(round1.state, 1) << "the coordinator did not open round 1 on chain\n"
                             << set.coordinator().process->log_text();
  ASSERT_EQ(chain::to_hex(round1.seed), chain::to_hex(expected_seed));

  auto ctx = std::make_shared<zmq::context_t>(1);
  const auto domain = set.domain();
  std::vector<std::unique_ptr<client::NodeClient>> coord, own;
  std::vector<std::vector<client::NodeClient*>> shards(kNodes);
  for (std::size_t i = 0; i < kNodes; ++i) {
    coord.push_back(std::make_unique<client::NodeClient>(set.options(set.coordinator(), ctx)));
    coord.back()->register_node(keys[i], t.chain_id);
    const std::int64_t deadline = coord.back()->round_info().stage_deadline_unix_ms();
    for (std::size_t k = 0; k < set.shards(); ++k) {
      own.push_back(std::make_unique<client::NodeClient>(set.options(set.shard(k), ctx)));
      own.back()->register_node(keys[i], t.chain_id);  // the shard took the chain's participants
      shards[i].push_back(own.back().get());
      // Each shard, once it follows the coordinator's round (its deadline is the
      // coordinator's), hands out the chain's roles.
      const auto info = wait_round(*own.back(), [&](const wire::RoundInfo& r) {
        return r.stage_deadline_unix_ms() == deadline;
      });
      ASSERT_EQ(info.stage_deadline_unix_ms(), deadline) << set.shard(k).process->log_text();
      EXPECT_EQ(info.role(),
                roles[i] == chain::Role::Proposer ? wire::ROLE_PROPOSER : wire::ROLE_VOTER)
          << "node " << i << " at shard " << k;
    }
    EXPECT_EQ(coord.back()->round_info().role(),
              roles[i] == chain::Role::Proposer ? wire::ROLE_PROPOSER : wire::ROLE_VOTER)
        << "node " << i;
  }
  for (std::size_t i = 0; i < 3; ++i) {
    const std::vector<float> update = node_update(i + 1, t.parameters);
    client::upload_split(shards[i], t.task_id, 1, update, 1 + i, {&keys[i], domain});
  }
  const auto voting = wait_round(
      *coord[4], [](const wire::RoundInfo& r) { return r.stage() == wire::STAGE_VOTING; });
  ASSERT_EQ(voting.stage(), wire::STAGE_VOTING) << set.coordinator().process->log_text();
  chain::Hash32 candidate{};
  std::memcpy(candidate.data(), voting.candidate_model_hash().data(), 32);
  coord[4]->vote(t.task_id, 1, candidate, 1, 0.5, {&keys[4], domain});
  const auto closed = wait_round(
      *coord[4], [](const wire::RoundInfo& r) { return r.stage() == wire::STAGE_CLOSED; });
  ASSERT_EQ(closed.stage(), wire::STAGE_CLOSED) << set.coordinator().process->log_text();

  // What a single murmurd computes: initial + FedAvg over the three updates (address order),
  // stored and posted under the keccak-256 of its f32 bytes.
  std::vector<std::pair<chain::Address, std::size_t>> order;
  for (std::size_t i = 0; i < 3; ++i) order.emplace_back(addresses[i], i);
  std::sort(order.begin(), order.end());
  std::vector<float> rows;
  std::vector<double> counts;
  for (const auto& [a, i] : order) {
    const auto u = node_update(i + 1, t.parameters);
    rows.insert(rows.end(), u.begin(), u.end());
    counts.push_back(static_cast<double>(1 + i));
  }
  auto backend = kernels::make_cpu_backend();
  std::vector<float> want(t.parameters);
  kernels::aggregate(*backend, kernels::MemoryRowSource(rows, order.size(), t.parameters), counts,
                     kernels::parse_aggregation("fedavg"), want);
  for (std::size_t j = 0; j < want.size(); ++j) want[j] += set.initial()[j];
  const chain::Hash32 want_hash = chain::keccak256(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(want.data()), want.size() * 4));
  EXPECT_EQ(chain::to_hex(candidate), chain::to_hex(want_hash));

  const auto settled = alliance.get_round(task, U256(1));
  EXPECT_EQ(settled.state, 2) << set.coordinator().process->log_text();  // Finalized
  EXPECT_TRUE(settled.accepted);
  EXPECT_EQ(chain::to_hex(settled.model_hash), chain::to_hex(want_hash));
  // The shards adopt the coordinator's decision (read from its store) and close too.
  for (std::size_t k = 0; k < set.shards(); ++k)
    ASSERT_EQ(wait_round(*shards[0][k],
                         [](const wire::RoundInfo& r) { return r.stage() == wire::STAGE_CLOSED; })
                  .stage(),
              wire::STAGE_CLOSED)
        << set.shard(k).process->log_text();
  const std::vector<float> got = client::fetch_split_model(shards[0]);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0);
  // The proposers that delivered are paid; the silent one (never committed on any shard) is not.
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_FALSE(alliance.node_info(task, addresses[i]).reward == U256(0)) << "node " << i;
  EXPECT_EQ(alliance.node_info(task, addresses[3]).reward, U256(0));

  const json rec = json::parse(server::round_records_json(set.coordinator().data_dir, 1))[0];
  EXPECT_EQ(rec["outcome"], "accepted") << rec.dump();
  EXPECT_EQ(rec["posting"]["state"], "finalized") << rec.dump();
}

}  // namespace
}  // namespace murmur::testing
