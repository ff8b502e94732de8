// The node's loop and the two CLI commands against a real murmurd on loopback: proposers
// upload (trainer callback fed with the round's global model), voters fetch the candidate and
// vote by the RMS-step rule, rounds advance until the task closes; `murmur node` uploads a file
// and `murmur load` drives synthetic nodes and reports what was committed.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "murmur/chain/keccak.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/node_loop.hpp"
#include "murmur/server/server.hpp"
#include "murmur/testing/process.hpp"
#include "network.hpp"

namespace murmur::testing {
namespace {

using namespace std::chrono_literals;

/// A node loop for the task `cfg` runs, polling every `poll`, giving up after 30 s idle.
client::NodeLoopOptions loop_options(const server::Config& cfg, std::chrono::milliseconds poll) {
  client::NodeLoopOptions o;
  o.chain_id = cfg.chain_id;
  o.domain.chain_id = cfg.chain_id;
  o.domain.verifying_contract = cfg.contract;
  o.poll = poll;
  o.idle_timeout = std::chrono::seconds(30);
  return o;
}

/// What node loops reported, and why any of them failed ("" when it did not).
struct LoopRun {
  std::vector<client::NodeLoopReport> reports;
  std::vector<std::string> failures;
};

/// Runs node loops 0 .. n-1 (keys derived from kKeySeed, one thread each) against `srv` until
/// they stop; node i trains with trainer(i) and votes with rule(i).
LoopRun run_loops(const server::Config& cfg, const server::Server& srv, std::size_t n,
                  std::chrono::milliseconds poll,
                  const std::function<client::Trainer(std::size_t)>& trainer,
                  const std::function<client::VoteRule(std::size_t)>& rule) {
  LoopRun run{std::vector<client::NodeLoopReport>(n), std::vector<std::string>(n)};
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < n; ++i)
    nodes.emplace_back([&, i] {
      try {
        client::NodeClient c(client_options(cfg, srv.curve_public_key()));
        run.reports[i] = client::run_node(c, client::derive_node_key(kKeySeed, i),
                                          loop_options(cfg, poll), trainer(i), rule(i));
      } catch (const std::exception& e) {
        run.failures[i] = e.what();
      }
    });
  for (auto& t : nodes) t.join();
  return run;
}

std::pair<int, std::string> run(const std::string& command) {
  return murmur::testing::run_command(command);
}

std::string connection_flags(const server::Config& cfg, const std::string& key) {
  return " --endpoint " + cfg.endpoint + " --register-endpoint " + cfg.register_endpoint +
         " --server-key '" + key + "' --chain-id " + std::to_string(cfg.chain_id) + " --contract " +
         cfg.contract.to_lower_hex() + " --timeout-ms 5000";
}

TEST(NodeLoop, ProposersUploadVotersVoteUntilTheTaskCloses) {
  constexpr std::size_t kNodes = 8;
  constexpr std::uint64_t kParameters = 10'000;
  TempDir dir("murmur-loop");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.proposer_bps = 5000;
  cfg.rounds = 2;
  cfg.quorum = 1;
  cfg.vote_quorum = 1;
  cfg.upload_window = 20s;
  cfg.vote_window = 20s;
  server::Server srv(cfg);
  srv.start();
  const chain::Hash32 initial_model = srv.snapshot().global_model;

  std::mutex mutex;
  std::map<std::uint64_t, std::set<std::size_t>> trained, judged;  // round -> nodes
  const auto trainer = [&](std::size_t i) -> client::Trainer {
    return [&, i](client::RoundContext& ctx) -> std::optional<client::TrainedUpdate> {
      const auto& global = ctx.global_model();  // downloaded and hash-checked
      if (global.size() != kParameters) throw std::runtime_error("global model of the wrong size");
      std::vector<float> update(kParameters);
      for (std::size_t j = 0; j < kParameters; ++j)
        update[j] = 0.001f * static_cast<float>((i + j) % 11);
      std::lock_guard lock(mutex);
      trained[ctx.info().round()].insert(i);
      return client::TrainedUpdate{update, 10 + i};
    };
  };
  const auto rule = [&](std::size_t i) -> client::VoteRule {
    return [&, i, rms = client::rms_step_rule(0.5)](client::RoundContext& ctx,
                                                    std::span<const float> candidate) {
      {
        std::lock_guard lock(mutex);
        judged[ctx.info().round()].insert(i);
      }
      return rms(ctx, candidate);
    };
  };
  const auto [reports, failures] = run_loops(cfg, srv, kNodes, 50ms, trainer, rule);

  for (std::size_t i = 0; i < kNodes; ++i) {
    ASSERT_EQ(failures[i], "") << "node " << i;
    EXPECT_TRUE(reports[i].closed) << "node " << i;
  }
  const auto snap = srv.snapshot();
  EXPECT_EQ(snap.stage, wire::STAGE_CLOSED);
  // Every round with both roles: each node acted exactly once, as a proposer or as a voter.
  std::size_t full_rounds = 0, uploads = 0, votes = 0;
  for (std::uint64_t r = 1; r <= cfg.rounds; ++r) {
    for (std::size_t n : trained[r])
      EXPECT_FALSE(judged[r].contains(n)) << "node " << n << " round " << r;
    if (trained[r].empty() || judged[r].empty()) continue;
    ++full_rounds;
    EXPECT_EQ(trained[r].size() + judged[r].size(), kNodes) << "round " << r;
  }
  for (const auto& r : reports) uploads += r.uploads, votes += r.votes;
  EXPECT_GE(full_rounds, 1u) << "no round had both proposers and voters";
  EXPECT_GE(uploads, 1u);
  EXPECT_GE(votes, 1u);
  // The small updates pass the RMS rule, so an accepted candidate replaced the initial model.
  EXPECT_NE(chain::to_hex(snap.global_model), chain::to_hex(initial_model)) << snap.last_outcome;
  srv.stop();
}

TEST(NodeLoop, SecAggRoundsSendMaskedUpdatesAndTheModelMovesByTheirMean) {
  constexpr std::size_t kNodes = 4;
  constexpr std::uint64_t kParameters = 2'000;
  TempDir dir("murmur-loop-secagg");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.rounds = 2;
  cfg.secagg.enabled = true;
  cfg.secagg.group_size = kNodes;  // one group, complete graph, t = 2
  cfg.secagg.clip = 1.0;
  server::Server srv(cfg);
  srv.start();
  // Node i sends 0.01 (i + 1) everywhere, so each round moves the model by 0.025.
  const auto [reports, failures] = run_loops(
      cfg, srv, kNodes, 20ms,
      [](std::size_t i) -> client::Trainer {
        return [i](client::RoundContext&) -> std::optional<client::TrainedUpdate> {
          return client::TrainedUpdate{
              std::vector<float>(kParameters, 0.01f * static_cast<float>(i + 1)), 1};
        };
      },
      [](std::size_t) { return client::rms_step_rule(0.5); });
  for (std::size_t i = 0; i < kNodes; ++i) {
    ASSERT_EQ(failures[i], "") << "node " << i;
    EXPECT_TRUE(reports[i].closed) << "node " << i;
    EXPECT_EQ(reports[i].uploads, 2u) << "node " << i << ": one masked update per round";
  }
  const auto snap = srv.snapshot();
  EXPECT_EQ(snap.stage, wire::STAGE_CLOSED);
  EXPECT_EQ(snap.committed_updates, 0u) << "nothing goes through the plaintext upload path";
  const auto outcome = srv.last_secagg();
  EXPECT_EQ(outcome.round, 2u);
  ASSERT_EQ(outcome.group_survivors.size(), 1u);
  EXPECT_EQ(outcome.group_survivors[0].size(), kNodes);
  client::NodeClient reader(client_options(cfg, srv.curve_public_key()));
  reader.register_node(client::derive_node_key(kKeySeed, 0), cfg.chain_id);
  const auto model = reader.fetch_model(snap.global_model);
  ASSERT_EQ(model.size(), kParameters);
  for (std::size_t j = 0; j < kParameters; ++j) ASSERT_NEAR(model[j], 0.05f, 1e-6f) << j;
  srv.stop();
}

TEST(NodeCli, MurmurNodeUploadsAFileAndStopsWhenTheTaskCloses) {
  constexpr std::uint64_t kParameters = 50'000;
  TempDir dir("murmur-node-cli");
  server::Config cfg = test_config(dir.path() / "data", 1, kParameters);
  server::Server srv(cfg);
  srv.start();
  std::vector<float> update(kParameters);
  for (std::size_t j = 0; j < kParameters; ++j)
    update[j] = 0.25f - 0.00001f * static_cast<float>(j);
  const auto file = dir.path() / "update.f32";
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(update.data()), kParameters * 4);

  const auto [status, out] =
      run(std::string(MURMUR_CLI) + " node" + connection_flags(cfg, srv.curve_public_key()) +
          " --seed " + std::to_string(kKeySeed) + " --index 0 --curve-key-file " +
          (dir.path() / "node.curve").string() + " --updates " + file.string() +
          " --poll-ms 50 --idle-timeout-s 30");
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("1 uploads"), std::string::npos) << out;
  EXPECT_NE(out.find("task closed"), std::string::npos) << out;
  const auto snap = srv.snapshot();
  ASSERT_EQ(snap.stage, wire::STAGE_CLOSED) << snap.last_outcome;
  // One update, FedAvg over one row, added to the zero model: the model is the file.
  const auto expected =
      chain::keccak256({reinterpret_cast<const std::uint8_t*>(update.data()), kParameters * 4});
  EXPECT_EQ(chain::to_hex(snap.global_model), chain::to_hex(expected));
  srv.stop();
}

TEST(NodeCli, MurmurLoadCommitsEverySyntheticNodeAndReportsThroughput) {
  constexpr std::size_t kNodes = 6;
  constexpr std::uint64_t kParameters = 300'000;
  TempDir dir("murmur-load-cli");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  server::Server srv(cfg);
  srv.start();
  const auto [status, out] =
      run(std::string(MURMUR_CLI) + " load" + connection_flags(cfg, srv.curve_public_key()) +
          " --nodes " + std::to_string(kNodes) + " --seed " + std::to_string(kKeySeed) +
          " --dtype bf16 --json");
  ASSERT_EQ(status, 0) << out;
  const auto json_at = out.rfind("\n{");
  const auto report =
      nlohmann::json::parse(out.substr(json_at == std::string::npos ? 0 : json_at + 1));
  EXPECT_EQ(report.at("committed").get<int>(), static_cast<int>(kNodes)) << out;
  EXPECT_EQ(report.at("failed").get<int>(), 0) << out;
  EXPECT_EQ(report.at("bytes").get<std::uint64_t>(), kNodes * kParameters * 2);  // bf16 on the wire
  EXPECT_GT(report.at("MiBps").get<double>(), 0.0);
  // The server saw the same: every node committed in round 1.
  for (int i = 0; i < 200 && srv.snapshot().stage != wire::STAGE_CLOSED; ++i)
    std::this_thread::sleep_for(25ms);
  const auto snap = srv.snapshot();
  EXPECT_EQ(snap.stage, wire::STAGE_CLOSED) << snap.last_outcome;
  EXPECT_EQ(snap.committed_updates, kNodes);
  srv.stop();
}

TEST(NodeCli, MurmurLoadSignsUnderTheServersDomainAndAWrongContractIsNamed) {
  constexpr std::size_t kNodes = 3;
  constexpr std::uint64_t kParameters = 1'000;
  TempDir dir("murmur-load-domain");
  server::Config cfg = test_config(dir.path() / "data", kNodes, kParameters);
  cfg.rounds = 2;
  cfg.vote_window = std::chrono::seconds(1);
  server::Server srv(cfg);
  srv.start();
  std::string flags = connection_flags(cfg, srv.curve_public_key());
  const std::string contract = " --contract " + cfg.contract.to_lower_hex();
  flags.erase(flags.find(contract), contract.size());  // the task's contract is not given
  const std::string nodes =
      " --nodes " + std::to_string(kNodes) + " --seed " + std::to_string(kKeySeed);
  // Without --contract the nodes take the domain from RoundInfo: every commit is accepted.
  const auto [status, out] = run(std::string(MURMUR_CLI) + " load" + flags + nodes + " --json");
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("\"committed\":" + std::to_string(kNodes)), std::string::npos) << out;
  // Round 2: another contract given: refused as ERR_BAD_SIGNATURE, and both sides say why.
  for (int i = 0;
       i < 400 && !(srv.snapshot().round == 2 && srv.snapshot().stage == wire::STAGE_UPLOADING);
       ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_EQ(srv.snapshot().round, 2u) << srv.snapshot().last_outcome;
  const auto [wrong_status, wrong] = run(std::string(MURMUR_CLI) + " load" + flags + nodes +
                                         " --contract 0x00000000000000000000000000000000000000aa");
  EXPECT_NE(wrong_status, 0) << wrong;
  EXPECT_NE(wrong.find("ERR_BAD_SIGNATURE"), std::string::npos) << wrong;
  EXPECT_NE(
      wrong.find("under this task's EIP-712 domain (chain id " + std::to_string(cfg.chain_id) +
                 ", verifyingContract " + cfg.contract.to_checksum() + ")"),
      std::string::npos)
      << wrong;
  EXPECT_NE(wrong.find("the server checks chain id"), std::string::npos) << wrong;
  srv.stop();
}

}  // namespace
}  // namespace murmur::testing
