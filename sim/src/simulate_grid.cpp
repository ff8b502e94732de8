// The robustness grid: one full simulation per (rule, attack, fraction), results as CSV,
// Markdown, PNG and HTML.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "murmur/sim/plot.hpp"
#include "murmur/sim/robustness.hpp"

namespace murmur::sim {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string cell_key(const std::string& rule, Attack a, double f) {
  return rule + "|" + std::string(attack_name(a)) + "|" + fmt("%.3f", a == Attack::kNone ? 0.0 : f);
}

std::string row_label(Attack a, double f) {
  return a == Attack::kNone ? "clean" : std::string(attack_name(a)) + " " + fmt("%.0f%%", 100 * f);
}

/// A Markdown table's header after its first cell: one column a rule, and the rule line.
void rule_columns(std::ostream& md, const std::vector<std::string>& rules) {
  for (const auto& r : rules) md << r << " | ";
  md << "\n|---|";
  for (std::size_t i = 0; i < rules.size(); ++i) md << "---|";
  md << "\n";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

std::map<std::string, GridCell> read_csv(const std::filesystem::path& file) {
  std::map<std::string, GridCell> cells;
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    const auto f = split(line, ',');
    if (f.size() < 11) continue;
    try {
      GridCell c;
      c.rule_name = f[0];
      c.rule = f[1];
      c.attack = parse_attack(f[2]);
      c.fraction = std::stod(f[3]);
      c.flagged = std::stoul(f[5]);
      c.flagged_byzantine = std::stoul(f[6]);
      c.refused = std::stoul(f[7]);
      c.failed_rounds = std::stoul(f[8]);
      c.seconds = std::stod(f[9]);
      for (const auto& a : split(f[10], ';')) c.accuracy.push_back(std::stod(a));
      cells[cell_key(c.rule_name, c.attack, c.fraction)] = c;
    } catch (const std::exception&) {
      // A damaged line is run again.
    }
  }
  return cells;
}

/// The first round (1-based) whose accuracy reaches `target`, or 0.
std::size_t rounds_to(const GridCell& c, double target) {
  for (std::size_t i = 1; i < c.accuracy.size(); ++i)
    if (c.accuracy[i] >= target) return i;
  return 0;
}

}  // namespace

ServerTarget grid_server(const std::string& rule, std::size_t nodes, double defence_fraction) {
  ServerTarget t;
  t.proposer_bps = 10000;
  const auto f =
      static_cast<std::uint64_t>(std::ceil(defence_fraction * static_cast<double>(nodes) - 1e-9));
  // One table for every rule, as murmurd's [aggregation]: each rule reads what it has.
  t.rule = rule;
  t.rule_parameters = {{"beta", defence_fraction},
                       {"f", f},
                       {"m", std::uint64_t{nodes > f ? nodes - f : 1}},
                       {"tau", 1.0}};
  return t;
}

std::vector<GridCell> run_grid(const GridOptions& o, const SimulationData& data,
                               std::ostream* log) {
  const double defence = o.defence_fraction > 0
                             ? o.defence_fraction
                             : *std::max_element(o.fractions.begin(), o.fractions.end());
  std::filesystem::create_directories(o.out_dir);
  auto done = read_csv(o.out_dir / "robustness.csv");
  std::vector<std::pair<Attack, double>> rows = {{Attack::kNone, 0.0}};
  for (Attack a : o.attacks)
    for (double f : o.fractions) rows.emplace_back(a, f);
  std::vector<GridCell> cells;
  // The report covers this grid and every other cell already in the CSV (earlier grids in the
  // same folder, e.g. other fractions), those after these.
  const auto with_earlier = [&](const std::vector<GridCell>& mine) {
    std::vector<GridCell> all = mine;
    for (const auto& [key, c] : done)
      if (std::none_of(mine.begin(), mine.end(), [&](const GridCell& m) {
            return cell_key(m.rule_name, m.attack, m.fraction) == key;
          }))
        all.push_back(c);
    return all;
  };
  const std::size_t total = rows.size() * o.rules.size();
  for (const auto& [attack, fraction] : rows) {
    for (const auto& rule : o.rules) {
      const auto key = cell_key(rule, attack, fraction);
      if (auto it = done.find(key); it != done.end()) {
        cells.push_back(it->second);
        if (log)
          *log << "[" << cells.size() << "/" << total << "] " << row_label(attack, fraction)
               << " x " << rule << ": " << fmt("%.4f", it->second.final_accuracy())
               << " (from robustness.csv)" << std::endl;
        continue;
      }
      SimulationOptions so = o.base;
      so.server = grid_server(rule, so.nodes, defence);
      so.server.upload_seconds = o.base.server.upload_seconds;
      so.byzantine =
          attack == Attack::kNone
              ? 0
              : static_cast<std::size_t>(std::lround(fraction * static_cast<double>(so.nodes)));
      so.attacks = attack == Attack::kNone ? std::vector<Attack>{} : std::vector<Attack>{attack};
      so.work_dir = o.out_dir / "work" /
                    (rule + "-" + std::string(attack_name(attack)) + "-" + fmt("%.2f", fraction));
      std::filesystem::remove_all(so.work_dir);
      std::filesystem::create_directories(so.work_dir);
      const SimulationReport r = run_simulation(so, data, nullptr);
      std::filesystem::remove_all(so.work_dir);
      GridCell c;
      c.rule = r.rule;
      c.rule_name = rule;
      c.attack = attack;
      c.fraction = attack == Attack::kNone ? 0.0 : fraction;
      c.accuracy.push_back(r.initial_accuracy);
      for (const auto& rec : r.rounds) {
        c.accuracy.push_back(rec.accuracy);
        c.flagged += rec.flagged.size();
        for (std::size_t i : rec.flagged) c.flagged_byzantine += r.node_attack[i] != Attack::kNone;
        c.refused += rec.refused;
        c.failed_rounds += !rec.accepted;
      }
      c.seconds = r.seconds;
      cells.push_back(c);
      if (log)
        *log << "[" << cells.size() << "/" << total << "] " << row_label(attack, fraction) << " x "
             << c.rule << ": final accuracy " << fmt("%.4f", c.final_accuracy()) << ", flags "
             << c.flagged_byzantine << " Byzantine of " << c.flagged << ", "
             << fmt("%.0f s", c.seconds) << std::endl;
      write_grid_report(o, with_earlier(cells), o.out_dir);
    }
  }
  std::filesystem::remove_all(o.out_dir / "work");
  write_grid_report(o, with_earlier(cells), o.out_dir);
  return cells;
}

void write_grid_report(const GridOptions& o, const std::vector<GridCell>& cells,
                       const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream csv(dir / "robustness.csv");
    csv << "rule_name,rule,attack,fraction,final_accuracy,flagged,flagged_byzantine,refused,failed_"
           "rounds,"
           "seconds,accuracy_per_round\n";
    for (const auto& c : cells) {
      std::string acc;
      for (double a : c.accuracy) acc += (acc.empty() ? "" : ";") + fmt("%.4f", a);
      std::string rule = c.rule;
      std::replace(rule.begin(), rule.end(), ',', ';');
      csv << c.rule_name << ',' << rule << ',' << attack_name(c.attack) << ','
          << fmt("%.3f", c.fraction) << ',' << fmt("%.4f", c.final_accuracy()) << ',' << c.flagged
          << ',' << c.flagged_byzantine << ',' << c.refused << ',' << c.failed_rounds << ','
          << fmt("%.1f", c.seconds) << ',' << acc << '\n';
    }
  }
  // Rows (attack, fraction) in first-seen order; columns = rules.
  std::vector<std::pair<Attack, double>> rows;
  for (const auto& c : cells)
    if (std::find(rows.begin(), rows.end(), std::pair{c.attack, c.fraction}) == rows.end())
      rows.emplace_back(c.attack, c.fraction);
  const auto find = [&](Attack a, double f, const std::string& rule) -> const GridCell* {
    for (const auto& c : cells)
      if (c.attack == a && std::abs(c.fraction - f) < 1e-9 && c.rule_name == rule) return &c;
    return nullptr;
  };
  const GridCell* clean_fedavg = find(Attack::kNone, 0.0, "fedavg");
  const std::size_t rounds = o.base.rounds;

  std::ofstream md(dir / "robustness.md");
  md << "# Robustness grid\n\nFashion-MNIST, MLP " << o.base.shape << ", " << o.base.nodes
     << " nodes (every node proposes every round), Dirichlet alpha = " << o.base.alpha << ", "
     << rounds << " rounds, E = " << o.base.training.epochs << ", B = " << o.base.training.batch
     << ", lr = " << o.base.training.lr << ", seed " << o.base.seed
     << ". Final test accuracy (10,000 test images)";
  if (clean_fedavg)
    md << "; in brackets the difference to clean FedAvg ("
       << fmt("%.4f", clean_fedavg->final_accuracy()) << ")";
  md << ".\n\n| attack | ";
  rule_columns(md, o.rules);
  for (const auto& [a, f] : rows) {
    md << "| " << row_label(a, f) << " | ";
    for (const auto& rule : o.rules) {
      const GridCell* c = find(a, f, rule);
      if (!c) {
        md << " | ";
        continue;
      }
      md << fmt("%.4f", c->final_accuracy());
      if (clean_fedavg && c != clean_fedavg)
        md << " (" << fmt("%+.1f", 100 * (c->final_accuracy() - clean_fedavg->final_accuracy()))
           << ")";
      md << " | ";
    }
    md << "\n";
  }
  md << "\nRules as configured (for a Byzantine fraction of "
     << fmt("%.2f", o.defence_fraction > 0
                        ? o.defence_fraction
                        : *std::max_element(o.fractions.begin(), o.fractions.end()))
     << "):";
  for (const auto& rule : o.rules)
    if (const GridCell* c = find(Attack::kNone, 0.0, rule)) md << " `" << c->rule << "`";
  md << ".\n\nRounds to reach 0.85 (clean): ";
  for (const auto& rule : o.rules)
    if (const GridCell* c = find(Attack::kNone, 0.0, rule)) {
      const auto n = rounds_to(*c, 0.85);
      md << rule << " " << (n ? std::to_string(n) : "not within " + std::to_string(rounds)) << "; ";
    }
  md << "\n\nFlags (rows the rule rejected or put more than " << o.base.flag_ratio
     << "x the median distance from the aggregate; Byzantine among them):\n\n| attack | ";
  rule_columns(md, o.rules);
  for (const auto& [a, f] : rows) {
    md << "| " << row_label(a, f) << " | ";
    for (const auto& rule : o.rules) {
      const GridCell* c = find(a, f, rule);
      if (c)
        md << c->flagged_byzantine << " of " << c->flagged
           << (c->refused ? ", refused " + std::to_string(c->refused) : "");
      md << " | ";
    }
    md << "\n";
  }

  plot::HeatMap heat;
  heat.title = "Final test accuracy";
  heat.cols = o.rules;
  for (const auto& [a, f] : rows) {
    heat.rows.push_back(row_label(a, f));
    for (const auto& rule : o.rules) {
      const GridCell* c = find(a, f, rule);
      heat.values.push_back(c ? c->final_accuracy() : std::nan(""));
    }
  }
  plot::draw_heat_map(heat).write_png(dir / "heatmap.png");
  std::vector<std::string> charts;
  for (const auto& [a, f] : rows) {
    plot::LineChart chart;
    chart.title = "Test accuracy per round: " + row_label(a, f);
    chart.x_label = "round";
    chart.y_label = "accuracy";
    for (const auto& rule : o.rules)
      if (const GridCell* c = find(a, f, rule)) chart.series.push_back({c->rule_name, c->accuracy});
    const std::string name = "accuracy_" + std::string(attack_name(a)) +
                             (a == Attack::kNone ? "" : "_" + fmt("%.0f", 100 * f)) + ".png";
    plot::draw_line_chart(chart).write_png(dir / name);
    charts.push_back(name);
  }
  std::ofstream h(dir / "robustness.html");
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>Robustness grid</title></head>"
       "<body style=\"font-family:sans-serif;margin:2em\"><h1>Robustness grid</h1>"
       "<p>See <a href=\"robustness.md\">robustness.md</a> and <a "
       "href=\"robustness.csv\">robustness.csv</a>.</p>"
       "<img src=\"heatmap.png\"><br>\n";
  for (const auto& c : charts) h << "<img src=\"" << c << "\"><br>\n";
  h << "</body></html>\n";
}

}  // namespace murmur::sim
