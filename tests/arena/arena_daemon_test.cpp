// `murmur arena validate --daemon` end to end on a Hardhat node (issue 17): three validator
// daemons (processes, one of them with --drive: it closes, draws and finalizes) over a task with
// four submitted LoRA adapters of a tiny random LLaMA, two published to a directory store and two
// served over HTTP by `murmur arena serve`. One daemon is killed with SIGKILL after its commitment
// is on chain and restarted once the reveal window is open: it reveals from its state directory
// without scoring again, and nothing is sent twice. Every revealed score equals `murmur validate`'s
// loss for that adapter (within the batched vs merged tolerance), and the task ranks the
// submissions in the order of those losses.
#include <gtest/gtest.h>

// (CPPHTTPLIB_* come from the murmur_httplib target: cmake/MurmurDependencies.cmake.)
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <thread>

#include "chain/chain_fixture.hpp"
#include "murmur/arena/adapter.hpp"
#include "murmur/chain/arena_settlement.hpp"
#include "murmur/chain/arena_store.hpp"
#include "murmur/chain/arena_task.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/outbox.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::chain {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::kKeySeed;
using testing::LocalChainTest;
using testing::ProcessResult;
namespace fs = std::filesystem;
namespace at = murmur::arena::testing;

/// Batched and merged scores of one adapter agree within 1e-6 relative (arena/README.md,
/// kBatchedVsMerged); a fixed-point score is round(loss · 1e6), so it may differ by that much
/// plus one unit of rounding from a score computed on the other path.
std::uint64_t score_tolerance(double loss) {
  return static_cast<std::uint64_t>(std::ceil(loss * 1e6 * 1e-6)) + 1;
}

std::string named(const char* prefix, std::size_t i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

class ArenaDaemonTest : public LocalChainTest {
 protected:
  void SetUp() override {
    LocalChainTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = testing::make_temp_dir("arena-daemon");
    deployment_ = dir_ / "arena.json";
    // A copy of the command: a build elsewhere in the tree may relink build/cli/murmur while
    // this test starts its processes.
    cli_ = (dir_ / "murmur").string();
    fs::copy_file(MURMUR_CLI, cli_);
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

  std::vector<std::string> argv(const fs::path& key, const std::vector<std::string>& args) {
    std::vector<std::string> a = {
        cli_,         "arena",      "--rpc", url(), "--arena-deployment", deployment_.string(),
        "--key-file", key.string(), "--json"};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }

  json ok(const fs::path& key, const std::vector<std::string>& args) {
    ProcessResult r = testing::run_process(argv(key, args), {}, std::chrono::seconds(90));
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

  /// Polls `done` every 200 ms up to `limit`; the verdict depends on the chain's state only.
  template <class F>
  bool eventually(F done, std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return done();
  }

  fs::path dir_, deployment_;
  std::string cli_;
};

TEST_F(ArenaDaemonTest, DaemonsScoreCommitRevealAcrossAKillAndTheTaskRanksByLoss) {
  // The model, the held-out set and four adapters of different quality.
  const murmur::arena::LlamaConfig config = at::tiny_config();
  at::write_llama(at::random_llama(config, 11), dir_ / "base");
  murmur::arena::write_eval_jsonl(dir_ / "heldout.jsonl",
                                  at::random_eval_set(config, 6, 10, 24, 12));
  using P = murmur::arena::Projection;
  const std::vector<at::AdapterSpec> specs{{"qv", 4, 8, {P::kQ, P::kV}, {}, false},
                                           {"mlp", 8, 16, {P::kGate, P::kUp, P::kDown}, {}, false},
                                           {"o", 2, 4, {P::kO}, {}, false},
                                           {"all", 4, 32, {P::kQ, P::kK, P::kV, P::kO}, {}, false}};
  std::vector<fs::path> adapters;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    adapters.push_back(dir_ / "adapters" / specs[i].name);
    murmur::arena::write_adapter(adapters.back(), at::random_adapter(config, specs[i], 300 + i));
  }

  std::mt19937_64 rng(kKeySeed + 170);
  PrivateKey creator = funded_key(rng);
  std::vector<PrivateKey> nodes, vals;
  for (int i = 0; i < 4; ++i) nodes.push_back(funded_key(rng));
  for (int i = 0; i < 3; ++i) vals.push_back(funded_key(rng));
  std::vector<fs::path> nk, vk;
  for (std::size_t i = 0; i < nodes.size(); ++i) nk.push_back(key_file(named("node", i), nodes[i]));
  for (std::size_t i = 0; i < vals.size(); ++i) vk.push_back(key_file(named("val", i), vals[i]));

  // Contracts and task by the library (ArenaCliTest runs these commands): fewer processes.
  Wallet minter = wallet(creator);
  const Address token = deploy_artifact(minter, "MockToken");
  const Address arena_addr = deploy_artifact(minter, "ArenaTask");
  std::ofstream(deployment_) << json{
      {"chainId", eth_->chain_id()},
      {"token", token.to_checksum()},
      {"arenaTask",
       arena_addr.to_checksum()}}.dump();
  ArenaTaskParams params;
  params.token = token;
  params.reward_pool = U256(1000000);
  params.min_node_stake = U256(100);
  params.min_validator_stake = U256(100);
  params.submit_window = params.commit_window = params.reveal_window = 600;
  params.validators_per_submission = 2;
  params.base_model_hash = adapter_directory_hash(dir_ / "base");
  {
    std::ifstream in(dir_ / "heldout.jsonl", std::ios::binary);
    const Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    params.eval_set_hash = keccak256(bytes);
  }
  minter.transact(token, erc20::mint(creator.address(), params.reward_pool));
  minter.transact(token, erc20::approve(arena_addr, params.reward_pool));
  const U256 t = arena::task_id_from_receipt(
      minter.transact(arena_addr, arena::create_task(params)), arena_addr);
  const std::string task = t.to_dec();
  auto stake = [&](const PrivateKey& k, ArenaRole role, std::uint64_t amount) {
    minter.transact(token, erc20::mint(k.address(), U256(amount)));
    Wallet w = wallet(k);
    w.transact(token, erc20::approve(arena_addr, U256(amount)));
    w.transact(arena_addr, arena::stake(t, role, U256(amount), 0));
  };
  for (const auto& k : nodes) stake(k, ArenaRole::Node, 200);
  for (std::size_t j = 0; j < vals.size(); ++j) stake(vals[j], ArenaRole::Validator, 300 + 100 * j);

  // Two adapters in a directory store (file://), two served over HTTP.
  const fs::path store = dir_ / "store", http_store = dir_ / "http-store";
  fs::create_directories(http_store);
  const int serve_port = testing::free_loopback_port();
  ChildProcess serve({cli_, "arena", "serve", "--store", http_store.string(), "--port",
                      std::to_string(serve_port), "--max-seconds", "300"});
  const std::string store_url = "http://127.0.0.1:" + std::to_string(serve_port);
  ASSERT_TRUE(eventually(
      [&] {
        httplib::Client c(store_url);
        return static_cast<bool>(c.Get("/"));
      },
      std::chrono::seconds(30)))
      << "murmur arena serve did not answer";
  // Nodes 0 and 2 submit with the CLI (`--store`, `--store-url`), 1 and 3 by the library.
  std::vector<Hash32> hashes;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const fs::path& where = i < 2 ? store : http_store;
    hashes.push_back(adapter_directory_hash(adapters[i]));
    const std::string url = store_url + "/" + to_hex(hashes.back(), false);
    if (i % 2 == 0) {
      std::vector<std::string> a = {
          "submit", "--task", task, "--adapter", adapters[i].string(), "--store", where.string()};
      if (i >= 2) a.insert(a.end(), {"--store-url", store_url});
      json sub = ok(nk[i], a);
      EXPECT_EQ(sub.at("adapterHash"), to_hex(hashes.back()));
      if (i >= 2) {
        EXPECT_EQ(sub.at("uri"), url);
      }
    } else {
      const PublishedAdapter pub = publish_adapter(adapters[i], where);
      ASSERT_EQ(pub.hash, hashes.back());
      Wallet w = wallet(nodes[i]);
      w.transact(arena_addr, arena::submit(t, pub.hash, i >= 2 ? url : pub.uri));
    }
  }

  // What `murmur validate` scores each adapter (batched SGMV), over both stores.
  {
    ProcessResult r = testing::run_process(
        {cli_, "validate", "--base", (dir_ / "base").string(), "--adapters", store.string(),
         http_store.string(), "--data", (dir_ / "heldout.jsonl").string(), "--batch", "4",
         "--device", "cpu", "--out", (dir_ / "validate.json").string()},
        {}, std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  std::map<std::string, double> loss_of;  // hash hex (no 0x) -> mean loss
  {
    std::ifstream in(dir_ / "validate.json");
    const json report = json::parse(in);
    for (const auto& a : report.at("adapters")) {
      ASSERT_TRUE(a.at("valid").get<bool>()) << a.dump();
      loss_of[a.at("name").get<std::string>()] = a.at("mean_loss").get<double>();
    }
  }
  ASSERT_EQ(loss_of.size(), 4u);
  std::vector<double> losses;
  for (const auto& h : hashes) losses.push_back(loss_of.at(to_hex(h, false)));
  {
    // The four adapters are far apart: the ranking below cannot flip within the tolerance.
    std::vector<double> sorted = losses;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i < sorted.size(); ++i) ASSERT_GT(sorted[i] - sorted[i - 1], 1e-3);
  }

  // Three validator daemons: two batched, one on this backend's default (auto: merged on CPU).
  // Distinct ports (httplib sets SO_REUSEPORT: two daemons on one port would share its scrapes).
  std::vector<int> metrics_ports;
  while (metrics_ports.size() < 3) {
    const int p = testing::free_loopback_port();
    if (p != serve_port &&
        std::find(metrics_ports.begin(), metrics_ports.end(), p) == metrics_ports.end())
      metrics_ports.push_back(p);
  }
  auto daemon = [&](std::size_t j, bool metrics) {
    std::vector<std::string> a = {"validate",      "--daemon",
                                  "--task",        task,
                                  "--base",        (dir_ / "base").string(),
                                  "--data",        (dir_ / "heldout.jsonl").string(),
                                  "--state-dir",   (dir_ / named("state", j)).string(),
                                  "--batch",       "4",
                                  "--device",      "cpu",
                                  "--poll-ms",     "200",
                                  "--until",       "claimed",
                                  "--max-seconds", "240"};
    if (j > 0) a.insert(a.end(), {"--strategy", "batched"});
    if (j == 2) a.push_back("--drive");  // sends close, draw and finalize when due
    if (metrics) a.insert(a.end(), {"--metrics-port", std::to_string(metrics_ports[j])});
    return std::make_unique<ChildProcess>(argv(vk[j], a));
  };
  std::vector<std::unique_ptr<ChildProcess>> daemons;
  for (std::size_t j = 0; j < vals.size(); ++j) daemons.push_back(daemon(j, true));

  // Daemon 2 (--drive) closes the submissions once the clock passes the deadline, and draws the
  // assignments once blocks past the seed block exist.
  ArenaTaskContract ct(*eth_, arena_addr);
  advance(601);
  ASSERT_TRUE(eventually([&] { return ct.get_task(t).phase != ArenaPhase::Open; },
                         std::chrono::seconds(150)))
      << "the driving daemon did not close the submissions";
  eth_->raw("hardhat_mine", json::array({"0x3"}));
  ASSERT_TRUE(eventually([&] { return ct.get_task(t).phase == ArenaPhase::Scoring; },
                         std::chrono::seconds(60)))
      << "the driving daemon did not draw the assignments";
  const auto validators = ct.validators(t);
  std::vector<std::vector<Address>> assigned(nodes.size());
  std::map<Address, std::size_t> load;  // validator -> assigned submissions
  for (std::uint64_t s = 0; s < nodes.size(); ++s) {
    assigned[s] = ct.assignees(t, s);
    ASSERT_EQ(assigned[s].size(), 2u);
    for (const auto& v : assigned[s]) ++load[v];
  }
  auto all = [&](auto pred) {
    for (std::uint64_t s = 0; s < nodes.size(); ++s)
      for (const auto& v : assigned[s])
        if (!pred(ct.score_of(t, s, v))) return false;
    return true;
  };
  auto committed = [&](const Address& who) {
    for (std::uint64_t s = 0; s < nodes.size(); ++s)
      for (const auto& v : assigned[s])
        if (v == who && ct.score_of(t, s, v).commitment == Hash32{}) return false;
    return true;
  };
  // The validator with the most assignments (4 submissions x 2 slots over 3 validators: at least
  // 3, whatever the draw) has its commitment on chain; then it dies (SIGKILL) before any reveal
  // is possible (the reveal window opens only when this test moves the clock).
  std::size_t victim = 0;
  for (std::size_t j = 1; j < vals.size(); ++j)
    if (load[vals[j].address()] > load[vals[victim].address()]) victim = j;
  ASSERT_GE(load[vals[victim].address()], 3u);
  ASSERT_TRUE(
      eventually([&] { return committed(vals[victim].address()); }, std::chrono::seconds(150)))
      << "validator " << victim << " did not commit";
  // The victim's /metrics counts what it scored.
  {
    const std::string want =
        "murmur_arena_adapters_scored_total " + std::to_string(load[vals[victim].address()]) + "\n";
    std::string body;
    const bool scraped = eventually(
        [&] {
          httplib::Client c("http://127.0.0.1:" + std::to_string(metrics_ports[victim]));
          auto res = c.Get("/metrics");
          if (res && res->status == 200) body = res->body;
          return body.find(want) != std::string::npos;
        },
        std::chrono::seconds(90));
    if (!scraped) {
      ProcessResult r = daemons[victim]->wait(std::chrono::seconds(1));
      FAIL() << "no " << want << " on daemon " << victim << "'s /metrics:\n"
             << body << r.out << r.err;
    }
    EXPECT_NE(body.find("murmur_arena_tokens_per_second"), std::string::npos);
  }
  ::kill(daemons[victim]->pid(), SIGKILL);
  daemons[victim]->wait(std::chrono::seconds(10));
  ASSERT_TRUE(eventually(
      [&] { return all([](const ArenaScoreEntry& e) { return e.commitment != Hash32{}; }); },
      std::chrono::seconds(150)))
      << "not every assigned score was committed";

  for (std::uint64_t s = 0; s < nodes.size(); ++s)
    for (const auto& v : assigned[s]) EXPECT_FALSE(ct.score_of(t, s, v).revealed);

  advance(601);                             // the reveal window
  daemons[victim] = daemon(victim, false);  // the same state directory
  ASSERT_TRUE(eventually([&] { return all([](const ArenaScoreEntry& e) { return e.revealed; }); },
                         std::chrono::seconds(150)))
      << "not every committed score was revealed";

  // Every revealed score is `murmur validate`'s loss for that adapter.
  for (std::uint64_t s = 0; s < nodes.size(); ++s)
    for (const auto& v : assigned[s]) {
      const std::uint64_t got = ct.score_of(t, s, v).score;
      const std::uint64_t want = static_cast<std::uint64_t>(std::llround(losses[s] * 1e6));
      EXPECT_LE(got > want ? got - want : want - got, score_tolerance(losses[s]))
          << "submission " << s << " by " << v.to_checksum() << ": revealed " << got
          << ", murmur validate " << want;
    }

  std::vector<U256> before;
  for (const auto& v : vals) before.push_back(erc20::balance_of(*eth_, token, v.address()));
  advance(601);  // past the reveal deadline: daemon 2 finalizes, every daemon claims
  for (std::size_t j = 0; j < daemons.size(); ++j) {
    ProcessResult r = daemons[j]->wait(std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << "daemon " << j << ":\n" << r.out << r.err;
    const std::string last = r.out.substr(r.out.find_last_of('\n', r.out.size() - 2) + 1);
    const json summary = json::parse(last);
    EXPECT_TRUE(summary.at("reached").get<bool>());
    EXPECT_EQ(summary.at("strategy"), j == 0 ? "merged" : "batched");
    // The restarted daemon revealed from its state file: it scored nothing again.
    EXPECT_EQ(summary.at("adaptersScored"), j == victim ? 0u : load[vals[j].address()]) << r.err;
    EXPECT_TRUE(ct.reward_of(t, vals[j].address()).is_zero()) << "daemon " << j << " left a reward";
    if (load[vals[j].address()] > 0) {
      EXPECT_GT(erc20::balance_of(*eth_, token, vals[j].address()), before[j])
          << "daemon " << j << " claimed nothing";
    }
  }
  // Nothing was sent twice: one transaction per posting in the killed daemon's outbox.
  {
    Outbox ob(dir_ / named("state", victim) / "outbox.db");
    const auto postings = ob.all();
    ASSERT_EQ(postings.size(), 3u);  // commitScores, revealScores, claim
    for (const auto& p : postings) {
      EXPECT_EQ(p.state, PostingState::Confirmed) << p.key.to_string();
      EXPECT_EQ(p.attempts, 1) << p.key.to_string();
    }
  }

  // The task ranks the submissions in the order of their losses (lower loss, better rank).
  std::vector<std::size_t> order(nodes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return losses[a] < losses[b]; });
  for (std::size_t r = 0; r < order.size(); ++r) {
    const ArenaResult res = ct.result_of(t, order[r]);
    ASSERT_TRUE(res.rank.has_value());
    EXPECT_EQ(*res.rank, r) << "submission " << order[r] << " (loss " << losses[order[r]] << ")";
    if (r > 0) {
      EXPECT_LT(res.reward, ct.result_of(t, order[r - 1]).reward);
    }
  }
}

}  // namespace
}  // namespace murmur::chain
