#include "simulate_cli.hpp"

#include <stdlib.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "incentives_cli.hpp"
#include "murmur/chain/keccak.hpp"
#include "murmur/chain/key_source.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/model/mlp_spec.hpp"
#include "murmur/server/config.hpp"
#include "murmur/sim/robustness.hpp"
#include "murmur/sim/simulate.hpp"
#include "murmur/sim/simulate_data.hpp"

namespace murmur::cli {
namespace {

using namespace murmur::sim;

/// Options of a simulation that `simulate` and `bench robustness` share.
struct Common {
  SimulationOptions o;
  std::string attacks;
  double byzantine_fraction = -1;
  double alie_z = -1;
};

void add_common_options(CLI::App* cmd, Common& c) {
  auto& o = c.o;
  cmd->add_option("--nodes", o.nodes, "simulated nodes")->capture_default_str();
  cmd->add_option("--rounds", o.rounds, "rounds")->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of everything (keys, data split, attackers, training)")
      ->capture_default_str();
  cmd->add_option("--alpha", o.alpha, "Dirichlet concentration of the non-IID split")
      ->capture_default_str();
  cmd->add_option("--holdout", o.holdout, "share of each node's rows kept for voting")
      ->capture_default_str();
  cmd->add_option("--train-rows", o.train_rows, "training rows used (0: all 60,000)")
      ->capture_default_str();
  cmd->add_option("--test-rows", o.test_rows, "test rows scored per round (0: all 10,000)")
      ->capture_default_str();
  cmd->add_option("--shape", o.shape, "MLP widths: input-hidden...-classes")->capture_default_str();
  cmd->add_option("--epochs", o.training.epochs, "local epochs E per round")->capture_default_str();
  cmd->add_option("--batch", o.training.batch, "local batch size B")->capture_default_str();
  cmd->add_option("--lr", o.training.lr, "local SGD learning rate")->capture_default_str();
  cmd->add_option("--lr-decay", o.training.lr_decay, "learning rate x this every round")
      ->capture_default_str();
  cmd->add_option("--sign-flip-scale", o.attack_params.sign_flip_scale,
                  "sign-flip: -scale x own delta")
      ->capture_default_str();
  cmd->add_option("--noise-std", o.attack_params.noise_std, "noise: standard deviation")
      ->capture_default_str();
  cmd->add_option("--alie-z", c.alie_z, "alie: z (default: Baruch et al.'s z_max for the round)");
  cmd->add_option("--ipm-epsilon", o.attack_params.ipm_epsilon, "ipm: -epsilon x honest mean")
      ->capture_default_str();
  cmd->add_option("--flag-ratio", o.flag_ratio,
                  "coordinate-wise rules: flag rows farther than this x the median distance")
      ->capture_default_str();
  cmd->add_option("--workers", o.workers, "training threads (0: hardware threads)")
      ->capture_default_str();
  cmd->add_option("--data-dir", o.data_dir, "Fashion-MNIST IDX files")->capture_default_str();
}

void finish_common(Common& c) {
  if (c.alie_z >= 0) c.o.attack_params.alie_z = c.alie_z;
  c.o.attacks.clear();
  std::stringstream in(c.attacks);
  for (std::string a; std::getline(in, a, ',');)
    if (!a.empty()) c.o.attacks.push_back(parse_attack(a));
  if (c.byzantine_fraction >= 0)
    c.o.byzantine = static_cast<std::size_t>(
        std::lround(c.byzantine_fraction * static_cast<double>(c.o.nodes)));
}

/// A fresh directory under $TMPDIR (removed by the caller).
std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "murmur-sim-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory");
  return tmpl;
}

std::string read_first_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::runtime_error("cannot read " + file);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

void add_setup_chain(CLI::App* simulate) {
  struct Args {
    ChainTaskSetup s;
    std::string aggregator, shape = "784-128-10", out_dir = ".", contract = "v2";
    std::string rule = "trimmed-mean";
    double beta = 0.2;
    std::uint64_t stake = 1000, pool = 10000;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = simulate->add_subcommand(
      "setup-chain",
      "Create a task for a simulation on AllianceTaskV2 (or --task-contract v1: AllianceTask): "
      "mint "
      "and lock the reward pool, fund, stake and join the nodes (keys derived from --seed); write "
      "participants.csv, initial.f32 and task.env for murmurd");
  cmd->add_option("--task-contract", a->contract, "v2 (AllianceTaskV2) or v1 (AllianceTask)")
      ->capture_default_str();
  cmd->add_option("--rpc", a->s.rpc, "JSON-RPC endpoint")->capture_default_str();
  cmd->add_option("--deployment", a->s.deployment, "deployment JSON of scripts/chain.sh deploy")
      ->required();
  cmd->add_option(
      "--creator-key-file", a->s.creator_key_file,
      "key of the task creator (pays pool and gas; chmod 600); default $MURMUR_CHAIN_KEY");
  cmd->add_option("--aggregator", a->aggregator,
                  "address allowed to post rounds (default: the creator)");
  cmd->add_option("--nodes", a->s.nodes, "nodes")->capture_default_str();
  cmd->add_option("--seed", a->s.seed, "node i's key is derive_node_key(seed, i)")
      ->capture_default_str();
  cmd->add_option("--stake", a->stake, "tokens each node stakes")->capture_default_str();
  cmd->add_option("--pool", a->pool, "reward pool in tokens")->capture_default_str();
  cmd->add_option("--rounds", a->s.rounds, "rounds of the task")->capture_default_str();
  cmd->add_option("--proposer-bps", a->s.proposer_bps, "share of proposers (basis points)")
      ->capture_default_str();
  cmd->add_option("--slash-bps", a->s.slash_bps, "share of stake slashed (basis points)")
      ->capture_default_str();
  cmd->add_option("--shape", a->shape, "MLP widths (model spec and initial model)")
      ->capture_default_str();
  cmd->add_option("--quorum-bps", a->s.quorum_bps, "v2: revealed voter stake needed (bps)")
      ->capture_default_str();
  cmd->add_option("--tolerance-bps", a->s.tolerance_bps,
                  "v2: a voter within this of the median score is paid, farther slashed")
      ->capture_default_str();
  cmd->add_option("--rule", a->rule, "v2: murmurd's [aggregation] rule (its text is the ruleHash)")
      ->capture_default_str();
  cmd->add_option("--beta", a->beta, "v2: the rule's beta (trimmed-mean)")->capture_default_str();
  cmd->add_option("--propose-seconds", a->s.windows.propose,
                  "v2: propose window (chain seconds; about 4 per wall second while `murmur "
                  "simulate` mines every 250 ms)")
      ->capture_default_str();
  cmd->add_option("--vote-window-seconds", a->s.windows.commit,
                  "v2: post, commit and reveal windows (chain seconds)")
      ->capture_default_str();
  cmd->add_option("--out-dir", a->out_dir, "where participants.csv, initial.f32 and task.env go")
      ->capture_default_str();
  cmd->callback([a] {
    const auto shape = model::parse_mlp_shape(a->shape);
    const auto init = simulation_initial_model(shape, a->s.seed);
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(init.data()),
                                              init.size() * 4);
    a->s.initial_model_hash = chain::keccak256(bytes);
    a->s.model_spec_hash = chain::keccak256("mlp:" + shape.describe());
    a->s.stake = token_units(a->stake);
    a->s.reward_pool = token_units(a->pool);
    if (!a->aggregator.empty()) a->s.aggregator = chain::Address::from_hex(a->aggregator);
    a->s.contract = parse_task_contract(a->contract);
    a->s.windows.post = a->s.windows.reveal = a->s.windows.commit;
    kernels::Parameters rule_parameters;
    if (a->rule == "trimmed-mean") rule_parameters["beta"] = a->beta;
    a->s.rule =
        kernels::describe(kernels::make_aggregation({a->rule, rule_parameters, false, 1, 0}));
    const ChainTask task = create_simulation_task(a->s, &std::cout);
    const std::filesystem::path dir(a->out_dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "initial.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    std::ofstream p(dir / "participants.csv");
    p << "# address,stake (base units): the nodes of task " << task.task_id.to_dec() << "\n";
    for (const auto& n : task.nodes) p << n.to_checksum() << "," << a->s.stake.to_dec() << "\n";
    std::ofstream env(dir / "task.env");
    env << "TASK_ID=" << task.task_id.to_dec() << "\nCONTRACT=" << task.contract.to_checksum()
        << "\nCHAIN_ID=" << task.deployment.chain_id << "\nPARAMETERS=" << shape.parameters()
        << "\n";
    env << "CONTRACT_VERSION=" << task_contract_name(a->s.contract) << "\nTASK_RULE=\"" << a->s.rule
        << "\"\n";
    std::cout << "wrote " << (dir / "participants.csv").string()
              << ", initial.f32 and task.env (task " << task.task_id.to_dec() << ")\n";
  });
}

void add_simulate(CLI::App& app) {
  struct Args {
    Common c;
    std::string server_key_file, contract, report_dir, work_dir;
    std::string rpc, deployment, aggregator_key_file, outbox, task_contract = "v2";
    std::uint64_t task = 0, block_ms = 250;
    bool keep = false, honest_votes = false;
    std::uint64_t f = 0, m = 1;  // the rule's parameters, passed on when given
    double beta = 0.1, tau = 1.0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Federated Fashion-MNIST through murmurd: N nodes train locally (libtorch), upload and vote; "
      "Byzantine nodes attack; per round test accuracy, the rule's flags, the vote (and the "
      "chain's "
      "settlement with --rpc)");
  auto& o = a->c.o;
  add_common_options(cmd, a->c);
  cmd->add_option("--byzantine", o.byzantine, "Byzantine nodes")->capture_default_str();
  cmd->add_option("--byzantine-fraction", a->c.byzantine_fraction,
                  "Byzantine nodes as a fraction of --nodes");
  cmd->add_option(
      "--attack", a->c.attacks,
      "attacks, comma-separated, assigned to the Byzantine nodes in turn: sign-flip, noise, "
      "alie, ipm, label-flip, free-ride, non-finite");
  cmd->add_flag("--honest-byzantine-votes", a->honest_votes,
                "Byzantine voters vote as their data says");
  // In-process murmurd.
  // In-process murmurd: its [aggregation] keys (kernels::AggregationTable).
  cmd->add_option("--rule", o.server.rule,
                  "aggregation rule of the in-process murmurd: a name (" + kernels::rule_names() +
                      ") with the options below, or a full spec, e.g. 'nnm(f=1) + "
                      "centered-clipping(tau=0.5, iters=5)'")
      ->capture_default_str();
  cmd->add_option("--f", a->f, "rule's f (meamed, krum, multi-krum, bulyan, ARC, nnm)")
      ->capture_default_str();
  cmd->add_option("--beta", a->beta, "trimmed-mean's beta")->capture_default_str();
  cmd->add_option("--m", a->m, "multi-krum's m")->capture_default_str();
  cmd->add_option("--tau", a->tau, "centered-clipping's tau")->capture_default_str();
  cmd->add_option("--bucket", o.server.bucket, "bucketing before the rule (> 1)")
      ->capture_default_str();
  cmd->add_option("--proposer-bps", o.server.proposer_bps,
                  "share of proposers per round (basis points)")
      ->capture_default_str();
  cmd->add_option("--upload-seconds", o.server.upload_seconds, "upload window (0: measured)")
      ->capture_default_str();
  cmd->add_option("--vote-seconds", o.server.vote_seconds, "vote window")->capture_default_str();
  cmd->add_option("--work-dir", a->work_dir,
                  "in-process murmurd's data and the outbox (default: a temporary directory)");
  cmd->add_flag("--keep-work-dir", a->keep, "keep the temporary work directory");
  cmd->add_flag("--server-logs", o.server.server_logs, "show the in-process murmurd's log lines");
  // External murmurd.
  cmd->add_option("--endpoint", o.server.endpoint, "an external murmurd's round endpoint");
  cmd->add_option("--register-endpoint", o.server.register_endpoint, "its registration endpoint");
  cmd->add_option("--server-key", o.server.server_public_key, "its CurveZMQ public key (Z85)");
  cmd->add_option("--server-key-file", a->server_key_file,
                  "file whose first line is its public key");
  cmd->add_option("--server-data-dir", o.server.data_dir,
                  "its data_dir (diagnostics, votes, outcomes)");
  cmd->add_option("--chain-id", o.server.chain_id, "EIP-712 chain id without --rpc")
      ->capture_default_str();
  cmd->add_option("--contract", a->contract, "EIP-712 verifying contract without --rpc");
  // Chain.
  cmd->add_option("--rpc", a->rpc, "settle every round on this chain (a Hardhat node)");
  cmd->add_option("--task-contract", a->task_contract,
                  "v2: AllianceTaskV2 (murmurd settles, the nodes commit updates and commit and "
                  "reveal their votes on chain); v1: the old AllianceTask (this process posts)")
      ->capture_default_str();
  cmd->add_option("--block-ms", a->block_ms,
                  "v2: mine a block every this many ms (evm_mine; 0: the chain mines)")
      ->capture_default_str();
  cmd->add_option("--deployment", a->deployment, "deployment JSON (with --rpc)");
  cmd->add_option("--task", a->task, "the task (murmur simulate setup-chain created it)");
  cmd->add_option("--aggregator-key-file", a->aggregator_key_file,
                  "the task aggregator's key: v1 posts with it, v2's in-process murmurd uses it "
                  "(default $MURMUR_CHAIN_KEY)");
  cmd->add_option("--outbox", a->outbox, "v1: the poster's outbox (default: <work dir>/outbox.db)");
  cmd->add_option("--report-dir", a->report_dir,
                  "write rounds.csv, accuracy.png and report.html here");
  add_setup_chain(cmd);
  cmd->callback([a, cmd] {
    if (cmd->get_subcommand("setup-chain")->parsed()) return;
    auto& o = a->c.o;
    finish_common(a->c);
    o.byzantine_votes_inverted = !a->honest_votes;
    if (!a->server_key_file.empty())
      o.server.server_public_key = read_first_line(a->server_key_file);
    if (!a->contract.empty()) o.server.contract = chain::Address::from_hex(a->contract);
    auto& rule_parameters = o.server.rule_parameters;
    if (cmd->count("--f")) rule_parameters["f"] = a->f;
    if (cmd->count("--m")) rule_parameters["m"] = a->m;
    if (cmd->count("--beta")) rule_parameters["beta"] = a->beta;
    if (cmd->count("--tau")) rule_parameters["tau"] = a->tau;
    kernels::make_aggregation(o.server.aggregation());  // refused here, before any work
    const bool temp = a->work_dir.empty();
    o.work_dir = temp ? make_temp_dir() : std::filesystem::path(a->work_dir);
    std::filesystem::create_directories(o.work_dir);
    if (!a->rpc.empty()) {
      if (a->deployment.empty() || a->task == 0)
        throw std::runtime_error("--rpc needs --deployment and --task");
      ChainRoundOptions c;
      c.contract = parse_task_contract(a->task_contract);
      c.block_ms = a->block_ms;
      c.rpc = a->rpc;
      c.deployment = a->deployment;
      c.aggregator_key_file = a->aggregator_key_file;
      c.task_id = chain::U256(a->task);
      c.outbox = a->outbox.empty() ? o.work_dir / "outbox.db" : std::filesystem::path(a->outbox);
      o.chain = c;
    }
    std::cout << "loading Fashion-MNIST from " << o.data_dir.string() << std::endl;
    const auto data = SimulationData::load(o.data_dir);
    SimulationReport report;
    try {
      report = run_simulation(o, data, &std::cout);
    } catch (...) {
      if (temp && !a->keep) std::filesystem::remove_all(o.work_dir);
      throw;
    }
    if (temp && !a->keep) std::filesystem::remove_all(o.work_dir);
    std::cout << "simulate: final accuracy " << report.final_accuracy() << " after "
              << report.rounds.size() << " rounds in " << report.seconds << " s" << std::endl;
    std::cout << describe_totals(report) << std::endl;
    if (!a->report_dir.empty()) {
      write_simulation_report(report, a->report_dir);
      std::cout << "report: " << (std::filesystem::path(a->report_dir) / "report.html").string()
                << std::endl;
    }
  });
}

void add_bench(CLI::App& app) {
  struct Args {
    Common c;
    GridOptions g;
    std::string rules = "fedavg,median,trimmed-mean,multi-krum", attacks = "sign-flip,alie",
                fractions = "0.2";
  };
  auto a = std::make_shared<Args>();
  a->c.o.nodes = 50;
  a->c.o.rounds = 30;
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks that run whole simulations");
  bench->require_subcommand(1);
  add_incentives_bench(bench);
  CLI::App* cmd = bench->add_subcommand(
      "robustness",
      "Attacks x rules x Byzantine fractions, each cell a full simulated run through an in-process "
      "murmurd: CSV, Markdown, PNG plots (accuracy per round per rule, heat map of final "
      "accuracy)");
  add_common_options(cmd, a->c);
  cmd->add_option("--rules", a->rules, "rules by name, comma-separated: " + kernels::rule_names())
      ->capture_default_str();
  cmd->add_option("--attacks", a->attacks, "attacks, comma-separated (or 'all')")
      ->capture_default_str();
  cmd->add_option("--fractions", a->fractions, "Byzantine fractions, comma-separated")
      ->capture_default_str();
  cmd->add_option("--defence-fraction", a->g.defence_fraction,
                  "fraction the rules are configured for (0: the largest of --fractions)")
      ->capture_default_str();
  cmd->add_option(
         "--upload-seconds", a->c.o.server.upload_seconds,
         "murmurd's upload window (0: measured; non-finite attackers make every round wait it out)")
      ->capture_default_str();
  cmd->add_option("--out-dir", a->g.out_dir, "results (an interrupted grid resumes from its CSV)")
      ->capture_default_str();
  cmd->callback([a] {
    finish_common(a->c);
    a->g.base = a->c.o;
    a->g.rules.clear();
    std::stringstream rules(a->rules);
    for (std::string r; std::getline(rules, r, ',');)
      if (!r.empty()) a->g.rules.push_back(r);
    a->g.attacks.clear();
    if (a->attacks == "all") {
      a->g.attacks = all_attacks();
    } else {
      std::stringstream attacks(a->attacks);
      for (std::string s; std::getline(attacks, s, ',');)
        if (!s.empty()) a->g.attacks.push_back(parse_attack(s));
    }
    a->g.fractions.clear();
    std::stringstream fractions(a->fractions);
    for (std::string f; std::getline(fractions, f, ',');)
      if (!f.empty()) a->g.fractions.push_back(std::stod(f));
    if (a->g.rules.empty() || a->g.fractions.empty())
      throw std::runtime_error("--rules and --fractions may not be empty");
    for (const auto& r : a->g.rules)  // names checked early
      kernels::make_aggregation(grid_server(r, a->g.base.nodes, 0.2).aggregation());
    std::cout << "loading Fashion-MNIST from " << a->g.base.data_dir.string() << std::endl;
    const auto data = SimulationData::load(a->g.base.data_dir);
    run_grid(a->g, data, &std::cout);
    std::cout << "results: " << (a->g.out_dir / "robustness.md").string() << std::endl;
  });
}

}  // namespace

void add_simulate_commands(CLI::App& app) {
  add_simulate(app);
  add_bench(app);
}

}  // namespace murmur::cli
