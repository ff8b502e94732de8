// `murmur verify --round N` and the included bitmap of AllianceTaskV2 (issue 16), end to end on
// a real Hardhat node: eight nodes in threads run client::run_node against murmurd; the task's
// rule is Multi-Krum (f = 1, m = 4) and exactly five proposers are drawn (the test draws round 1
// itself, reverting to a snapshot until the draw has five: no verdict depends on the draw).
// The proposer with the lowest index sends a far-off update. Checked:
//  - murmurd's bitmap leaves the far-off update out (the rule rejected it): its bit is 0, it
//    earns no reward, the four others are included and paid;
//  - `murmur verify` passes on murmurd's data directory and on the round directory it exports;
//  - it fails, naming the check, when one update's bytes are changed, when the base model's
//    bytes are changed, and when it is given another rule.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "chain/chain_fixture.hpp"
#include "chain/v2_fixture.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/node_loop.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/server/server.hpp"
#include "murmur/testing/local_chain.hpp"
#include "network.hpp"
#include "state_store.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using chain::U256;

constexpr std::size_t kNodes = 8;
constexpr std::size_t kProposers = 5;
constexpr std::uint64_t kParameters = 64;
constexpr std::uint64_t kSeed = 16'116;
constexpr const char* kRule = "multi-krum(f=1,m=4)";

/// Mines a block every `period` on its own connection until destroyed.
class BlockProducer {
 public:
  BlockProducer(const std::string& url, std::chrono::milliseconds period)
      : thread_([this, url, period] {
          chain::RpcClient rpc(url);
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

float target(std::uint64_t j) {
  return 0.5f * std::sin(0.37f * static_cast<float>(j));
}
float noise(std::uint64_t node, std::uint64_t j, std::uint64_t salt) {
  return client::synthetic_value(kSeed + salt, node, j) * 0.2f;
}

/// Honest: half way from the global model to the target, with the node's own noise. Far off:
/// twenty times the opposite step.
client::Trainer trainer(std::uint64_t node, bool far_off) {
  return [node, far_off](client::RoundContext& ctx) -> std::optional<client::TrainedUpdate> {
    const auto& g = ctx.global_model();
    client::TrainedUpdate u;
    u.num_samples = 10 + node;
    for (std::uint64_t j = 0; j < g.size(); ++j)
      u.values.push_back(far_off ? -10.0f * (target(j) - g[j]) + 3.0f
                                 : 0.5f * (target(j) - g[j]) + noise(node, j, 1));
    return u;
  };
}

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

class VerifyOnV2 : public chain::testing::LocalChainTest {};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(VerifyOnV2, ARobustRuleLeavesAnUpdateOutAndMurmurVerifyRecomputesTheRound) {
  chain::EthClient& eth = *eth_;
  std::mt19937_64 rng(kSeed);
  const chain::PrivateKey aggregator_key = funded_key(rng);
  chain::Wallet creator(eth, funded_key(rng));
  chain::Wallet aggregator(eth, aggregator_key);
  const chain::Deployment dep = deploy_with_v2(creator);
  const chain::Address v2 = *dep.alliance_task_v2;
  chain::AllianceTaskV2Contract c(eth, v2);

  // The task: its rule is kRule, its initial model murmurd's (zeros).
  const std::vector<float> zeros(kParameters, 0.0f);
  chain::V2TaskParams p;
  p.token = dep.token;
  p.reward_pool = U256(1'000'000);
  p.total_rounds = U256(1);
  p.min_stake = U256(100);
  p.max_members = U256(50);
  p.proposer_bps = U256(6000);
  p.slash_bps = U256(1000);
  p.quorum_bps = U256(5000);
  p.tolerance_bps = U256(1500);
  p.aggregator = aggregator_key.address();
  p.model_spec_hash = chain::keccak256(std::string_view("spec: tests"));
  p.initial_model_hash = chain::keccak256(
      std::span(reinterpret_cast<const std::uint8_t*>(zeros.data()), zeros.size() * 4));
  p.rule_hash = chain::keccak256(std::string_view(kRule));
  p.windows = {240, 240, 240, 240, 12, 60, 100'000};  // chain seconds (4 per wall second)
  creator.transact(dep.token, chain::erc20::mint(creator.address(), p.reward_pool));
  creator.transact(dep.token, chain::erc20::approve(v2, p.reward_pool));
  const U256 task = chain::alliance_v2::task_id_from_receipt(
      creator.transact(v2, chain::alliance_v2::create_task(p)), v2);
  std::vector<chain::PrivateKey> keys;
  std::vector<chain::Address> addresses;
  for (std::size_t i = 0; i < kNodes; ++i) {
    keys.push_back(client::derive_node_key(kKeySeed, i));
    addresses.push_back(keys.back().address());
    eth.raw("hardhat_setBalance",
            nlohmann::json::array({addresses.back().to_lower_hex(),
                                   U256::from_string("1000000000000000000000").to_quantity()}));
    chain::Wallet w(eth, keys.back());
    chain::testing::stake_and_join(creator, w, dep, task, U256(200 + 100 * i));
  }
  ASSERT_EQ(c.members(task), addresses);

  // Round 1 opened and drawn here until exactly kProposers are drawn (a different seed block
  // each try: the chain is reverted to the snapshot and k blocks mined first).
  chain::V2RoundInfo r;
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 80) << "no draw with " << kProposers << " proposers";
    const auto snapshot = eth.raw("evm_snapshot", nlohmann::json::array());
    eth.raw("evm_increaseTime", nlohmann::json::array({13}));
    chain::testing::mine(eth, 1 + static_cast<std::uint64_t>(attempt));
    aggregator.transact(v2, chain::alliance_v2::open_round(task));
    chain::testing::mine(eth, chain::alliance_v2::kSeedDelay);
    aggregator.transact(v2, chain::alliance_v2::draw_roles(task));
    r = c.get_round(task, U256(1));
    if (r.proposer_count == kProposers) break;
    ASSERT_TRUE(eth.raw("evm_revert", nlohmann::json::array({snapshot})).get<bool>());
  }
  ASSERT_EQ(r.state, chain::V2RoundState::Proposing);
  std::vector<std::size_t> proposers;
  for (std::size_t i = 0; i < kNodes; ++i)
    if (c.role_of(task, U256(1), addresses[i]) == chain::Role::Proposer) proposers.push_back(i);
  ASSERT_EQ(proposers.size(), kProposers);
  const std::size_t far_off = proposers.front();

  TempDir dir("murmur-verify-round");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.participants.clear();
  cfg.task_id = task.to_u64();
  cfg.chain_id = creator.chain_id();
  cfg.contract = v2;
  cfg.rounds = 1;
  cfg.proposer_bps = 6000;
  cfg.quorum = 1;
  cfg.upload_window = 40s;
  cfg.aggregation = kernels::parse_aggregation(kRule);
  server::ChainConfig chain_cfg;
  chain_cfg.rpc_url = url();
  chain_cfg.key_file = dir.path() / "aggregator.key";
  chain::write_key_file(chain_cfg.key_file, aggregator_key);
  cfg.chain = chain_cfg;

  {
    BlockProducer producer(url(), 250ms);
    server::Server srv(cfg);
    srv.start();
    const std::string server_key = srv.curve_public_key();
    std::vector<std::string> failures(kNodes);
    std::vector<std::thread> nodes;
    for (std::size_t i = 0; i < kNodes; ++i)
      nodes.emplace_back([&, i] {
        try {
          client::NodeClient nc(client_options(cfg, server_key));
          client::NodeLoopOptions o;
          o.chain_id = cfg.chain_id;
          o.domain.chain_id = cfg.chain_id;
          o.domain.verifying_contract = cfg.contract;
          o.poll = 100ms;
          o.idle_timeout = 90s;
          client::ChainCalls calls;
          calls.rpc_url = url();
          calls.state_dir = dir.path() / ("node-" + std::to_string(i));
          calls.evaluator = evaluator(i);
          calls.finalize_after = -1ms;  // murmurd closes the round
          o.chain = calls;
          client::run_node(nc, keys[i], o, trainer(i, i == far_off), client::rms_step_rule(),
                           nullptr);
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    const auto end = wait_for_stage(srv, wire::STAGE_CLOSED, std::chrono::seconds(150));
    for (auto& n : nodes) n.join();
    srv.stop();
    for (std::size_t i = 0; i < kNodes; ++i) EXPECT_EQ(failures[i], "") << "node " << i;
    ASSERT_EQ(end.stage, wire::STAGE_CLOSED) << end.last_outcome;
  }

  // On chain: the far-off update's bit is 0 and it earned nothing; the other proposers' bits
  // are 1 and they were paid.
  r = c.get_round(task, U256(1));
  ASSERT_EQ(r.state, chain::V2RoundState::Finalized);
  ASSERT_TRUE(r.accepted) << "median " << r.median;
  const auto bitmap = c.included_of(task, U256(1));
  std::map<chain::Address, U256> rewarded;
  for (const auto& b : c.bookings(task, U256(1), false)) rewarded[b.node] = b.amount;
  for (std::size_t i : proposers) {
    const bool included = (bitmap[i >> 8] >> static_cast<unsigned>(i & 255)).bit(0);
    EXPECT_NE(c.entry_of(task, U256(1), addresses[i]).commitment, chain::Hash32{}) << "node " << i;
    if (i == far_off) {
      EXPECT_FALSE(included) << "the rule left node " << i << "'s update out";
      EXPECT_EQ(rewarded.count(addresses[i]) ? rewarded[addresses[i]] : U256(), U256())
          << "node " << i << " was paid for an update the rule left out";
    } else {
      EXPECT_TRUE(included) << "node " << i;
      EXPECT_GT(rewarded.count(addresses[i]) ? rewarded[addresses[i]] : U256(), U256())
          << "node " << i;
    }
  }
  {
    server::StateStore store(dir.path() / "data");
    const auto rec = store.round_record(1);
    ASSERT_TRUE(rec);
    for (const auto& u : rec->updates)
      EXPECT_EQ(u.flag, u.address == addresses[far_off] ? "rejected" : "")
          << u.address.to_checksum();
  }

  // `murmur verify`.
  const auto verify = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {MURMUR_CLI,   "verify",        "--round", "1",
                                     "--task",     task.to_dec(),   "--rpc",   url(),
                                     "--contract", v2.to_checksum()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    chain::testing::ChildProcess proc(argv);
    return proc.wait(std::chrono::seconds(60));
  };
  const std::filesystem::path exported = dir.path() / "round-1";
  {
    const auto res =
        verify({"--data-dir", (dir.path() / "data").string(), "--export", exported.string()});
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(res.out.find("round 1 VERIFIED"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("[ok  ] included bitmap: 4 of 5 updates included"), std::string::npos)
        << res.out;
    EXPECT_NE(
        res.out.find(addresses[far_off].to_checksum() + ": rejected by rule, flagged rejected"),
        std::string::npos)
        << res.out;
    EXPECT_NE(res.out.find("[ok  ] aggregate"), std::string::npos) << res.out;
    EXPECT_EQ(res.out.find("[FAIL]"), std::string::npos) << res.out;
  }
  {
    const auto res = verify({"--updates", exported.string()});
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(res.out.find("round 1 VERIFIED"), std::string::npos) << res.out;
  }
  const auto copy_of = [&](const std::string& name) {
    const auto to = dir.path() / name;
    std::filesystem::copy(exported, to, std::filesystem::copy_options::recursive);
    return to;
  };
  {  // one byte of an included update changed
    const auto tampered = copy_of("tampered-update");
    const std::size_t victim = proposers.back();
    std::filesystem::path file;
    for (const auto& e : std::filesystem::recursive_directory_iterator(tampered / "spool"))
      if (e.path().filename().string().rfind(addresses[victim].to_lower_hex(), 0) == 0)
        file = e.path();
    ASSERT_FALSE(file.empty()) << "no exported update of node " << victim;
    std::string bytes = read_all(file);
    ASSERT_FALSE(bytes.empty());
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x40);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    const auto res = verify({"--updates", tampered.string()});
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    EXPECT_NE(res.out.find("[FAIL] update hash " + addresses[victim].to_checksum() +
                           ": the bytes hash to"),
              std::string::npos)
        << res.out;
    EXPECT_NE(res.out.find("[FAIL] aggregate"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("round 1 NOT VERIFIED"), std::string::npos) << res.out;
  }
  {  // the base model's bytes changed (a wrong model)
    const auto tampered = copy_of("tampered-model");
    std::filesystem::path file;
    for (const auto& e : std::filesystem::directory_iterator(tampered / "models")) file = e.path();
    ASSERT_FALSE(file.empty());
    std::string bytes = read_all(file);
    bytes[0] = static_cast<char>(bytes[0] ^ 0x01);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    const auto res = verify({"--updates", tampered.string()});
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    EXPECT_NE(res.out.find("[FAIL] base model"), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("its bytes were changed"), std::string::npos) << res.out;
  }
  {  // another rule than the task's
    const auto res = verify({"--updates", exported.string(), "--rule", "median"});
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    EXPECT_NE(res.out.find("[FAIL] rule: keccak256(\"median\")"), std::string::npos) << res.out;
  }
}

}  // namespace
}  // namespace murmur::testing
