#pragma once
// `murmur bench robustness`: attacks x rules x Byzantine fractions, each cell a full simulated
// run through an in-process murmurd (no chain). Every node proposes every round
// (proposer_bps = 10000: no votes), so the cells measure the aggregation rule alone.
#include <cstddef>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "murmur/sim/simulate.hpp"

namespace murmur::sim {

struct GridOptions {
  /// Nodes, rounds, data, model, training, seed and attack parameters of every cell; its
  /// server, byzantine and attacks fields are set per cell.
  SimulationOptions base;
  std::vector<std::string> rules = {"fedavg", "median", "trimmed-mean", "multi-krum"};
  std::vector<Attack> attacks = {Attack::kSignFlip, Attack::kAlie};
  std::vector<double> fractions = {0.2};
  /// The Byzantine fraction the rules are configured for (trimmed-mean beta, Krum's f, ...):
  /// the defender's assumption, the same in every cell. 0: the largest of `fractions`.
  double defence_fraction = 0;
  std::filesystem::path out_dir = "robustness";
};

/// One run of the grid.
struct GridCell {
  std::string rule;  ///< as configured, e.g. "multi-krum(f=10, m=40)"
  std::string rule_name;
  Attack attack = Attack::kNone;
  double fraction = 0;
  std::vector<double> accuracy;  ///< round 0 (initial) to the last round
  std::size_t flagged = 0, flagged_byzantine = 0, refused = 0, failed_rounds = 0;
  double seconds = 0;
  double final_accuracy() const { return accuracy.empty() ? 0 : accuracy.back(); }
};

/// The server configuration a rule gets in the grid for `defence_fraction` of `nodes` proposers:
/// trimmed-mean beta = fraction; meamed/krum/multi-krum/bulyan f = ceil(fraction n), multi-krum
/// m = n - f; centered-clipping tau = 1 (10 iterations); geometric-median as is.
ServerTarget grid_server(const std::string& rule, std::size_t nodes, double defence_fraction);

/// Runs the clean cell of every rule, then every (attack, fraction, rule) cell. Cells already in
/// out_dir/robustness.csv (same rule, attack and fraction) are read back instead of run again,
/// so an interrupted grid resumes. After each cell the CSV is rewritten; at the end
/// robustness.md, heatmap.png, accuracy_<attack>_<f>.png and robustness.html.
std::vector<GridCell> run_grid(const GridOptions& options, const SimulationData& data,
                               std::ostream* log = nullptr);

/// Writes the CSV, Markdown, PNG and HTML outputs of `cells` into `dir`.
void write_grid_report(const GridOptions& options, const std::vector<GridCell>& cells,
                       const std::filesystem::path& dir);

}  // namespace murmur::sim
