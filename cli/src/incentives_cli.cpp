#include "incentives_cli.hpp"

#include <iostream>
#include <memory>
#include <sstream>

#include "murmur/sim/incentives.hpp"
#include "murmur/sim/simulate_chain.hpp"

namespace murmur::cli {
namespace {

using namespace murmur::sim;

template <typename T>
std::vector<T> split_list(const std::string& text, const char* what,
                          T (*parse)(const std::string&)) {
  std::vector<T> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) continue;
    try {
      out.push_back(parse(item));
    } catch (const std::invalid_argument& e) {
      // std::stod / std::stoull say only "stod"; a kind's parser names the kinds.
      const std::string why = e.what();
      throw std::runtime_error(std::string(what) + ": " +
                               (why.rfind("sto", 0) == 0 ? "'" + item + "' is not a number" : why));
    } catch (const std::out_of_range&) {
      throw std::runtime_error(std::string(what) + ": '" + item + "' is out of range");
    }
  }
  if (out.empty()) throw std::runtime_error(std::string(what) + " may not be empty");
  return out;
}

}  // namespace

void add_incentives_bench(CLI::App* bench) {
  struct Args {
    IncentiveBenchOptions b;
    std::string seeds = "1,2,3,4,5", alphas = "0.1,0.5,1.0", kinds = "all";
    std::uint64_t stake = 1000, pool = 10000;
    std::filesystem::path data_dir = model::kFashionMnistDir;
  };
  auto a = std::make_shared<Args>();
  IncentiveRunOptions& o = a->b.base;
  SettlementKnobs& k = o.settlement;
  CLI::App* cmd = bench->add_subcommand(
      "incentives",
      "Net stake change of honest and Byzantine nodes under AllianceTaskV2's settlement (graded "
      "votes, stake-weighted median, objections), seeds x Dirichlet alphas x Byzantine kinds, each "
      "run in process: CSV, Markdown table, PNG plot");
  cmd->add_option("--seeds", a->seeds, "seeds, comma-separated")->capture_default_str();
  cmd->add_option("--alphas", a->alphas, "Dirichlet alphas, comma-separated")
      ->capture_default_str();
  cmd->add_option("--kinds", a->kinds,
                  "Byzantine kinds, comma-separated, or 'all' (sign-flip, alie, ipm, label-flip, "
                  "free-ride, always-up, contrarian)")
      ->capture_default_str();
  cmd->add_option("--nodes", o.nodes, "nodes")->capture_default_str();
  cmd->add_option("--rounds", o.rounds, "rounds per run")->capture_default_str();
  cmd->add_option("--byzantine-fraction", o.byzantine_fraction, "share of Byzantine nodes")
      ->capture_default_str();
  cmd->add_option("--shape", o.shape, "MLP widths")->capture_default_str();
  cmd->add_option("--train-rows", o.train_rows, "training rows split among the nodes (0: all)")
      ->capture_default_str();
  cmd->add_option("--test-rows", o.test_rows, "test rows scored per round (0: all)")
      ->capture_default_str();
  cmd->add_option("--holdout", o.holdout, "share of each node's rows kept for voting")
      ->capture_default_str();
  cmd->add_option("--epochs", o.training.epochs, "local epochs")->capture_default_str();
  cmd->add_option("--batch", o.training.batch, "local batch size")->capture_default_str();
  cmd->add_option("--lr", o.training.lr, "local SGD learning rate")->capture_default_str();
  cmd->add_option("--rule", o.rule, "aggregation rule (kernels' grammar)")->capture_default_str();
  cmd->add_option("--proposer-bps", k.proposer_bps, "proposer share of the nodes, bps")
      ->capture_default_str();
  cmd->add_option("--slash-bps", k.slash_bps, "slash of a loser's stake, bps")
      ->capture_default_str();
  cmd->add_option("--quorum-bps", k.quorum_bps, "revealed voter stake needed, bps of voters'")
      ->capture_default_str();
  cmd->add_option("--tolerance-bps", k.tolerance_bps,
                  "a voter within this of the median score is paid, farther slashed")
      ->capture_default_str();
  cmd->add_option(
         "--objection-bps", k.objection_bps,
         "a voter objects to an update that, at its share of a plain mean, scores this much "
         "below the round's median update on its held-out rows")
      ->capture_default_str();
  cmd->add_option("--objection-relative", k.objection_relative,
                  "judge an update against the round's median update (true) or no change (false)")
      ->capture_default_str();
  cmd->add_option("--objection-scale", k.objection_scale,
                  "a voter evaluates each update at this x 1/P of its size (P: the round's "
                  "proposers)")
      ->capture_default_str();
  cmd->add_option("--objection-median-distinct", k.objection_median_distinct,
                  "a voter's median update counts identical updates once")
      ->capture_default_str();
  cmd->add_option("--min-norm-ratio", k.min_norm_ratio,
                  "aggregator leaves out updates below this x the median norm")
      ->capture_default_str();
  cmd->add_option("--max-norm-ratio", k.max_norm_ratio,
                  "aggregator leaves out updates above this x the median norm")
      ->capture_default_str();
  cmd->add_option("--exclude-copies", k.exclude_copies,
                  "aggregator leaves out updates that copy another proposer's update")
      ->capture_default_str();
  cmd->add_option("--stake", a->stake, "tokens each node stakes")->capture_default_str();
  cmd->add_option("--pool", a->pool, "reward pool in tokens")->capture_default_str();
  cmd->add_option("--workers", o.workers, "training threads (0: hardware threads)")
      ->capture_default_str();
  cmd->add_option("--data-dir", a->data_dir, "Fashion-MNIST IDX files")->capture_default_str();
  cmd->add_option("--out-dir", a->b.out_dir, "results")->capture_default_str();
  cmd->callback([a] {
    auto& b = a->b;
    b.seeds = split_list<std::uint64_t>(a->seeds, "--seeds", [](const std::string& s) {
      return static_cast<std::uint64_t>(std::stoull(s));
    });
    b.alphas = split_list<double>(a->alphas, "--alphas",
                                  [](const std::string& s) { return std::stod(s); });
    if (a->kinds == "all")
      b.kinds = incentive_kinds();
    else
      b.kinds = split_list<NodeKind>(a->kinds, "--kinds",
                                     [](const std::string& s) { return parse_incentive_kind(s); });
    b.base.settlement.stake = token_units(a->stake);
    b.base.settlement.pool = token_units(a->pool);
    std::cout << "loading Fashion-MNIST from " << a->data_dir.string() << std::endl;
    const auto data = SimulationData::load(a->data_dir);
    const auto runs = run_incentive_bench(b, data, &std::cout);
    std::cout << "\n"
              << incentive_table(summarize_incentives(runs))
              << "\nresults: " << (b.out_dir / "incentives.md").string()
              << ", incentives.csv, rounds.csv, "
              << "incentives.png" << std::endl;
  });
}

}  // namespace murmur::cli
