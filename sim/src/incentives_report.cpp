// The incentives bench's grid (seeds x alphas x kinds) and its outputs: CSV, Markdown, PNG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "murmur/sim/incentives.hpp"
#include "murmur/sim/plot.hpp"

namespace murmur::sim {
namespace {

using chain::U256;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// (end − start) in wei, signed, exact.
std::string signed_wei(const U256& start, const U256& end) {
  std::ostringstream out;
  if (end < start)
    out << '-' << (start - end).to_dec();
  else
    out << (end - start).to_dec();
  return out.str();
}

void write_file(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

void write_nodes_csv(const std::vector<IncentiveRun>& runs, const std::filesystem::path& file) {
  std::ostringstream csv;
  csv << "seed,alpha,kind,node,node_kind,byzantine,proposer_rounds,voter_rounds,paid_rounds,"
         "slashed_rounds,stake_start_wei,stake_end_wei,rewards_wei,slashes_wei,net_wei,net_"
         "tokens\n";
  for (const auto& run : runs)
    for (std::size_t i = 0; i < run.nodes.size(); ++i) {
      const auto& n = run.nodes[i];
      csv << run.seed << ',' << run.alpha << ',' << run.kind << ',' << i << ',' << n.kind << ','
          << (n.byzantine ? 1 : 0) << ',' << n.proposer_rounds << ',' << n.voter_rounds << ','
          << n.paid_rounds << ',' << n.slashed_rounds << ',' << n.stake_start.to_dec() << ','
          << n.stake_end.to_dec() << ',' << n.rewards.to_dec() << ',' << n.slashes.to_dec() << ','
          << signed_wei(n.stake_start, n.stake_end + n.rewards) << ','
          << fmt("%.6f", n.net_tokens()) << '\n';
    }
  write_file(file, csv.str());
}

void write_rounds_csv(const std::vector<IncentiveRun>& runs, const std::filesystem::path& file) {
  std::ostringstream csv;
  csv << "seed,alpha,kind,round,candidate,quorum,accepted,median_bps,accuracy,candidate_accuracy,"
         "proposers,included,objected,voters,voters_slashed,pot_wei,paid_wei,slashed_wei,"
         "creator_credit_wei\n";
  for (const auto& run : runs)
    for (const auto& r : run.rounds)
      csv << run.seed << ',' << run.alpha << ',' << run.kind << ',' << r.round << ',' << r.candidate
          << ',' << r.quorum << ',' << r.accepted << ',' << r.median << ','
          << fmt("%.4f", r.accuracy) << ',' << fmt("%.4f", r.candidate_accuracy) << ','
          << r.proposers << ',' << r.included << ',' << r.objected << ',' << r.voters << ','
          << r.voters_slashed << ',' << r.pot.to_dec() << ',' << r.paid.to_dec() << ','
          << r.slashed.to_dec() << ',' << r.creator_credit.to_dec() << '\n';
  write_file(file, csv.str());
}

void write_evidence_csv(const std::vector<IncentiveRun>& runs, const std::filesystem::path& dir) {
  std::ostringstream votes, proposals, updates;
  votes << "seed,alpha,kind,round,voter,voter_kind,score,honest_score,median,objections,"
           "disagreements,far_objections,paid,slashed,loss_before,loss_after\n";
  updates << "seed,alpha,kind,round,voter,voter_kind,proposer,proposer_kind,score_at_share,"
             "objects\n";
  proposals << "seed,alpha,kind,round,proposer,proposer_kind,norm_ratio,included,"
               "median_alone_score,objection_share,paid,slashed\n";
  for (const auto& run : runs)
    for (const auto& r : run.rounds) {
      for (const auto& v : r.votes)
        votes << run.seed << ',' << run.alpha << ',' << run.kind << ',' << r.round << ',' << v.voter
              << ',' << run.nodes[v.voter].kind << ',' << v.score << ',' << v.honest_score << ','
              << r.median << ',' << v.objections << ',' << v.disagreements << ','
              << v.far_objections << ',' << v.paid << ',' << v.slashed << ','
              << fmt("%.6f", v.loss_before) << ',' << fmt("%.6f", v.loss_after) << '\n';
      for (const auto& v : r.votes)
        for (std::size_t j = 0; j < v.update_scores.size() && j < r.proposals.size(); ++j) {
          const std::size_t p = r.proposals[j].proposer;
          updates << run.seed << ',' << run.alpha << ',' << run.kind << ',' << r.round << ','
                  << v.voter << ',' << run.nodes[v.voter].kind << ',' << p << ','
                  << run.nodes[p].kind << ',' << v.update_scores[j] << ','
                  << (j < v.objects_to.size() && v.objects_to[j]) << '\n';
        }
      for (const auto& p : r.proposals)
        proposals << run.seed << ',' << run.alpha << ',' << run.kind << ',' << r.round << ','
                  << p.proposer << ',' << run.nodes[p.proposer].kind << ','
                  << fmt("%.4f", p.norm_ratio) << ',' << p.included << ',' << p.median_alone_score
                  << ',' << fmt("%.4f", p.objection_share) << ',' << p.paid << ',' << p.slashed
                  << '\n';
    }
  write_file(dir / "votes.csv", votes.str());
  write_file(dir / "proposals.csv", proposals.str());
  write_file(dir / "updates.csv", updates.str());
}

/// Whether a kind is one of the harmful ones the acceptance asks ≥ 95 % negative of.
bool harmful(const std::string& kind) {
  return kind == "sign-flip" || kind == "label-flip" || kind == "always-up" || kind == "contrarian";
}

/// Grouped bars: one panel per alpha, per kind the honest and the Byzantine mean net.
plot::Canvas draw_bars(const std::vector<IncentiveCell>& cells) {
  std::vector<double> alphas;
  std::vector<std::string> kinds;
  double lo = 0, hi = 0;
  for (const auto& c : cells) {
    if (std::find(alphas.begin(), alphas.end(), c.alpha) == alphas.end()) alphas.push_back(c.alpha);
    if (std::find(kinds.begin(), kinds.end(), c.kind) == kinds.end()) kinds.push_back(c.kind);
    lo = std::min({lo, c.honest_mean, c.byzantine_mean});
    hi = std::max({hi, c.honest_mean, c.byzantine_mean});
  }
  const double pad = std::max(1.0, 0.1 * (hi - lo));
  lo -= pad;
  hi += pad;
  const int panel_h = 230, left = 70, top = 40, bar = 18, gap = 44;
  const int group = 2 * bar + gap;
  const int width = left + static_cast<int>(kinds.size()) * group + 40;
  const int height = top + static_cast<int>(alphas.size()) * (panel_h + 40) + 30;
  plot::Canvas cv(static_cast<std::size_t>(std::max(width, 560)), static_cast<std::size_t>(height));
  const plot::Rgb ink{30, 30, 30}, grid{225, 225, 225}, honest{31, 119, 180},
      byzantine{214, 39, 40};
  cv.text(left, 8, "mean net stake change per node (tokens)", ink, 2);
  cv.fill_rect(left, 28, 10, 8, honest);
  cv.text(left + 14, 29, "honest", ink);
  cv.fill_rect(left + 70, 28, 10, 8, byzantine);
  cv.text(left + 84, 29, "Byzantine", ink);
  for (std::size_t a = 0; a < alphas.size(); ++a) {
    const int y0 = top + 14 + static_cast<int>(a) * (panel_h + 40);
    const auto py = [&](double v) {
      return y0 + panel_h - static_cast<int>(std::lround((v - lo) / (hi - lo) * panel_h));
    };
    cv.text(left, y0 - 12, "Dirichlet alpha " + fmt("%.2g", alphas[a]), ink);
    for (int t = 0; t <= 4; ++t) {
      const double v = lo + (hi - lo) * t / 4.0;
      cv.line(left, py(v), width - 30, py(v), grid);
      const std::string label = fmt("%.0f", v);
      cv.text(left - 6 - plot::Canvas::text_width(label), py(v) - 3, label, ink);
    }
    cv.line(left, py(0), width - 30, py(0), ink);
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      const int x = left + 10 + static_cast<int>(k) * group;
      for (const auto& c : cells) {
        if (c.alpha != alphas[a] || c.kind != kinds[k]) continue;
        for (int side = 0; side < 2; ++side) {
          const double v = side == 0 ? c.honest_mean : c.byzantine_mean;
          const int ya = py(std::max(v, 0.0)), yb = py(std::min(v, 0.0));
          cv.fill_rect(x + side * bar, ya, bar - 2, std::max(1, yb - ya),
                       side == 0 ? honest : byzantine);
        }
      }
      cv.text(x - 4, y0 + panel_h + 6, kinds[k].substr(0, 12), ink);
    }
  }
  return cv;
}

}  // namespace

std::vector<IncentiveCell> summarize_incentives(const std::vector<IncentiveRun>& runs) {
  std::vector<IncentiveCell> cells;
  const auto find = [&](double alpha, const std::string& kind) -> IncentiveCell& {
    for (auto& c : cells)
      if (c.alpha == alpha && c.kind == kind) return c;
    cells.push_back({});
    cells.back().alpha = alpha;
    cells.back().kind = kind;
    cells.back().byzantine_max = -INFINITY;
    return cells.back();
  };
  std::map<std::pair<double, std::string>, std::pair<std::size_t, std::size_t>> rounds, runs_of;
  for (const auto& run : runs) {
    IncentiveCell& c = find(run.alpha, run.kind);
    for (const auto& n : run.nodes) {
      const double net = n.net_tokens();
      if (n.byzantine) {
        ++c.byzantine_pairs;
        c.byzantine_mean += net;
        c.byzantine_negative += n.net_negative();
        c.byzantine_max = std::max(c.byzantine_max, net);
      } else {
        ++c.honest_pairs;
        c.honest_mean += net;
        c.honest_nonnegative += !n.net_negative();
      }
    }
    auto& [accepted, total] = rounds[{run.alpha, run.kind}];
    for (const auto& r : run.rounds) accepted += r.accepted, ++total;
    c.final_accuracy += run.final_accuracy;
    ++runs_of[{run.alpha, run.kind}].first;
  }
  for (auto& c : cells) {
    const auto hp = static_cast<double>(std::max<std::size_t>(c.honest_pairs, 1));
    const auto bp = static_cast<double>(std::max<std::size_t>(c.byzantine_pairs, 1));
    c.honest_mean /= hp;
    c.honest_nonnegative /= hp;
    c.byzantine_mean /= bp;
    c.byzantine_negative /= bp;
    if (c.byzantine_pairs == 0) c.byzantine_max = 0;
    const auto& [accepted, total] = rounds[{c.alpha, c.kind}];
    c.accepted = total ? static_cast<double>(accepted) / static_cast<double>(total) : 0;
    c.final_accuracy /=
        static_cast<double>(std::max<std::size_t>(runs_of[{c.alpha, c.kind}].first, 1));
  }
  return cells;
}

std::string incentive_table(const std::vector<IncentiveCell>& cells) {
  std::ostringstream md;
  md << "| alpha | kind | honest mean net | Byzantine mean net | honest net ≥ 0 | Byzantine net "
        "< 0 | Byzantine max net | rounds accepted | final accuracy | checks |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : cells) {
    std::ostringstream checks;
    const char* sep = "";
    const auto check = [&](const char* name, bool ok) {
      checks << sep << name << (ok ? " ok" : " FAIL");
      sep = ", ";
    };
    if (c.alpha >= 0.5) check("honest≥0 95%", c.honest_nonnegative >= 0.95);
    check("byz<honest", c.byzantine_mean < c.honest_mean);
    if (harmful(c.kind)) check("byz<0 95%", c.byzantine_negative >= 0.95);
    if (c.kind == "free-ride") check("free rider ≤ 0", c.byzantine_max <= 0);
    md << "| " << fmt("%.2g", c.alpha) << " | " << c.kind << " | " << fmt("%+.1f", c.honest_mean)
       << " | " << fmt("%+.1f", c.byzantine_mean) << " | "
       << fmt("%.1f %%", 100 * c.honest_nonnegative) << " (" << c.honest_pairs << ") | "
       << fmt("%.1f %%", 100 * c.byzantine_negative) << " (" << c.byzantine_pairs << ") | "
       << fmt("%+.1f", c.byzantine_max) << " | " << fmt("%.0f %%", 100 * c.accepted) << " | "
       << fmt("%.3f", c.final_accuracy) << " | " << checks.str() << " |\n";
  }
  return md.str();
}

void write_incentive_report(const std::vector<IncentiveRun>& runs,
                            const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  write_nodes_csv(runs, dir / "incentives.csv");
  write_rounds_csv(runs, dir / "rounds.csv");
  write_evidence_csv(runs, dir);
  const auto cells = summarize_incentives(runs);
  write_file(dir / "incentives.md",
             "# Incentives: net stake change per node (tokens; stake 1000, pool 10,000)\n\n" +
                 incentive_table(cells));
  draw_bars(cells).write_png(dir / "incentives.png");
}

std::vector<IncentiveRun> run_incentive_bench(const IncentiveBenchOptions& options,
                                              const SimulationData& data, std::ostream* log) {
  std::vector<IncentiveRun> runs;
  std::filesystem::create_directories(options.out_dir);
  for (double alpha : options.alphas)
    for (const auto& kind : options.kinds)
      for (std::uint64_t seed : options.seeds) {
        IncentiveRunOptions o = options.base;
        o.alpha = alpha;
        o.kind = kind;
        o.seed = seed;
        runs.push_back(run_incentives(o, data));
        write_nodes_csv(runs, options.out_dir / "incentives.csv");
        if (!log) continue;
        const auto& run = runs.back();
        double h = 0, b = 0;
        std::size_t hn = 0, bn = 0, accepted = 0;
        for (const auto& n : run.nodes)
          (n.byzantine ? b : h) += n.net_tokens(), ++(n.byzantine ? bn : hn);
        for (const auto& r : run.rounds) accepted += r.accepted;
        *log << "incentives: alpha " << fmt("%.2g", alpha) << ", " << kind.name << ", seed " << seed
             << ": honest mean net " << fmt("%+.1f", hn ? h / static_cast<double>(hn) : 0)
             << ", Byzantine " << fmt("%+.1f", bn ? b / static_cast<double>(bn) : 0) << ", "
             << accepted << "/" << run.rounds.size() << " accepted, accuracy "
             << fmt("%.3f", run.initial_accuracy) << " -> " << fmt("%.3f", run.final_accuracy)
             << " (" << fmt("%.1f", run.seconds) << " s)" << std::endl;
      }
  write_incentive_report(runs, options.out_dir);
  return runs;
}

}  // namespace murmur::sim
