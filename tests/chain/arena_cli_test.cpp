// `murmur arena` end to end on a Hardhat node (issue 17): deploy, create-task, stake as node and
// validator, delegate, submit adapters to a directory store (replaced inside the window, refused
// after it), close, draw, commit and reveal scores, finalize, status, claim, withdraw,
// undelegate. The booked results equal chain::settle_arena on the same inputs, every token comes
// back out of the contract, and the adapter store holds exactly what was hashed.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/arena_settlement.hpp"
#include "murmur/chain/arena_store.hpp"
#include "murmur/chain/arena_task.hpp"
#include "murmur/chain/key_source.hpp"

namespace murmur::chain {
namespace {

using nlohmann::json;
using testing::kKeySeed;
using testing::LocalChainTest;
using testing::ProcessResult;
namespace fs = std::filesystem;

/// prefix + i (+ suffix), by appending: GCC 12's -Wrestrict misfires on "literal" + std::string
/// at -O3.
std::string named(const char* prefix, std::size_t i, const char* suffix = "") {
  std::string s(prefix);
  s.append(std::to_string(i));
  s.append(suffix);
  return s;
}

class ArenaCliTest : public LocalChainTest {
 protected:
  void SetUp() override {
    LocalChainTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = testing::make_temp_dir("arena-cli");
    deployment_ = dir_ / "arena.json";
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure())
      fs::remove_all(dir_);
    else if (!dir_.empty())
      std::cout << "kept " << dir_ << " for inspection\n";
  }

  fs::path key_file(const std::string& name, const PrivateKey& key) {
    auto f = dir_ / (name + ".key");
    write_key_file(f, key);
    return f;
  }

  ProcessResult cli(const fs::path& key, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        MURMUR_CLI,           "arena",      "--rpc",      url(),   "--arena-deployment",
        deployment_.string(), "--key-file", key.string(), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, {}, std::chrono::seconds(90));
  }

  json ok(const fs::path& key, const std::vector<std::string>& args) {
    ProcessResult r = cli(key, args);
    EXPECT_EQ(r.exit_code, 0) << "murmur arena " << args[0] << " failed:\n" << r.out << r.err;
    std::string last = r.out.substr(r.out.find_last_of('\n', r.out.size() - 2) + 1);
    json j = json::parse(last, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "no JSON from murmur arena " << args[0] << ":\n"
                                   << r.out << r.err;
    return j;
  }

  void advance(std::uint64_t seconds) {
    eth_->raw("evm_increaseTime", json::array({seconds}));
    eth_->raw("evm_mine", json::array());
  }

  /// An adapter directory with two files whose contents depend on `tag`.
  fs::path adapter(const std::string& tag) {
    fs::path d = dir_ / std::string("adapter-").append(tag);
    fs::create_directories(d / "nested");
    std::ofstream(d / "adapter_config.json") << "{\"r\": 4, \"tag\": \"" << tag << "\"}";
    std::ofstream(d / "nested" / "weights.bin") << "weights of " << tag;
    return d;
  }

  fs::path dir_, deployment_;
};

TEST_F(ArenaCliTest, CreateStakeDelegateSubmitScoreFinalizeClaim) {
  std::mt19937_64 rng(kKeySeed + 17);
  PrivateKey creator = funded_key(rng), delegator = funded_key(rng);
  std::vector<PrivateKey> nodes = {funded_key(rng), funded_key(rng), funded_key(rng)};
  std::vector<PrivateKey> vals = {funded_key(rng), funded_key(rng)};
  const fs::path ck = key_file("creator", creator), dk = key_file("delegator", delegator);
  std::vector<fs::path> nk, vk;
  for (std::size_t i = 0; i < nodes.size(); ++i) nk.push_back(key_file(named("node", i), nodes[i]));
  for (std::size_t i = 0; i < vals.size(); ++i) vk.push_back(key_file(named("val", i), vals[i]));

  json d = ok(ck, {"deploy", "--artifacts", (repo() / "contracts/artifacts/contracts").string()});
  ASSERT_TRUE(d.contains("arenaTask"));
  const Address arena_addr = Address::from_hex(d.at("arenaTask").get<std::string>());
  const Address token = Address::from_hex(d.at("token").get<std::string>());
  ok(ck, {"mint", "--amount", "1000000"});
  Wallet minter = wallet(creator);
  for (const auto& k : nodes) minter.transact(token, erc20::mint(k.address(), U256(1000)));
  for (const auto& k : vals) minter.transact(token, erc20::mint(k.address(), U256(1000)));
  minter.transact(token, erc20::mint(delegator.address(), U256(1000)));

  std::ofstream(dir_ / "eval.jsonl") << "{\"input_ids\": [1, 2, 3]}\n";
  json created =
      ok(ck, {"create-task", "--reward-pool", "1000000", "--min-node-stake", "100",
              "--min-validator-stake", "100", "--submit-window", "600", "--commit-window", "600",
              "--reveal-window", "600", "--k", "2", "--eval-set", (dir_ / "eval.jsonl").string()});
  const std::string task = created.at("taskId");
  ArenaTaskContract ct(*eth_, arena_addr);
  EXPECT_NE(ct.get_task(U256::from_string(task)).eval_set_hash, Hash32{});

  // Stakes: node i 100·(i+1), validator j 300 + 100·j; the first of each through the CLI.
  EXPECT_EQ(ok(nk[0], {"stake", "--task", task, "--role", "node", "--amount", "100",
                       "--commission-bps", "1000"})
                .at("stake"),
            "100");
  EXPECT_EQ(
      ok(vk[0], {"stake", "--task", task, "--role", "validator", "--amount", "300"}).at("stake"),
      "300");
  const U256 t = U256::from_string(task);
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    Wallet w = wallet(nodes[i]);
    w.transact(token, erc20::approve(arena_addr, U256(1000)));
    w.transact(arena_addr, arena::stake(t, ArenaRole::Node, U256(100 * (i + 1)), 0));
  }
  {
    Wallet w = wallet(vals[1]);
    w.transact(token, erc20::approve(arena_addr, U256(1000)));
    w.transact(arena_addr, arena::stake(t, ArenaRole::Validator, U256(400), 0));
  }
  // A node cannot also validate the same task: the decoded custom error reaches the user.
  ProcessResult twice =
      cli(nk[0], {"stake", "--task", task, "--role", "validator", "--amount", "100"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("WrongRole"), std::string::npos) << twice.err;
  EXPECT_EQ(ok(dk, {"delegate", "--task", task, "--to", nodes[0].address().to_checksum(),
                    "--amount", "50"})
                .at("delegation"),
            "50");

  // Submissions: published under their hash, replaceable inside the window.
  const fs::path store = dir_ / "store";
  std::vector<Hash32> hashes;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const fs::path a = adapter(named("n", i));
    json sub =
        ok(nk[i], {"submit", "--task", task, "--adapter", a.string(), "--store", store.string()});
    const Hash32 h = adapter_directory_hash(a);
    EXPECT_EQ(sub.at("adapterHash"), to_hex(h));
    EXPECT_EQ(sub.at("submission"), i);
    const fs::path stored = adapter_path_from_uri(sub.at("uri").get<std::string>());
    EXPECT_EQ(stored, fs::absolute(store / to_hex(h, false)));
    EXPECT_EQ(adapter_directory_hash(stored), h);
    hashes.push_back(h);
  }
  const fs::path better = adapter("n0-better");
  json replaced = ok(
      nk[0], {"submit", "--task", task, "--adapter", better.string(), "--store", store.string()});
  EXPECT_EQ(replaced.at("submission"), 0);
  hashes[0] = adapter_directory_hash(better);
  EXPECT_EQ(ct.participant(t, nodes[0].address()).adapter_hash, hashes[0]);

  json st = ok(ck, {"status", "--task", task});
  EXPECT_EQ(st.at("phase"), "open");
  EXPECT_EQ(st.at("submissions").size(), 3u);
  EXPECT_EQ(st.at("taskStake"), "1350");  // 600 nodes + 700 validators + 50 delegated

  advance(601);
  ProcessResult late = cli(nk[1], {"submit", "--task", task, "--adapter", adapter("late").string(),
                                   "--store", store.string()});
  EXPECT_NE(late.exit_code, 0);
  EXPECT_NE(late.err.find("WindowClosed"), std::string::npos) << late.err;
  EXPECT_EQ(ok(ck, {"close", "--task", task}).at("phase"), "sealing");
  eth_->raw("hardhat_mine", json::array({"0x3"}));
  EXPECT_EQ(ok(dk, {"draw", "--task", task}).at("phase"), "scoring");

  // Both validators score every submission they are assigned (k = 2 of 2: all of them).
  const double losses[] = {1.25, 1.5, 2.75};
  std::ofstream(dir_ / "scores.json") << json{{"0", losses[0]}, {"1", losses[1]}, {"2", losses[2]}};
  EXPECT_EQ(ok(vk[0], {"commit", "--task", task, "--scores", (dir_ / "scores.json").string(),
                       "--state", (dir_ / named("state", 0, ".json")).string()})
                .at("committed")
                .size(),
            3u);
  // The second validator commits from a `murmur validate --out` report over the store's entries
  // (named by their hash; an adapter of no submission is ignored).
  json report = {{"adapters", json::array()}};
  for (std::size_t s = 0; s < 3; ++s)
    report["adapters"].push_back(
        {{"name", to_hex(hashes[s], false)}, {"valid", true}, {"mean_loss", losses[s]}});
  report["adapters"].push_back({{"name", to_hex(adapter_directory_hash(adapter("n0")), false)},
                                {"valid", true},
                                {"mean_loss", 0.5}});
  std::ofstream(dir_ / "report.json") << report;
  EXPECT_EQ(ok(vk[1],
               {"commit", "--task", task, "--validate-report", (dir_ / "report.json").string(),
                "--store", store.string(), "--state", (dir_ / named("state", 1, ".json")).string()})
                .at("committed")
                .size(),
            3u);
  // A second commit on the same state file is refused before anything is sent.
  ProcessResult again =
      cli(vk[1], {"commit", "--task", task, "--scores", (dir_ / "scores.json").string(), "--state",
                  (dir_ / named("state", 1, ".json")).string()});
  EXPECT_NE(again.exit_code, 0);
  advance(601);
  for (std::size_t j = 0; j < vals.size(); ++j)
    ok(vk[j], {"reveal", "--state", (dir_ / named("state", j, ".json")).string()});
  advance(601);

  // What the contract will book, by the C++ rule.
  ArenaInput in;
  in.pot = U256(1000000);
  in.gamma_bps = 5000;
  in.rank_ratio_bps = 5000;
  in.tolerance_bps = 1000;
  in.slash_bps = 5000;
  in.node_stake = {U256(150), U256(200), U256(300)};
  in.validator_stake = {U256(300), U256(400)};
  in.validator_own_stake = in.validator_stake;
  for (std::uint64_t s = 0; s < 3; ++s)
    for (std::size_t v = 0; v < 2; ++v)
      in.entries.push_back({s, v, true, static_cast<std::uint64_t>(losses[s] * 1e6)});
  const ArenaSettlement expected = settle_arena(in);

  ok(dk, {"finalize", "--task", task});
  st = ok(ck, {"status", "--task", task, "--who", nodes[0].address().to_checksum()});
  EXPECT_EQ(st.at("phase"), "finalized");
  for (std::size_t s = 0; s < 3; ++s) {
    const json& r = st.at("submissions")[s].at("result");
    EXPECT_EQ(r.at("rank"), s);
    EXPECT_EQ(r.at("consensus"), static_cast<std::uint64_t>(losses[s] * 1e6));
    EXPECT_EQ(r.at("reward"), expected.node_reward[s].to_dec());
  }
  // Node 0's reward is split with its delegator (commission 10%).
  const U256 d_share =
      split_delegation(expected.node_reward[0], U256(100), 1000, std::vector<U256>{U256(50)})
          .delegators[0];
  EXPECT_EQ(st.at("who").at("claimable"), (expected.node_reward[0] - d_share).to_dec());

  // Everyone takes everything back.
  EXPECT_EQ(ok(nk[0], {"claim", "--task", task}).at("received"),
            (expected.node_reward[0] - d_share).to_dec());
  EXPECT_EQ(ok(dk, {"claim", "--task", task}).at("received"), d_share.to_dec());
  EXPECT_EQ(ok(dk, {"undelegate", "--task", task, "--to", nodes[0].address().to_checksum(),
                    "--amount", "50"})
                .at("delegation"),
            "0");
  EXPECT_EQ(ok(nk[0], {"withdraw", "--task", task}).at("received"), "100");
  EXPECT_EQ(ok(ck, {"claim", "--task", task}).at("received"), expected.creator_credit.to_dec());
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    Wallet w = wallet(nodes[i]);
    w.transact(arena_addr, arena::claim(t));
    w.transact(arena_addr, arena::withdraw(t));
  }
  for (std::size_t j = 0; j < vals.size(); ++j) {
    Wallet w = wallet(vals[j]);
    EXPECT_EQ(ct.reward_of(t, vals[j].address()), expected.validator_reward[j]);
    w.transact(arena_addr, arena::claim(t));
    w.transact(arena_addr, arena::withdraw(t));
  }
  EXPECT_TRUE(erc20::balance_of(*eth_, token, arena_addr).is_zero());
}

// No chain needed (a plain TEST: the fixture's Hardhat node is not started for it).
TEST(ArenaBinding, MatchesTheArtifactAbi) {
  std::ifstream in(fs::path(MURMUR_SOURCE_DIR) /
                   "contracts/artifacts/contracts/ArenaTask.sol/ArenaTask.json");
  ASSERT_TRUE(in) << "compile the contracts first (cd contracts && npx hardhat compile)";
  const json abi = json::parse(in).at("abi");
  std::set<std::string> functions, errors;
  // Canonical "name(type,...)" of an ABI entry, tuples spelled out (appends only: GCC 12's
  // -Wrestrict misfires on chained std::string operator+ at -O3).
  auto canonical = [](const json& params, std::string& out, auto&& self) -> void {
    out.push_back('(');
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string type = params[i].at("type");
      if (i) out.push_back(',');
      if (type.rfind("tuple", 0) == 0) {
        self(params[i].at("components"), out, self);
        out.append(type, 5, std::string::npos);
      } else {
        out.append(type);
      }
    }
    out.push_back(')');
  };
  for (const auto& e : abi) {
    std::string sig = e.value("name", "");
    canonical(e.value("inputs", json::array()), sig, canonical);
    if (e.at("type") == "function") functions.insert(sig);
    if (e.at("type") == "error") errors.insert(sig);
  }
  for (const auto& f : arena::function_signatures())
    EXPECT_TRUE(functions.count(f)) << f << " is not in ArenaTask's ABI";
  for (const auto& e : errors) {
    // Every custom error of the contract decodes with its name (not as raw hex).
    const abi::Signature s = abi::Signature::parse(e);
    std::vector<abi::Value> args;
    for (const auto& p : s.params) {
      using K = abi::Type::Kind;
      if (p.kind == K::Address)
        args.emplace_back(Address{});
      else if (p.kind == K::String)
        args.emplace_back(std::string("x"));
      else if (p.kind == K::FixedBytes)
        args.emplace_back(Bytes(p.size, 0));
      else
        args.emplace_back(U256(1));
    }
    const Bytes data = abi::encode_call(s, args);
    EXPECT_EQ(arena::errors().decode(data).name, s.name) << e << " is missing from arena::errors()";
  }
}

}  // namespace
}  // namespace murmur::chain
