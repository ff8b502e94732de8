// `murmur chain` end to end on a Hardhat node, and the crash tests: the poster process dies
// between sending finalizeRound and its receipt (or just before sending), is restarted, and
// exactly one finalize lands — one RoundFinalized event, one nonce used, the outbox confirmed
// with the transaction that was recorded before the crash.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "chain/chain_fixture.hpp"
#include "murmur/chain/key_source.hpp"

namespace murmur::chain {
namespace {

using nlohmann::json;
using testing::kKeySeed;
using testing::LocalChainTest;
using testing::ProcessResult;

class CliTest : public LocalChainTest {
 protected:
  void SetUp() override {
    LocalChainTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = testing::make_temp_dir("cli");
    deployment_ = dir_ / "deployment.json";
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure())
      std::filesystem::remove_all(dir_);
    else if (!dir_.empty())
      std::cout << "kept " << dir_ << " for inspection\n";
  }

  std::filesystem::path key_file(const std::string& name, const PrivateKey& key) {
    auto f = dir_ / (name + ".key");
    write_key_file(f, key);
    return f;
  }

  ProcessResult cli(const std::filesystem::path& key, const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {MURMUR_CLI,   "chain",        "--rpc",
                                     url(),        "--deployment", deployment_.string(),
                                     "--key-file", key.string(),   "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, env, std::chrono::seconds(90));
  }

  /// Runs a command that must succeed; returns the JSON it printed last.
  json ok(const std::filesystem::path& key, const std::vector<std::string>& args) {
    ProcessResult r = cli(key, args);
    EXPECT_EQ(r.exit_code, 0) << "murmur chain " << args[0] << " failed:\n" << r.out << r.err;
    std::string last = r.out.substr(r.out.find_last_of('\n', r.out.size() - 2) + 1);
    json j = json::parse(last, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "no JSON from murmur chain " << args[0] << ":\n"
                                   << r.out << r.err;
    return j;
  }

  std::size_t finalized_events(const Deployment& d, const U256& task, const U256& round) {
    return AllianceTaskContract(*eth_, d.alliance_task).round_finalized_events(task, round).size();
  }

  std::filesystem::path dir_, deployment_;
};

TEST_F(CliTest, LifecycleCreateStakeJoinStatusVoteFinalizeClaim) {
  std::mt19937_64 rng(kKeySeed + 2);
  PrivateKey creator = funded_key(rng), aggregator = funded_key(rng);
  std::vector<PrivateKey> nodes = {funded_key(rng), funded_key(rng), funded_key(rng)};
  auto creator_key = key_file("creator", creator), agg_key = key_file("aggregator", aggregator);

  json d = ok(creator_key,
              {"deploy", "--artifacts", (repo() / "contracts/artifacts/contracts").string()});
  ASSERT_TRUE(d.contains("allianceTask"));
  Deployment dep = load_deployment(deployment_);
  ok(creator_key, {"mint", "--amount", "900000"});
  json created =
      ok(creator_key, {"create-task", "--reward-pool", "900000", "--rounds", "3", "--min-stake",
                       "100", "--proposer-bps", "0", "--slash-bps", "1000", "--aggregator",
                       aggregator.address().to_checksum(), "--model-spec-hash",
                       to_hex(keccak256(std::string_view("spec"))), "--initial-model-hash",
                       to_hex(keccak256(std::string_view("m0")))});
  std::string task = created.at("taskId");
  EXPECT_EQ(task, "1");

  const char* stakes[] = {"100", "200", "300"};
  std::vector<std::filesystem::path> keys;
  Wallet minter = wallet(creator);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    keys.push_back(key_file("node" + std::to_string(i), nodes[i]));
    if (i == 0)
      ok(creator_key, {"mint", "--to", nodes[i].address().to_checksum(), "--amount", stakes[i]});
    else
      minter.transact(dep.token, erc20::mint(nodes[i].address(), U256::from_string(stakes[i])));
    EXPECT_EQ(ok(keys[i], {"stake", "--task", task, "--amount", stakes[i]}).at("stake"), stakes[i]);
    ok(keys[i], {"join", "--task", task});
  }
  // A node below minStake is refused with the decoded custom error.
  PrivateKey poor = funded_key(rng);
  ProcessResult refused = cli(key_file("poor", poor), {"join", "--task", task});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("StakeTooSmall(stake=0, minStake=100)"), std::string::npos)
      << refused.err;

  json status = ok(keys[1], {"status", "--task", task});
  EXPECT_EQ(status.at("members"), 3);
  EXPECT_EQ(status.at("pool"), "900000");
  EXPECT_EQ(status.at("node").at("stake"), "200");
  EXPECT_EQ(status.at("node").at("joined"), true);

  json started = ok(agg_key, {"start-round", "--task", task});
  EXPECT_EQ(started.at("round"), "1");
  std::string model = to_hex(keccak256(std::string_view("model 1")));
  json votes = json::array();
  const char* scores[] = {"1", "1", "-1"};  // 100 + 200 − 300 = 0 ≥ 0: accepted
  // Node 0 signs with the CLI; the others in-process (each CLI start costs about a second).
  Eip712Domain domain{"Murmuration", "1", dep.chain_id, dep.alliance_task};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    VoteMessage v{U256(1), U256(1), hash_from_hex(model),
                  static_cast<std::int8_t>(std::stoi(scores[i]))};
    json expected = {{"voter", nodes[i].address().to_checksum()},
                     {"score", v.score},
                     {"signature", to_hex(sign_vote(nodes[i], domain, v))}};
    if (i == 0) {
      json signed_by_cli = ok(keys[i], {"vote", "--task", task, "--round", "1", "--model-hash",
                                        model, "--score", scores[i]});
      EXPECT_EQ(signed_by_cli, expected);
    }
    votes.push_back(expected);
  }
  std::ofstream(dir_ / "votes.json") << votes.dump();
  json fin =
      ok(agg_key, {"finalize", "--task", task, "--round", "1", "--model-hash", model, "--votes",
                   (dir_ / "votes.json").string(), "--outbox", (dir_ / "outbox.db").string()});
  EXPECT_EQ(fin.at("success"), true);
  EXPECT_EQ(fin.at("event").at("accepted"), true);
  EXPECT_EQ(fin.at("event").at("voteSum"), "0");
  // R = 900000 / 3 = 300000 shared by the +1 voters' stakes 100 : 200; the −1 voter loses 10%.
  EXPECT_EQ(fin.at("event").at("rewardPaid"), "300000");
  EXPECT_EQ(fin.at("event").at("slashed"), "30");
  json after =
      ok(creator_key, {"status", "--task", task, "--node", nodes[2].address().to_checksum()});
  EXPECT_EQ(after.at("node").at("stake"), "270");
  EXPECT_EQ(after.at("finalizedRounds"), 1);
  EXPECT_EQ(
      AllianceTaskContract(*eth_, dep.alliance_task).node_info(U256(1), nodes[0].address()).reward,
      U256(100000));
  EXPECT_EQ(ok(keys[1], {"claim", "--task", task}).at("claimed"), "200000");
  EXPECT_EQ(erc20::balance_of(*eth_, dep.token, nodes[1].address()), U256(200000));
}

TEST_F(CliTest, PosterKilledAroundSendingLandsExactlyOneFinalize) {
  std::mt19937_64 rng(kKeySeed + 3);
  Wallet creator = wallet(funded_key(rng));
  PrivateKey aggregator = funded_key(rng);
  auto agg_key = key_file("aggregator", aggregator);
  Deployment dep = deploy(creator);
  save_deployment(deployment_, dep);
  TaskParams params{dep.token,  U256(600000),         U256(6),  U256(100), U256(0),
                    U256(1000), aggregator.address(), Hash32{}, Hash32{}};
  creator.transact(dep.token, erc20::mint(creator.address(), params.reward_pool));
  creator.transact(dep.token, erc20::approve(dep.alliance_task, params.reward_pool));
  U256 task = alliance::task_id_from_receipt(
      creator.transact(dep.alliance_task, alliance::create_task(params)), dep.alliance_task);
  Wallet node = wallet(funded_key(rng));
  creator.transact(dep.token, erc20::mint(node.address(), U256(500)));
  node.transact(dep.token, erc20::approve(dep.alliance_task, U256(500)));
  node.transact(dep.alliance_task, alliance::stake(task, U256(500)));
  node.transact(dep.alliance_task, alliance::join(task));
  Wallet agg = wallet(aggregator);
  auto outbox_file = dir_ / "outbox.db";

  auto finalize_args = [&](const U256& round) {
    return std::vector<std::string>{"finalize",
                                    "--task",
                                    task.to_dec(),
                                    "--round",
                                    round.to_dec(),
                                    "--model-hash",
                                    to_hex(keccak256("model " + round.to_dec())),
                                    "--outbox",
                                    outbox_file.string()};
  };
  auto start_round = [&] {
    return alliance::round_from_receipt(
               agg.transact(dep.alliance_task, alliance::start_round(task)), dep.alliance_task)
        .first;
  };
  // After the restart: one event, one nonce, the recorded transaction confirmed.
  auto expect_exactly_once = [&](const U256& round, std::uint64_t nonce_before,
                                 const Hash32& recorded) {
    EXPECT_EQ(finalized_events(dep, task, round), 1u) << "round " << round.to_dec();
    EXPECT_EQ(eth_->pending_nonce(aggregator.address()), nonce_before + 1)
        << "round " << round.to_dec();
    auto p = Outbox(outbox_file).find({"finalizeRound", task, round});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->state, PostingState::Confirmed);
    EXPECT_EQ(p->attempts, 1);
    EXPECT_EQ(p->tx_hash, recorded) << "the same signed transaction must be the one that landed";
    auto ev = AllianceTaskContract(*eth_, dep.alliance_task).round_finalized_events(task, round);
    if (!ev.empty()) {
      EXPECT_EQ(ev[0].tx_hash, recorded);
    }
  };
  auto crash = [&](const U256& round, const char* var) {
    ProcessResult r = cli(agg_key, finalize_args(round), {{var, "1"}});
    EXPECT_EQ(r.exit_code, 75) << "the injected crash did not happen:\n" << r.out << r.err;
    auto p = Outbox(outbox_file).find({"finalizeRound", task, round});
    EXPECT_TRUE(p && p->state == PostingState::Prepared)
        << "the transaction must be recorded before sending";
    return p ? p->tx_hash : Hash32{};
  };

  {  // (a) killed after sending; the node mined it meanwhile: the restart finds the receipt.
    U256 round = start_round();
    std::uint64_t nonce = eth_->pending_nonce(aggregator.address());
    Hash32 recorded = crash(round, "MURMUR_POSTER_CRASH_AFTER_SEND");
    EXPECT_EQ(finalized_events(dep, task, round), 1u);
    json j = ok(agg_key, finalize_args(round));
    EXPECT_EQ(j.at("success"), true);
    expect_exactly_once(round, nonce, recorded);
  }
  {  // (b) killed after sending; the node lost the transaction: the restart rebroadcasts it.
    U256 round = start_round();
    std::uint64_t nonce = eth_->pending_nonce(aggregator.address());
    eth_->raw("evm_setAutomine", nlohmann::json::array({false}));
    Hash32 recorded = crash(round, "MURMUR_POSTER_CRASH_AFTER_SEND");
    EXPECT_TRUE(
        eth_->raw("hardhat_dropTransaction", nlohmann::json::array({to_hex(recorded)})).get<bool>())
        << "it was in the mempool";
    eth_->raw("evm_setAutomine", nlohmann::json::array({true}));
    EXPECT_EQ(finalized_events(dep, task, round), 0u);
    json j = ok(agg_key, {"resume", "--outbox", outbox_file.string()});
    ASSERT_EQ(j.at("reconciled").size(), 1u);
    EXPECT_EQ(j.at("reconciled")[0].at("success"), true);
    expect_exactly_once(round, nonce, recorded);
  }
  {  // (c) killed after sending; still pending when restarted: rebroadcast is a no-op, mined later.
    U256 round = start_round();
    std::uint64_t nonce = eth_->pending_nonce(aggregator.address());
    eth_->raw("evm_setAutomine", nlohmann::json::array({false}));
    Hash32 recorded = crash(round, "MURMUR_POSTER_CRASH_AFTER_SEND");
    std::vector<std::string> argv = {MURMUR_CLI,   "chain",          "--rpc",
                                     url(),        "--deployment",   deployment_.string(),
                                     "--key-file", agg_key.string(), "--json"};
    for (const auto& a : finalize_args(round)) argv.push_back(a);
    testing::ChildProcess restarted(argv, {}, {"MURMUR_POSTER_CRASH_AFTER_SEND"});
    std::this_thread::sleep_for(
        std::chrono::milliseconds(1500));  // let it rebroadcast and start polling
    EXPECT_EQ(finalized_events(dep, task, round), 0u) << "nothing is mined while automine is off";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!restarted.finished() && std::chrono::steady_clock::now() < deadline) {
      eth_->raw("evm_mine", json::array());
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    eth_->raw("evm_setAutomine", nlohmann::json::array({true}));
    ProcessResult r = restarted.wait(std::chrono::seconds(5));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_exactly_once(round, nonce, recorded);
  }
  {  // (d) killed after recording, before sending: the restart sends the recorded transaction.
    U256 round = start_round();
    std::uint64_t nonce = eth_->pending_nonce(aggregator.address());
    Hash32 recorded = crash(round, "MURMUR_POSTER_CRASH_BEFORE_SEND");
    EXPECT_EQ(eth_->pending_nonce(aggregator.address()), nonce) << "nothing may have been sent";
    EXPECT_EQ(ok(agg_key, finalize_args(round)).at("success"), true);
    expect_exactly_once(round, nonce, recorded);
  }
  {  // (e) killed after sending; the node lost it and the nonce was then used by another
     // transaction of the aggregator: the restart sees "nonce too low", no receipt and no
     // RoundFinalized, so it signs a new transaction (next nonce) and records a second attempt.
    U256 round = start_round();
    eth_->raw("evm_setAutomine", nlohmann::json::array({false}));
    Hash32 recorded = crash(round, "MURMUR_POSTER_CRASH_AFTER_SEND");
    eth_->raw("hardhat_dropTransaction", nlohmann::json::array({to_hex(recorded)}));
    eth_->raw("evm_setAutomine", nlohmann::json::array({true}));
    std::uint64_t used = Outbox(outbox_file).find({"finalizeRound", task, round})->nonce;
    TxOptions same_nonce;
    same_nonce.nonce = used;
    same_nonce.gas_limit = 21000;
    SignedTransaction other = agg.prepare(aggregator.address(), {}, U256(0), same_nonce);
    agg.eth().send_raw_transaction(other.raw);
    agg.confirm(other, std::chrono::seconds(10));
    json j = ok(agg_key, {"resume", "--outbox", outbox_file.string()});
    ASSERT_EQ(j.at("reconciled").size(), 1u);
    EXPECT_EQ(j.at("reconciled")[0].at("success"), true);
    auto p = Outbox(outbox_file).find({"finalizeRound", task, round});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->state, PostingState::Confirmed);
    EXPECT_EQ(p->attempts, 2);
    EXPECT_EQ(p->nonce, used + 1);
    EXPECT_NE(p->tx_hash, recorded);
    EXPECT_EQ(finalized_events(dep, task, round), 1u);
  }
  {  // (f) SIGKILL from outside while the poster polls for the receipt (nothing is mined yet).
    U256 round = start_round();
    std::uint64_t nonce = eth_->pending_nonce(aggregator.address());
    eth_->raw("evm_setAutomine", nlohmann::json::array({false}));
    std::vector<std::string> argv = {MURMUR_CLI,   "chain",          "--rpc",
                                     url(),        "--deployment",   deployment_.string(),
                                     "--key-file", agg_key.string(), "--json"};
    for (const auto& a : finalize_args(round)) argv.push_back(a);
    testing::ChildProcess poster(argv, {}, {"MURMUR_POSTER_CRASH_AFTER_SEND"});
    std::optional<Posting> p;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline && !poster.finished()) {
      p = Outbox(outbox_file).find({"finalizeRound", task, round});
      if (p && p->state == PostingState::Sent) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(p && p->state == PostingState::Sent) << "the poster never reached the receipt wait";
    ProcessResult killed = poster.wait(std::chrono::milliseconds(0));  // SIGKILL now
    EXPECT_TRUE(killed.timed_out) << "the poster should still have been waiting: " << killed.out
                                  << killed.err;
    eth_->raw("evm_mine", json::array());
    eth_->raw("evm_setAutomine", nlohmann::json::array({true}));
    EXPECT_EQ(ok(agg_key, finalize_args(round)).at("success"), true);
    expect_exactly_once(round, nonce, p->tx_hash);
  }
  // Every round finalized once; a further finalize of the last round is answered from the outbox.
  json again = ok(agg_key, finalize_args(U256(6)));
  EXPECT_EQ(again.at("alreadyDone"), true);
  EXPECT_EQ(AllianceTaskContract(*eth_, dep.alliance_task).get_task(task).finalized_rounds, 6u);
}

}  // namespace
}  // namespace murmur::chain
