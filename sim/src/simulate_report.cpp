// What a simulation prints per round and the report it leaves (CSV, PNG, HTML).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>

#include "murmur/sim/plot.hpp"
#include "murmur/sim/simulate.hpp"

namespace murmur::sim {
namespace {

using chain::U256;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string node_name(const SimulationReport& r, std::size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "n%02zu", i);
  return std::string(buf) + (r.node_attack[i] != Attack::kNone ? "*" : "");
}

std::string short_hash(const std::string& hex) {
  return hex.size() > 14 ? hex.substr(0, 10) + "..." + hex.substr(hex.size() - 4) : hex;
}

/// An int256 in two's complement as signed token text.
std::string signed_tokens(const U256& v) {
  std::string out(1, v.bit(255) ? '-' : '+');
  out += format_tokens(v.bit(255) ? U256::max() - v + U256(1) : v);
  return out;
}

/// Runs of 16 or more digits (base-unit amounts in murmurd's outcome text) as tokens.
std::string readable_amounts(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j - i >= 16) {
      out += format_tokens(U256::from_string(text.substr(i, j - i)));
      i = j;
    } else if (j > i) {
      out += text.substr(i, j - i);
      i = j;
    } else {
      out += text[i++];
    }
  }
  return out;
}

/// Appends `item` to a `sep`-separated list.
void join(std::string& list, std::string_view sep, std::string_view item) {
  if (!list.empty()) list += sep;
  list += item;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

/// "n03 reward +90.91", "n07* stake -100.00": what changed on chain for one node, or "".
std::string balance_change(const SimulationReport& r, std::size_t i, const NodeBalance& before,
                           const NodeBalance& after) {
  std::string out;
  if (after.reward != before.reward)
    join(out, " ", "reward +" + format_tokens(after.reward - before.reward));
  if (after.stake < before.stake)
    join(out, " ", "stake -" + format_tokens(before.stake - after.stake));
  if (before.stake < after.stake)
    join(out, " ", "stake +" + format_tokens(after.stake - before.stake));
  return out.empty() ? out : node_name(r, i) + " " + out;
}

std::string flags_text(const SimulationReport& r, const RoundRecord& rec) {
  if (rec.flagged.empty()) return "none";
  std::string out;
  for (std::size_t i : rec.flagged) join(out, " ", node_name(r, i));
  return out;
}

const char* abandon_reason(std::uint8_t reason) {
  switch (reason) {
    case chain::alliance_v2::kAbandonSeedExpired: return "seed expired";
    case chain::alliance_v2::kAbandonNoCandidate: return "no candidate in time";
    case chain::alliance_v2::kAbandonNoQuorum: return "no quorum of revealed votes";
    default: return "unknown reason";
  }
}

/// "finalizeRound 0x1234...abcd" / "abandonRound ... (reason)" for the report's tables.
std::string closing_text(const ChainPosting& p) {
  std::string out =
      (p.abandoned ? "abandonRound " : "finalizeRound ") + short_hash(chain::to_hex(p.tx));
  if (p.v2 && p.abandoned) out += std::string(" (") + abandon_reason(p.v2->abandon_reason) + ")";
  if (p.v2 && !p.abandoned)
    out += std::string(p.v2->accepted ? " accepted" : " rejected") + ", median " +
           fmt("%+.0f", static_cast<double>(p.v2->median)) + " bps";
  return out;
}

/// The v2 round's votes and objections, as the demo prints them.
std::string v2_votes_text(const SimulationReport& r, const RoundRecord& rec) {
  const auto& v = *rec.chain_post->v2;
  std::ostringstream s;
  std::size_t voters = 0, revealed = 0;
  std::string scores;
  for (std::size_t i = 0; i < rec.nodes.size(); ++i) {
    const auto& n = rec.nodes[i];
    if (n.proposer || n.vote == 0) continue;
    ++voters;
    revealed += n.revealed;
    join(scores, " ", node_name(r, i) + fmt("%+.0f", static_cast<double>(n.vote_score)));
  }
  s << "  votes on chain: " << revealed << " of " << voters << " revealed (stake "
    << format_tokens(v.revealed_stake) << " of " << format_tokens(v.voter_stake)
    << "); scores (bps) " << (scores.empty() ? "none" : scores) << "\n";
  std::string objections;
  for (std::size_t i = 0; i < rec.nodes.size(); ++i) {
    const auto& n = rec.nodes[i];
    if (!n.proposer || v.objection_stake.size() <= i || v.objection_stake[i].is_zero()) continue;
    const double share = v.revealed_stake.is_zero() ? 0.0
                                                    : std::stod(v.objection_stake[i].to_dec()) /
                                                          std::stod(v.revealed_stake.to_dec());
    join(objections, ", ",
         node_name(r, i) + " " + fmt("%.0f%%", 100 * share) + (n.objected ? " (objected)" : ""));
  }
  std::string excluded;
  for (std::size_t i = 0; i < rec.nodes.size(); ++i)
    if (rec.nodes[i].proposer && rec.nodes[i].committed && !rec.nodes[i].included)
      join(excluded, " ", node_name(r, i));
  s << "  objections (share of revealed stake): " << (objections.empty() ? "none" : objections)
    << "; left out of the posted bitmap: " << (excluded.empty() ? "none" : excluded) << "\n";
  return s.str();
}

}  // namespace

std::string describe_totals(const SimulationReport& r) {
  if (!r.initial_balances || r.rounds.empty())
    return "totals: no chain, no stake moved (run with --rpc to settle rounds on chain)";
  std::vector<NodeBalance> last = *r.initial_balances;
  for (const auto& rec : r.rounds)
    if (rec.chain_post && !rec.chain_post->after.empty()) last = rec.chain_post->after;
  double net[2] = {0, 0};
  std::size_t count[2] = {0, 0}, negative[2] = {0, 0};
  for (std::size_t i = 0; i < r.nodes && i < last.size(); ++i) {
    const auto& b = (*r.initial_balances)[i];
    const U256 start = b.stake + b.reward, end = last[i].stake + last[i].reward;
    const double tokens = end < start ? -std::stod((start - end).to_dec()) / 1e18
                                      : std::stod((end - start).to_dec()) / 1e18;
    const int g = r.node_attack[i] != Attack::kNone ? 1 : 0;
    net[g] += tokens;
    ++count[g];
    negative[g] += end < start;
  }
  std::ostringstream s;
  s << "totals (stake + reward, end minus start, tokens):";
  const char* names[2] = {"honest", "Byzantine"};
  for (int g = 0; g < 2; ++g)
    s << (g ? ";" : "") << " " << names[g] << " " << count[g] << " nodes " << fmt("%+.1f", net[g])
      << " (mean " << fmt("%+.1f", count[g] ? net[g] / static_cast<double>(count[g]) : 0.0) << ", "
      << negative[g] << " below 0)";
  return s.str();
}

std::string describe_round(const SimulationReport& r, const RoundRecord& rec) {
  double previous = r.initial_accuracy;
  for (const auto& x : r.rounds) {
    if (&x == &rec) break;
    previous = x.accuracy;
  }
  std::ostringstream s;
  s << "round " << rec.round << ": accuracy " << fmt("%.4f", rec.accuracy) << " ("
    << fmt("%+.4f", rec.accuracy - previous)
    << (std::isnan(rec.candidate_accuracy) ? std::string()
                                           : "; candidate " + fmt("%.4f", rec.candidate_accuracy))
    << "), " << readable_amounts(rec.outcome) << " [" << fmt("%.1f", rec.seconds)
    << " s: train+upload " << fmt("%.1f", rec.train_seconds) << ", aggregate "
    << fmt("%.1f", rec.aggregate_seconds) << ", vote " << fmt("%.1f", rec.vote_seconds)
    << ", chain " << fmt("%.1f", rec.chain_seconds) << "]\n";
  std::size_t flagged_byz = 0;
  for (std::size_t i : rec.flagged) flagged_byz += r.node_attack[i] != Attack::kNone;
  s << "  proposers " << rec.proposers << " (" << rec.byzantine_proposers
    << " Byzantine), committed " << rec.committed;
  for (std::size_t i = 0; i < rec.nodes.size(); ++i)
    if (rec.nodes[i].proposer && !rec.nodes[i].refusal.empty())
      s << "; refused " << node_name(r, i) << " "
        << rec.nodes[i].refusal.substr(0, rec.nodes[i].refusal.find(':'));
  s << "\n  rule's flags: " << flags_text(r, rec) << " (" << flagged_byz << " of "
    << rec.flagged.size() << " Byzantine); votes +" << rec.votes_for << " / -" << rec.votes_against
    << "\n";
  if (rec.chain_post && rec.chain_post->v2) {
    const auto& p = *rec.chain_post;
    const auto& v = *p.v2;
    if (!p.abandoned || v.state == chain::V2RoundState::Abandoned) s << v2_votes_text(r, rec);
    s << "  chain: " << closing_text(p) << " block " << p.block << " gas " << p.gas;
    if (!p.abandoned)
      s << ": paid " << format_tokens(v.paid) << ", slashed " << format_tokens(v.slashed);
    s << "; the nodes' transactions: " << v.update_commits << " commitUpdate, " << v.vote_commits
      << " commitVote, " << v.reveals << " revealVote\n";
    std::string changes;
    for (std::size_t i = 0; i < p.before.size() && i < p.after.size(); ++i) {
      const auto c = balance_change(r, i, p.before[i], p.after[i]);
      if (!c.empty()) join(changes, ", ", c);
    }
    s << "  balances: " << (changes.empty() ? "unchanged" : changes) << "\n";
  } else if (rec.chain_post) {
    const auto& p = *rec.chain_post;
    if (p.abandoned) {
      s << "  chain: abandonRound tx " << short_hash(chain::to_hex(p.tx))
        << " (no candidate to settle)\n";
    } else {
      s << "  chain: finalizeRound tx " << short_hash(chain::to_hex(p.tx)) << " block " << p.block
        << " gas " << p.gas;
      if (p.event)
        s << ": " << (p.event->accepted ? "accepted" : "rejected") << ", vote sum "
          << signed_tokens(p.event->vote_sum) << ", paid " << format_tokens(p.event->reward_paid)
          << ", slashed " << format_tokens(p.event->slashed);
      s << "\n";
    }
    std::string changes;
    for (std::size_t i = 0; i < p.before.size() && i < p.after.size(); ++i) {
      const auto c = balance_change(r, i, p.before[i], p.after[i]);
      if (!c.empty()) join(changes, ", ", c);
    }
    s << "  balances: " << (changes.empty() ? "unchanged" : changes) << "\n";
  }
  if (!rec.chain_error.empty()) s << "  chain warning: " << rec.chain_error << "\n";
  std::string out = s.str();
  out.pop_back();
  return out;
}

void write_simulation_report(const SimulationReport& r, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream csv(dir / "rounds.csv");
    csv << "round,accuracy,candidate_accuracy,loss,accepted,proposers,byzantine_proposers,"
           "committed,refused,votes_for,"
           "votes_against,flagged,flagged_byzantine,train_s,aggregate_s,vote_s,chain_s,round_s,tx,"
           "gas,"
           "reward_paid,slashed,outcome,median_bps,chain_accepted\n";
    for (const auto& rec : r.rounds) {
      std::size_t flagged_byz = 0;
      for (std::size_t i : rec.flagged) flagged_byz += r.node_attack[i] != Attack::kNone;
      const auto& p = rec.chain_post;
      csv << rec.round << ',' << fmt("%.4f", rec.accuracy) << ','
          << fmt("%.4f", rec.candidate_accuracy) << ',' << fmt("%.4f", rec.loss) << ','
          << rec.accepted << ',' << rec.proposers << ',' << rec.byzantine_proposers << ','
          << rec.committed << ',' << rec.refused << ',' << rec.votes_for << ',' << rec.votes_against
          << ',' << rec.flagged.size() << ',' << flagged_byz << ','
          << fmt("%.2f", rec.train_seconds) << ',' << fmt("%.2f", rec.aggregate_seconds) << ','
          << fmt("%.2f", rec.vote_seconds) << ',' << fmt("%.2f", rec.chain_seconds) << ','
          << fmt("%.2f", rec.seconds) << ',' << (p ? chain::to_hex(p->tx) : "") << ','
          << (p ? p->gas : 0) << ','
          << (p && p->event ? format_tokens(p->event->reward_paid)
              : p && p->v2  ? format_tokens(p->v2->paid)
                            : "")
          << ','
          << (p && p->event ? format_tokens(p->event->slashed)
              : p && p->v2  ? format_tokens(p->v2->slashed)
                            : "")
          << ",\"" << rec.outcome << "\"," << (p && p->v2 ? std::to_string(p->v2->median) : "")
          << ',' << (p && p->v2 && !p->abandoned ? (p->v2->accepted ? "1" : "0") : "") << "\n";
    }
  }
  plot::LineChart chart;
  chart.title = "Test accuracy of the global model (" + r.rule + ")";
  chart.x_label = "round";
  chart.y_label = "accuracy";
  plot::Series acc{"accuracy", {r.initial_accuracy}};
  for (const auto& rec : r.rounds) acc.y.push_back(rec.accuracy);
  chart.series.push_back(acc);
  plot::draw_line_chart(chart).write_png(dir / "accuracy.png");

  std::ofstream h(dir / "report.html");
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>Murmuration simulation</title>"
       "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:"
       "13px}"
       "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td.l{text-align:left}"
       ".byz{color:#b00}</style></head><body>\n";
  h << "<h1>Murmuration: federated Fashion-MNIST through murmurd</h1>\n<p>" << r.nodes << " nodes ("
    << r.byzantine.size() << " Byzantine, attacks " << html_escape(r.attacks) << "), model "
    << r.shape << " (" << r.parameters << " parameters), Dirichlet &alpha; = " << r.alpha
    << ", rule <b>" << html_escape(r.rule) << "</b>, seed " << r.seed
    << (r.contract == "v2" ? ", settled on AllianceTaskV2 (the voters' own committed and revealed "
                             "scores and objections)"
        : r.contract == "v1" ? ", settled on AllianceTask"
                             : "")
    << ". Round 0 accuracy " << fmt("%.4f", r.initial_accuracy) << ", final "
    << fmt("%.4f", r.final_accuracy()) << "; " << fmt("%.1f", r.seconds) << " s.</p>\n";
  h << "<img src=\"accuracy.png\" alt=\"accuracy per "
       "round\">\n<h2>Rounds</h2>\n<table><tr><th>round</th>"
       "<th>accuracy</th><th>candidate's</th><th>outcome</th><th>proposers "
       "(Byzantine)</th><th>committed</th><th>rule's flags</th>"
       "<th>votes +/-</th><th>transaction</th><th>balances changed</th></tr>\n";
  for (const auto& rec : r.rounds) {
    std::string tx, changes;
    if (rec.chain_post) {
      tx = closing_text(*rec.chain_post);
      for (std::size_t i = 0; i < rec.chain_post->before.size(); ++i) {
        const auto c = balance_change(r, i, rec.chain_post->before[i], rec.chain_post->after[i]);
        if (!c.empty()) join(changes, "<br>", c);
      }
    }
    h << "<tr><td>" << rec.round << "</td><td>" << fmt("%.4f", rec.accuracy) << "</td><td>"
      << (std::isnan(rec.candidate_accuracy) ? "" : fmt("%.4f", rec.candidate_accuracy))
      << "</td><td class=l>" << html_escape(readable_amounts(rec.outcome)) << "</td><td>"
      << rec.proposers << " (" << rec.byzantine_proposers << ")</td><td>" << rec.committed
      << "</td><td class=l>" << flags_text(r, rec) << "</td><td>" << rec.votes_for << " / "
      << rec.votes_against << "</td><td class=l><code>" << tx << "</code></td><td class=l>"
      << changes << "</td></tr>\n";
  }
  h << "</table>\n";
  if (r.initial_balances && !r.rounds.empty()) {
    h << "<h2>Rewards and slashes per node</h2>\n<p>* Byzantine. Stakes and rewards as the "
         "contract "
         "holds them (tokens).</p>\n<table><tr><th>node</th><th>address</th><th>attack</th>"
         "<th>rounds as proposer</th><th>flagged</th><th>votes cast</th><th>stake before</th>"
         "<th>slashed</th><th>stake after</th><th>rewards</th>"
      << (r.claimed.empty() ? "" : "<th>claimed</th>") << "</tr>\n";
    std::vector<NodeBalance> last = *r.initial_balances;
    for (const auto& rec : r.rounds)
      if (rec.chain_post && !rec.chain_post->after.empty()) last = rec.chain_post->after;
    for (std::size_t i = 0; i < r.nodes; ++i) {
      std::size_t proposed = 0, flagged = 0, votes = 0;
      U256 slashed;
      for (const auto& rec : r.rounds) {
        proposed += rec.nodes[i].proposer;
        flagged += rec.nodes[i].flagged;
        votes += rec.nodes[i].vote != 0;
        if (rec.chain_post && i < rec.chain_post->after.size() &&
            rec.chain_post->after[i].stake < rec.chain_post->before[i].stake)
          slashed += rec.chain_post->before[i].stake - rec.chain_post->after[i].stake;
      }
      const auto& b = (*r.initial_balances)[i];
      h << "<tr" << (r.node_attack[i] != Attack::kNone ? " class=byz" : "") << "><td>"
        << node_name(r, i) << "</td><td class=l><code>" << r.addresses[i]
        << "</code></td><td class=l>" << attack_name(r.node_attack[i]) << "</td><td>" << proposed
        << "</td><td>" << flagged << "</td><td>" << votes << "</td><td>" << format_tokens(b.stake)
        << "</td><td>" << format_tokens(slashed) << "</td><td>" << format_tokens(last[i].stake)
        << "</td><td>" << format_tokens(last[i].reward - b.reward) << "</td>"
        << (i < r.claimed.size() ? "<td>" + format_tokens(r.claimed[i]) + "</td>" : "")
        << "</tr>\n";
    }
    h << "</table>\n";
  }
  h << "<p>Per-round figures: <a href=\"rounds.csv\">rounds.csv</a>.</p></body></html>\n";
  if (!h) throw std::runtime_error("cannot write " + (dir / "report.html").string());
}

}  // namespace murmur::sim
