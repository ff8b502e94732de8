// `murmur verify --round N` and the included bitmap of AllianceTaskV2 (issue 16), end to end on
// a real Hardhat node: eight nodes in threads run client::run_node against murmurd; the task's
// rule is Multi-Krum (f = 1, m = 4) and exactly five proposers are drawn (the test draws round 1
// itself, reverting to a snapshot until the draw has five: no verdict depends on the draw).
// The proposer with the lowest index sends a far-off update. Checked:
//  - murmurd's bitmap leaves the far-off update out (the rule rejected it): its bit is 0, it
//    earns no reward, the four others are included and paid;
//  - `murmur verify` passes on murmurd's data directory, on the round directory it exports, and
//    over the wire from the live murmurd (`--from`: its registration endpoint, no key bound, no
//    stake); against a murmurd that serves one update's bytes changed it fails, naming it;
//  - it fails, naming the check, when one update's bytes are changed, when the base model's
//    bytes are changed, and when it is given another rule;
//  - against an aggregator that posts another model hash and a bitmap that includes the rejected
//    update (a round directory written by hand, in the documented layout), it fails the
//    aggregate and the bitmap, naming the update.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "chain/chain_fixture.hpp"
#include "chain/v2_fixture.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/eip712.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/sqlite.hpp"
#include "murmur/chain/v2_commitments.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/node_loop.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/protocol/integrity.hpp"
#include "murmur/server/server.hpp"
#include "murmur/testing/local_chain.hpp"
#include "network.hpp"
#include "state_store.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;
using chain::U256;
using chain::testing::BlockProducer;

constexpr std::size_t kNodes = 8;
constexpr std::size_t kProposers = 5;
constexpr std::uint64_t kParameters = 64;
constexpr std::uint64_t kSeed = 16'116;
constexpr const char* kRule = "multi-krum(f=1,m=4)";

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

/// A task whose round 1 is open with exactly kProposers proposers drawn.
struct DrawnTask {
  chain::Deployment dep;
  U256 task;
  chain::PrivateKey aggregator_key;
  std::vector<chain::PrivateKey> keys;
  std::vector<chain::Address> addresses;
  std::vector<std::size_t> proposers;  ///< node indices, ascending
};

class VerifyOnV2 : public chain::testing::LocalChainTest {
 protected:
  /// Deploys, creates a one-round task (rule kRule, initial model murmurd's zeros), stakes and
  /// joins kNodes nodes, then opens round 1 and draws its roles, reverting to a snapshot until
  /// exactly kProposers are drawn (a different seed block each try: k blocks mined first).
  DrawnTask drawn_task(std::uint64_t seed);
};

DrawnTask VerifyOnV2::drawn_task(std::uint64_t seed) {
  chain::EthClient& eth = *eth_;
  std::mt19937_64 rng(seed);
  DrawnTask t{{}, {}, funded_key(rng), {}, {}, {}};
  chain::Wallet creator(eth, funded_key(rng));
  chain::Wallet aggregator(eth, t.aggregator_key);
  t.dep = deploy_with_v2(creator);
  const chain::Address v2 = *t.dep.alliance_task_v2;
  chain::AllianceTaskV2Contract c(eth, v2);

  const std::vector<float> zeros(kParameters, 0.0f);
  chain::V2TaskParams p;
  p.token = t.dep.token;
  p.reward_pool = U256(1'000'000);
  p.total_rounds = U256(1);
  p.min_stake = U256(100);
  p.max_members = U256(50);
  p.proposer_bps = U256(6000);
  p.slash_bps = U256(1000);
  p.quorum_bps = U256(5000);
  p.tolerance_bps = U256(1500);
  p.aggregator = t.aggregator_key.address();
  p.model_spec_hash = chain::keccak256(std::string_view("spec: tests"));
  p.initial_model_hash = chain::keccak256(
      std::span(reinterpret_cast<const std::uint8_t*>(zeros.data()), zeros.size() * 4));
  p.rule_hash = chain::keccak256(std::string_view(kRule));
  p.windows = {240, 240, 240, 240, 12, 60, 100'000};  // chain seconds (4 per wall second)
  t.task = chain::testing::create_task(creator, t.dep, p);
  for (std::size_t i = 0; i < kNodes; ++i) {
    t.keys.push_back(client::derive_node_key(kKeySeed, i));
    t.addresses.push_back(t.keys.back().address());
    chain::testing::fund_stake_join(eth, creator, t.dep, chain::testing::TaskContract::alliance_v2,
                                    t.task, t.keys.back(), U256(200 + 100 * i));
  }
  if (c.members(t.task) != t.addresses) throw std::runtime_error("members are not in join order");

  for (int attempt = 0;; ++attempt) {
    if (attempt == 80)
      throw std::runtime_error("no draw with " + std::to_string(kProposers) + " proposers");
    const auto snapshot = eth.raw("evm_snapshot", nlohmann::json::array());
    eth.raw("evm_increaseTime", nlohmann::json::array({13}));
    chain::testing::mine(eth, 1 + static_cast<std::uint64_t>(attempt));
    aggregator.transact(v2, chain::alliance_v2::open_round(t.task));
    chain::testing::mine(eth, chain::alliance_v2::kSeedDelay);
    aggregator.transact(v2, chain::alliance_v2::draw_roles(t.task));
    if (c.get_round(t.task, U256(1)).proposer_count == kProposers) break;
    if (!eth.raw("evm_revert", nlohmann::json::array({snapshot})).get<bool>())
      throw std::runtime_error("evm_revert failed");
  }
  for (std::size_t i = 0; i < kNodes; ++i)
    if (c.role_of(t.task, U256(1), t.addresses[i]) == chain::Role::Proposer)
      t.proposers.push_back(i);
  if (t.proposers.size() != kProposers) throw std::runtime_error("role_of disagrees with the draw");
  return t;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// `murmur verify --round 1` of `t`'s task with `extra` options.
chain::testing::ProcessResult run_verify(const std::string& url, const DrawnTask& t,
                                         const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {
      MURMUR_CLI,      "verify", "--round", "1",          "--task",
      t.task.to_dec(), "--rpc",  url,       "--contract", t.dep.alliance_task_v2->to_checksum()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  chain::testing::ChildProcess proc(argv);
  return proc.wait(std::chrono::seconds(60));
}

/// murmurd's configuration for `t`'s one-round task on the Hardhat node at `url`.
server::Config murmurd_config(const DrawnTask& t, const std::filesystem::path& dir,
                              const std::string& url, std::uint64_t chain_id) {
  server::Config cfg = test_config(dir / "data", kNodes, kParameters);
  cfg.participants.clear();
  cfg.task_id = t.task.to_u64();
  cfg.chain_id = chain_id;
  cfg.contract = *t.dep.alliance_task_v2;
  cfg.rounds = 1;
  cfg.proposer_bps = 6000;
  cfg.quorum = 1;
  cfg.upload_window = 40s;
  cfg.aggregation = kernels::parse_aggregation(kRule);
  server::ChainConfig chain_cfg;
  chain_cfg.rpc_url = url;
  chain_cfg.key_file = dir / "aggregator.key";
  chain::write_key_file(chain_cfg.key_file, t.aggregator_key);
  cfg.chain = chain_cfg;
  return cfg;
}

/// Node `i` of `t` through the round (client::run_node with its chain calls); what it threw, or
/// "".
std::string run_chain_node(const server::Config& cfg, const std::string& server_key,
                           const DrawnTask& t, std::size_t i, const std::filesystem::path& dir,
                           const std::string& url, bool far_off) {
  try {
    client::NodeClient nc(client_options(cfg, server_key));
    client::NodeLoopOptions o;
    o.chain_id = cfg.chain_id;
    o.domain.chain_id = cfg.chain_id;
    o.domain.verifying_contract = cfg.contract;
    o.poll = 100ms;
    o.idle_timeout = 90s;
    client::ChainCalls calls;
    calls.rpc_url = url;
    calls.state_dir = dir / ("node-" + std::to_string(i));
    calls.evaluator = evaluator(i);
    calls.finalize_after = -1ms;  // murmurd closes the round
    // Payments are checked without objections (they have their own test).
    calls.object = false;
    o.chain = calls;
    client::run_node(nc, t.keys[i], o, trainer(i, far_off), client::rms_step_rule(), nullptr);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST_F(VerifyOnV2, ARobustRuleLeavesAnUpdateOutAndMurmurVerifyRecomputesTheRound) {
  chain::EthClient& eth = *eth_;
  const DrawnTask t = drawn_task(kSeed);
  const U256& task = t.task;
  const auto& addresses = t.addresses;
  const auto& proposers = t.proposers;
  const chain::Address v2 = *t.dep.alliance_task_v2;
  chain::AllianceTaskV2Contract c(eth, v2);
  ASSERT_EQ(c.get_round(task, U256(1)).state, chain::V2RoundState::Proposing);
  const std::size_t far_off = proposers.front();

  TempDir dir("murmur-verify-round");
  const server::Config cfg = murmurd_config(t, dir.path(), url(), eth.chain_id());

  {
    BlockProducer producer(url(), 250ms);
    server::Server srv(cfg);
    srv.start();
    const std::string server_key = srv.curve_public_key();
    std::vector<std::string> failures(kNodes);
    std::vector<std::thread> nodes;
    for (std::size_t i = 0; i < kNodes; ++i)
      nodes.emplace_back([&, i] {
        failures[i] = run_chain_node(cfg, server_key, t, i, dir.path(), url(), i == far_off);
      });
    const auto end = wait_for_stage(srv, wire::STAGE_CLOSED, std::chrono::seconds(150));
    for (auto& n : nodes) n.join();
    // Over the wire, from the live murmurd: a verifier with no key bound and no stake.
    const auto wire_res =
        end.stage == wire::STAGE_CLOSED
            ? run_verify(url(), t, {"--from", cfg.register_endpoint, "--server-key", server_key})
            : chain::testing::ProcessResult{};
    srv.stop();
    for (std::size_t i = 0; i < kNodes; ++i) EXPECT_EQ(failures[i], "") << "node " << i;
    ASSERT_EQ(end.stage, wire::STAGE_CLOSED) << end.last_outcome;
    EXPECT_EQ(wire_res.exit_code, 0) << wire_res.out << wire_res.err;
    EXPECT_NE(wire_res.out.find("5 signed updates from murmurd at " + cfg.register_endpoint),
              std::string::npos)
        << wire_res.out;
    EXPECT_NE(wire_res.out.find("[ok  ] aggregate"), std::string::npos) << wire_res.out;
    EXPECT_NE(wire_res.out.find("[ok  ] included bitmap: 4 of 5 updates included"),
              std::string::npos)
        << wire_res.out;
    EXPECT_NE(wire_res.out.find("round 1 VERIFIED"), std::string::npos) << wire_res.out;
  }

  // On chain: the far-off update's bit is 0 and it earned nothing; the other proposers' bits
  // are 1 and they were paid.
  const auto r = c.get_round(task, U256(1));
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
  const auto verify = [&](const std::vector<std::string>& extra) {
    return run_verify(url(), t, extra);
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
  {  // a murmurd that serves one update's bytes changed: its copy of the data directory, one
     // byte of the victim's spool file flipped, run without [chain] (the reads need none)
    const auto data = dir.path() / "tampered-data";
    std::filesystem::copy(dir.path() / "data", data, std::filesystem::copy_options::recursive);
    const std::size_t victim = proposers.back();
    std::filesystem::path file;
    for (const auto& e : std::filesystem::recursive_directory_iterator(data / "spool"))
      if (e.path().filename().string().rfind(addresses[victim].to_lower_hex(), 0) == 0)
        file = e.path();
    ASSERT_FALSE(file.empty()) << "no spool file of node " << victim;
    std::string bytes = read_all(file);
    ASSERT_FALSE(bytes.empty());
    bytes[bytes.size() / 3] = static_cast<char>(bytes[bytes.size() / 3] ^ 0x10);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    server::Config bad = cfg;
    bad.data_dir = data;
    bad.chain.reset();
    bad.endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    bad.register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    server::Server liar(bad);
    liar.start();
    const auto res =
        verify({"--from", bad.register_endpoint, "--server-key", liar.curve_public_key()});
    liar.stop();
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

// An aggregator that lies: the proposers commit and sign their updates, the round directory is
// written by hand in the layout cli/README.md documents, and the aggregator posts a model hash that
// is not the aggregate with a bitmap that includes the update the rule rejects. `murmur verify`
// passes every update's checks and the includedHash (the hashes are the committed ones) and fails
// the aggregate and the bitmap, naming the update.
TEST_F(VerifyOnV2, AnAggregatorThatPostsAnotherModelOrBitmapFailsVerification) {
  chain::EthClient& eth = *eth_;
  const DrawnTask t = drawn_task(kSeed + 1);
  const chain::Address v2 = *t.dep.alliance_task_v2;
  const chain::Eip712Domain domain{"Murmuration", "1", eth.chain_id(), v2};
  const std::size_t far_off = t.proposers.front();

  TempDir dir("murmur-verify-lie");
  const std::filesystem::path round_dir = dir.path() / "round-1";
  std::filesystem::create_directories(round_dir / "spool" / "r1");
  std::filesystem::create_directories(round_dir / "models");
  const std::vector<float> zeros(kParameters, 0.0f);
  const std::string zeros_bytes(reinterpret_cast<const char*>(zeros.data()), zeros.size() * 4);
  const chain::Hash32 base = chain::keccak256(std::string_view(zeros_bytes));
  std::ofstream(round_dir / "models" / (chain::to_hex(base, false) + ".f32"), std::ios::binary)
      << zeros_bytes;
  nlohmann::json updates = nlohmann::json::array();
  std::vector<std::size_t> all;
  for (std::size_t i : t.proposers) {
    std::vector<float> values;
    for (std::uint64_t j = 0; j < kParameters; ++j)
      values.push_back(i == far_off ? -5.0f * target(j) + 3.0f : 0.5f * target(j) + noise(i, j, 1));
    const std::string bytes(reinterpret_cast<const char*>(values.data()), values.size() * 4);
    const chain::Hash32 hash = protocol::update_hash(
        std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    chain::Wallet w(eth, t.keys[i]);
    w.transact(v2, chain::alliance_v2::commit_update(t.task, U256(1), hash));
    const std::uint64_t samples = 10 + i;
    const chain::Bytes sig = chain::sign_update(
        t.keys[i], domain, chain::UpdateMessage{t.task, U256(1), hash, U256(samples)});
    std::ofstream(round_dir / "spool" / "r1" / (t.addresses[i].to_lower_hex() + "-0.bin"),
                  std::ios::binary)
        << bytes;
    updates.push_back({{"node", t.addresses[i].to_checksum()},
                       {"id", 0},
                       {"dtype", "DTYPE_F32"},
                       {"parameters", kParameters},
                       {"num_samples", samples},
                       {"update_hash", chain::to_hex(hash)},
                       {"signature", chain::to_hex(sig)}});
    all.push_back(i);
  }
  std::ofstream(round_dir / "round.json") << nlohmann::json{
      {"format", "murmur-round/1"},
      {"round", 1},
      {"rule", kRule},
      {"base_model", chain::to_hex(base)},
      {"updates", updates}}.dump(2);
  // Every proposer committed: the candidate may be posted at once.
  chain::Wallet aggregator(eth, t.aggregator_key);
  const chain::Hash32 lie = chain::keccak256(std::string_view("not the aggregate"));
  aggregator.transact(v2, chain::alliance_v2::post_candidate(
                              t.task, U256(1), lie, chain::participant_bitmap(all, kNodes)));

  const auto res = run_verify(url(), t, {"--updates", round_dir.string()});
  EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
  for (std::size_t i : t.proposers)
    EXPECT_NE(res.out.find("[ok  ] update " + t.addresses[i].to_checksum()), std::string::npos)
        << res.out;
  EXPECT_NE(res.out.find("[ok  ] rule"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("[ok  ] base model"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("[ok  ] included hash"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("[FAIL] aggregate: multi-krum(f=1, m=4) over 5 updates gives"),
            std::string::npos)
      << res.out;
  EXPECT_NE(res.out.find("the posted modelHash is " + chain::to_hex(lie)), std::string::npos)
      << res.out;
  EXPECT_NE(res.out.find("[FAIL] included bitmap: the posted bitmap is not the rule's selection: " +
                         t.addresses[far_off].to_checksum() +
                         " is included but the rule flagged it rejected"),
            std::string::npos)
      << res.out;
  EXPECT_NE(res.out.find("round 1 NOT VERIFIED: 2 of "), std::string::npos) << res.out;
}
// Equivocation (contracts/README.md, trust model): a proposer commits one update hash on chain and
// sends murmurd its signed Update for another. murmurd holds the evidence reportEquivocation takes:
// it refuses the commit (ERR_HASH_MISMATCH, naming the equivocation), reports it on chain through
// its reporter (recorded in equivocations.db first) and drops the upload; the node then delivers
// the update it committed, and the round goes on for everyone and is finalized. Checked: the
// refusal, the contract's `reported` flag and Equivocation slash (stake down by slashBps),
// murmurd's record of its own report, and the finalized round. The draw has exactly kProposers
// proposers (as above).
TEST_F(VerifyOnV2, AProposerThatSignsAnotherHashThanItCommittedIsReportedAndTheRoundGoesOn) {
  chain::EthClient& eth = *eth_;
  const DrawnTask t = drawn_task(kSeed + 2);
  const chain::Address v2 = *t.dep.alliance_task_v2;
  chain::AllianceTaskV2Contract c(eth, v2);
  const std::size_t cheat = t.proposers.front();
  const chain::Address& cheat_address = t.addresses[cheat];
  const U256 stake_before = c.node_info(t.task, cheat_address).stake;
  TempDir dir("murmur-equivocation");
  const server::Config cfg = murmurd_config(t, dir.path(), url(), eth.chain_id());
  const chain::Eip712Domain domain{"Murmuration", "1", eth.chain_id(), v2};

  std::vector<float> committed(kParameters), other(kParameters);
  for (std::uint64_t j = 0; j < kParameters; ++j) {
    committed[j] = 0.5f * target(j) + noise(cheat, j, 1);
    other[j] = committed[j] + 0.25f;
  }
  const auto hash_of = [](const std::vector<float>& v) {
    return protocol::update_hash(
        std::span(reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(float)));
  };
  std::string refusal_message;
  wire::ErrorCode refusal_code = wire::ERR_UNSPECIFIED;
  client::UploadResult delivered;
  {
    BlockProducer producer(url(), 250ms);
    server::Server srv(cfg);
    srv.start();
    const std::string server_key = srv.curve_public_key();
    std::vector<std::string> failures(kNodes);
    std::vector<std::thread> nodes;
    for (std::size_t i = 0; i < kNodes; ++i)
      if (i != cheat)
        nodes.emplace_back([&, i] {
          failures[i] = run_chain_node(cfg, server_key, t, i, dir.path(), url(), false);
        });
    std::string cheat_failure;
    try {
      client::NodeClient nc(client_options(cfg, server_key));
      nc.register_node(t.keys[cheat], cfg.chain_id);
      ASSERT_EQ(nc.round_info().role(), wire::ROLE_PROPOSER);
      chain::Wallet w(eth, t.keys[cheat]);
      w.transact(v2, chain::alliance_v2::commit_update(t.task, U256(1), hash_of(committed)));
      const client::Signer signer{&t.keys[cheat], domain};
      try {
        nc.upload_update(cfg.task_id, 1, other, wire::DTYPE_F32, 10, signer);
      } catch (const client::ServerError& e) {
        refusal_code = e.code();
        refusal_message = e.what();
      }
      delivered = nc.upload_update(cfg.task_id, 1, committed, wire::DTYPE_F32, 10, signer);
    } catch (const std::exception& e) {
      cheat_failure = e.what();
    }
    const auto end = wait_for_stage(srv, wire::STAGE_CLOSED, std::chrono::seconds(150));
    for (auto& n : nodes) n.join();
    // The reporter sends as soon as the evidence is recorded; on a loaded machine it is given
    // up to a minute more before murmurd stops.
    for (int k = 0; k < 240 && !c.entry_of(t.task, U256(1), cheat_address).reported; ++k)
      std::this_thread::sleep_for(250ms);
    srv.stop();
    EXPECT_EQ(cheat_failure, "");
    for (std::size_t i = 0; i < kNodes; ++i) EXPECT_EQ(failures[i], "") << "node " << i;
    ASSERT_EQ(end.stage, wire::STAGE_CLOSED) << end.last_outcome;
  }
  EXPECT_EQ(refusal_code, wire::ERR_HASH_MISMATCH) << refusal_message;
  EXPECT_NE(refusal_message.find("equivocation"), std::string::npos) << refusal_message;
  EXPECT_EQ(delivered.update_hash, hash_of(committed));

  // On chain: reported by murmurd's reporter and slashed slashBps (1000) of the stake.
  const auto entry = c.entry_of(t.task, U256(1), cheat_address);
  EXPECT_TRUE(entry.reported);
  EXPECT_EQ(entry.commitment, hash_of(committed));
  EXPECT_EQ(c.node_info(t.task, cheat_address).stake, stake_before - stake_before / U256(10));
  // murmurd's record of its report.
  {
    chain::sqlite::Database db(dir.path() / "data" / "equivocations.db",
                               chain::sqlite::Mode::kReadOnly, "test");
    chain::sqlite::Statement q(db, "SELECT round, node, update_hash, state FROM equivocations");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.integer(0), 1);
    EXPECT_EQ(q.blob(1), chain::Bytes(cheat_address.bytes.begin(), cheat_address.bytes.end()));
    const chain::Hash32 signed_hash = hash_of(other);
    EXPECT_EQ(q.blob(2), chain::Bytes(signed_hash.begin(), signed_hash.end()));
    EXPECT_EQ(q.text(3), "reported");
    EXPECT_FALSE(q.step()) << "one equivocation, one record";
  }
  // The round went on for everyone: finalized, every proposer's update committed.
  const auto r = c.get_round(t.task, U256(1));
  EXPECT_EQ(r.state, chain::V2RoundState::Finalized);
  for (std::size_t i : t.proposers)
    EXPECT_NE(c.entry_of(t.task, U256(1), t.addresses[i]).commitment, chain::Hash32{})
        << "node " << i;
}

}  // namespace
}  // namespace murmur::testing
