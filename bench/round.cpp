// bench/round: one whole round of 100 nodes x ~200k parameters (MLP 784-252-10, 200,350 floats)
// split into its stages, each with a figure against a baseline of the same run:
//   upload       100 nodes (`murmur load`'s generator, CurveZMQ, fsynced spool) into an
//                in-process murmurd: MB/s, and as a share of the memory-bandwidth probe;
//   aggregation  murmurd's rule over the spool, from the last commit to the new global model:
//                GB/s over N x D x 4 bytes per pass, x_probe;
//   validation   the round's candidate set (model::validate_round: previous, new global, each
//                update alone, each leave-one-out mean = 2N + 2 candidates) on V test images,
//                by linearity (murmurd's path, counted in the round) against the direct
//                batched pass in the same run: the speed-up, whether every candidate has the
//                same status, the largest loss difference; GFLOP/s of the direct pass;
//   posting      finalizeRound through chain::Poster on a Hardhat node whose task has the 100
//                nodes staked (every node proposes: no votes, the rule's flags): gas.
//
// Environment: MURMUR_BENCH_NODES (100), MURMUR_BENCH_SHAPE ("784-252-10"),
// MURMUR_BENCH_RULE ("trimmed-mean", beta 0.2), MURMUR_BENCH_VALIDATION_ROWS (1000),
// MURMUR_BENCH_CHAIN (1; 0 skips the posting stage and the Hardhat node),
// MURMUR_BENCH_VALIDATION_REPEATS (3: each validation path runs this often, alternating, and
// its best time counts, so that a busy machine's noise does not decide the ratio).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "murmur/chain/alliance.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/chain/wallet.hpp"
#include "murmur/client/load.hpp"
#include "murmur/client/node_keys.hpp"
#include "murmur/client/update_source.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/mlp_spec.hpp"
#include "murmur/model/round_validation.hpp"
#include "murmur/server/server.hpp"
#include "murmur/server/state_view.hpp"
#include "murmur/sim/simulate_chain.hpp"
#include "murmur/testing/local_chain.hpp"

namespace murmur::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kSeed = 42;

std::string env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int free_port() {
  return chain::testing::free_loopback_port();
}

/// A Hardhat node with MockToken + AllianceTask deployed and a task whose participants are the
/// bench's nodes (derive_node_key(kSeed, i)), every one a proposer. Started once per process.
struct LocalTask {
  LocalTask(std::size_t nodes, std::uint64_t rounds)
      : dir(chain::testing::make_temp_dir("murmur-bench-round")),
        node(std::filesystem::path(MURMUR_SOURCE_DIR) / "contracts", std::chrono::seconds(180)) {
    chain::RpcClient rpc(node.url());
    chain::EthClient eth(rpc, &chain::alliance::errors());
    const chain::PrivateKey creator = client::derive_node_key(kSeed, 1'000'000);
    eth.raw("hardhat_setBalance", nlohmann::json::array({creator.address().to_lower_hex(),
                                                         sim::token_units(1000).to_quantity()}));
    chain::write_key_file(dir / "creator.key", creator);
    chain::Wallet w(eth, creator);
    const auto bytecode = [](const std::string& name) {
      std::ifstream in(std::filesystem::path(MURMUR_SOURCE_DIR) / "contracts/artifacts/contracts" /
                       (name + ".sol") / (name + ".json"));
      return chain::from_hex(nlohmann::json::parse(in).at("bytecode").get<std::string>());
    };
    const auto token = w.transact(std::nullopt, bytecode("MockToken"));
    const auto alliance = w.transact(std::nullopt, bytecode("AllianceTask"));
    chain::save_deployment(dir / "deployment.json", {w.chain_id(), "bench", *token.contract_address,
                                                     *alliance.contract_address, std::nullopt,
                                                     w.address(), alliance.block_number});
    sim::ChainTaskSetup s;
    s.rpc = node.url();
    s.deployment = dir / "deployment.json";
    s.creator_key_file = dir / "creator.key";
    s.nodes = nodes;
    s.seed = kSeed;
    s.rounds = rounds;
    s.proposer_bps = 10000;
    task = sim::create_simulation_task(s).task_id;
  }
  ~LocalTask() { std::filesystem::remove_all(dir); }

  std::filesystem::path dir;
  chain::testing::HardhatNode node;
  chain::U256 task;
};

void Round(benchmark::State& state) {
  const std::size_t nodes = std::stoul(env("MURMUR_BENCH_NODES", "100"));
  const auto shape = model::parse_mlp_shape(env("MURMUR_BENCH_SHAPE", "784-252-10"));
  const std::string rule = env("MURMUR_BENCH_RULE", "trimmed-mean");
  const std::size_t validation_rows = std::stoul(env("MURMUR_BENCH_VALIDATION_ROWS", "1000"));
  const std::size_t repeats =
      std::max<std::size_t>(1, std::stoul(env("MURMUR_BENCH_VALIDATION_REPEATS", "3")));
  const bool post = env("MURMUR_BENCH_CHAIN", "1") != "0";
  const std::size_t d = shape.parameters();
  constexpr std::uint64_t kRounds = 20;

  static std::unique_ptr<LocalTask> chain_task;
  if (post && !chain_task) chain_task = std::make_unique<LocalTask>(nodes, kRounds);
  std::unique_ptr<sim::ChainRounds> poster;
  std::vector<chain::Address> addresses;
  for (std::size_t i = 0; i < nodes; ++i)
    addresses.push_back(client::derive_node_key(kSeed, i).address());
  if (post) {
    sim::ChainRoundOptions o;
    o.rpc = chain_task->node.url();
    o.deployment = chain_task->dir / "deployment.json";
    o.aggregator_key_file = chain_task->dir / "creator.key";
    o.task_id = chain_task->task;
    o.outbox = chain_task->dir / "outbox.db";
    poster = std::make_unique<sim::ChainRounds>(o, addresses);
  }
  const model::LabelledSet validation = [&] {
    auto test = model::load_fashion_mnist(model::FashionMnistSplit::kTest);
    test.features.resize(std::min(validation_rows, test.rows()) * test.cols());
    test.labels.resize(std::min(validation_rows, test.rows()));
    return test;
  }();
  auto backend = kernels::make_cpu_backend();
  double upload = 0, aggregate = 0, validate = 0, posting = 0, gas = 0, passes = 2;
  double validate_direct = 0, loss_difference = 0;
  std::size_t status_mismatches = 0;

  for (auto _ : state) {
    const auto dir = chain::testing::make_temp_dir("murmur-bench-round-server");
    server::Config cfg;
    cfg.endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    cfg.register_endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    cfg.data_dir = dir;
    cfg.curve_secret_key = server::curve_keypair().second;
    cfg.backend = "cpu";
    cfg.parameters = d;
    cfg.rounds = 1;
    cfg.proposer_bps = 10000;
    cfg.upload_window = std::chrono::minutes(10);
    cfg.quorum = nodes;
    cfg.aggregation = kernels::make_aggregation(
        {rule,
         {{"f", std::uint64_t{nodes / 5}}, {"beta", 0.2}, {"m", std::uint64_t{nodes - nodes / 5}}},
         false,
         1,
         0});
    for (const auto& a : addresses) cfg.participants.push_back({a, sim::token_units(1000)});
    if (post) {
      const auto dep = chain::load_deployment(chain_task->dir / "deployment.json");
      cfg.chain_id = dep.chain_id;
      cfg.contract = dep.alliance_task;
      cfg.task_id = chain_task->task.to_u64();
    }
    server::Server srv(cfg);
    srv.start();
    if (post) poster->start_round(poster->task().current_round + 1, std::vector<bool>(nodes, true));

    client::LoadOptions lo;
    lo.client.endpoint = cfg.endpoint;
    lo.client.register_endpoint = cfg.register_endpoint;
    lo.client.server_public_key = srv.curve_public_key();
    lo.nodes = nodes;
    lo.seed = kSeed;
    lo.chain_id = cfg.chain_id;  // the nodes sign under the server's domain (its RoundInfo)
    lo.num_samples = 100;
    lo.threads = 16;
    const auto report = client::run_load(lo);
    const auto t_agg = Clock::now();
    if (report.committed != nodes) state.SkipWithError("not every upload was committed");
    upload = report.seconds;
    while (srv.snapshot().stage != wire::STAGE_CLOSED && seconds_since(t_agg) < 600)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    aggregate = seconds_since(t_agg);
    const auto snap = srv.snapshot();
    srv.stop();

    // Validation: the round's candidates rebuilt from the same updates (the generator's values),
    // scored by the direct batched pass (the reference), then by linearity (murmurd's path).
    std::vector<float> deltas(nodes * d), base(d, 0.0f);
    for (std::size_t i = 0; i < nodes; ++i)
      for (std::size_t j = 0; j < d; ++j) deltas[i * d + j] = client::synthetic_value(kSeed, i, j);
    model::BatchedMlpEvaluator evaluator(*backend, shape, validation, 32);
    const std::vector<double> weights(nodes, 100.0);
    const kernels::RowsView rows{deltas.data(), nodes, d, d};
    model::RoundValidation direct, v;
    validate_direct = validate = 1e30;
    for (std::size_t r = 0; r < repeats; ++r) {
      const auto t_direct = Clock::now();
      direct =
          model::validate_round(evaluator, base, rows, weights, model::ValidationPath::kDirect);
      validate_direct = std::min(validate_direct, seconds_since(t_direct));
      const auto t_val = Clock::now();
      v = model::validate_round(evaluator, base, rows, weights);
      validate = std::min(validate, seconds_since(t_val));
    }
    // A copy: DoNotOptimize on a non-const double may clobber it ("+r" in a general register).
    const double global_loss = v.global.mean_loss;
    benchmark::DoNotOptimize(global_loss);
    if (v.path != model::ValidationPath::kLinear)
      state.SkipWithError("validate_round did not take the linear path");
    // Same statuses, and the largest loss difference relative to max(1, |loss|).
    status_mismatches = 0;
    loss_difference = 0;
    const auto compare = [&](const model::CandidateScore& a, const model::CandidateScore& b) {
      if (a.status != b.status) ++status_mismatches;
      if (a.valid() && b.valid())
        loss_difference = std::max(loss_difference, std::abs(a.mean_loss - b.mean_loss) /
                                                        std::max(1.0, std::abs(b.mean_loss)));
    };
    compare(v.previous, direct.previous);
    compare(v.global, direct.global);
    for (std::size_t i = 0; i < nodes; ++i) {
      compare(v.updates[i].alone, direct.updates[i].alone);
      compare(v.updates[i].without, direct.updates[i].without);
    }

    if (post) {
      server::StateView records(dir);
      std::vector<chain::Address> flagged;
      for (const auto& [a, diag] : records.diagnostics(1))
        if (diag.verdict != "kept") flagged.push_back(a);
      const auto t_post = Clock::now();
      const auto p = poster->finalize(poster->task().current_round, snap.global_model, {}, flagged);
      posting = seconds_since(t_post);
      gas = static_cast<double>(p.gas);
    }
    state.SetIterationTime(upload + aggregate + validate + posting);
    std::filesystem::remove_all(dir);
    // murmurd's passes over the spool: finiteness check, the rule (Gram rules: 2), distances.
    passes =
        rule == "fedavg" || rule == "median" || rule == "trimmed-mean" || rule == "meamed" ? 3 : 4;
  }
  const double bytes = static_cast<double>(nodes * d * 4);
  const double probe = bandwidth_probe().read;
  const double flops =
      2.0 * static_cast<double>(2 * nodes + 2) * static_cast<double>(validation.rows()) * [&] {
        double s = 0;
        for (std::size_t l = 0; l < shape.layers(); ++l) s += double(shape.in(l)*shape.out(l));
        return s;
      }();
  const double total = upload + aggregate + validate + posting;
  state.counters["upload_s"] = upload;
  state.counters["aggregate_s"] = aggregate;
  state.counters["validate_s"] = validate;
  state.counters["post_s"] = posting;
  state.counters["upload_MB/s"] = bytes / upload / 1e6;
  state.counters["agg_x_probe"] = passes * bytes / aggregate / 1e9 / probe;
  state.counters["val_GFLOP/s"] = flops / validate_direct / 1e9;
  state.counters["validate_direct_s"] = validate_direct;
  state.counters["val_linear_x"] = validate_direct / validate;
  state.counters["val_loss_diff"] = loss_difference;
  state.counters["val_status_mismatches"] = static_cast<double>(status_mismatches);
  state.counters["gas"] = gas;
  std::printf(
      "\nround: %zu nodes x %zu parameters (%.1f MB of updates), rule %s, %zu validation rows\n"
      "  upload      %7.2f s  %5.1f%%  %7.1f MB/s (%.3f of the probe's %.1f GB/s read)\n"
      "  aggregation %7.2f s  %5.1f%%  %7.2f GB/s over %.0f passes (x_probe %.3f)\n"
      "  validation  %7.2f s  %5.1f%%  %zu candidates by linearity; the direct pass %.2f s "
      "(%.1f GFLOP/s): %.2fx, %zu status mismatches, largest loss difference %.2g\n"
      "  posting     %7.2f s  %5.1f%%  finalizeRound, %.0f gas\n  total       %7.2f s\n",
      nodes, d, bytes / 1e6, rule.c_str(), validation.rows(), upload, 100 * upload / total,
      bytes / upload / 1e6, bytes / upload / 1e9 / probe, probe, aggregate, 100 * aggregate / total,
      passes * bytes / aggregate / 1e9, passes, passes * bytes / aggregate / 1e9 / probe, validate,
      100 * validate / total, 2 * nodes + 2, validate_direct, flops / validate_direct / 1e9,
      validate_direct / validate, status_mismatches, loss_difference, posting,
      100 * posting / total, gas, total);
}
BENCHMARK(Round)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace murmur::bench
