// `murmur bench incentives`'s machinery on a tiny grid: 2 seeds x 1 alpha x 2 kinds x 3 rounds
// with a small model. Checks the outputs' rows, that every round's money is what
// settle_median_round booked and nothing is created or lost, and that a free rider is never paid.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "murmur/chain/median_settlement.hpp"
#include "murmur/sim/incentives.hpp"

using namespace murmur::sim;
using murmur::chain::U256;

namespace {

const SimulationData& data() {
  static const SimulationData d = SimulationData::load();
  return d;
}

std::size_t lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

IncentiveBenchOptions tiny(const std::filesystem::path& out) {
  IncentiveBenchOptions b;
  b.base.nodes = 8;
  b.base.rounds = 3;
  b.base.shape = "784-16-10";
  b.base.train_rows = 2400;
  b.base.test_rows = 500;
  b.base.byzantine_fraction = 0.25;  // 2 of 8
  b.base.workers = 2;
  b.seeds = {1, 2};
  b.alphas = {0.5};
  b.kinds = {parse_incentive_kind("sign-flip"), parse_incentive_kind("free-ride")};
  b.out_dir = out;
  return b;
}

}  // namespace

TEST(IncentiveKinds, NamesRoundTrip) {
  const auto kinds = incentive_kinds();
  ASSERT_EQ(kinds.size(), 7u);
  for (const auto& k : kinds) EXPECT_EQ(parse_incentive_kind(k.name), k);
  EXPECT_EQ(parse_incentive_kind("honest"), NodeKind{});
  EXPECT_EQ(parse_incentive_kind("free-ride").vote, VoteBehaviour::kAbstain);
  EXPECT_EQ(parse_incentive_kind("contrarian").update, Attack::kNone);
  EXPECT_THROW(parse_incentive_kind("sybil"), std::invalid_argument);
}

TEST(IncentiveBench, TinyGridBooksEveryTokenAndNeverPaysAFreeRider) {
  const auto out = std::filesystem::temp_directory_path() /
                   ("murmur-incentives-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(out);
  const IncentiveBenchOptions b = tiny(out);
  const auto runs = run_incentive_bench(b, data());
  ASSERT_EQ(runs.size(), 4u);  // 1 alpha x 2 kinds x 2 seeds

  // Outputs: one CSV row per node per run, one per round per run, the table and the plot.
  EXPECT_EQ(lines(out / "incentives.csv"), 1 + 4 * b.base.nodes);
  EXPECT_EQ(lines(out / "rounds.csv"), 1 + 4 * b.base.rounds);
  // updates.csv: one row per revealed vote per update of its round (the per-update evidence).
  std::size_t evidence = 0;
  for (const auto& run : runs)
    for (const auto& r : run.rounds)
      for (const auto& v : r.votes) {
        ASSERT_EQ(v.update_scores.size(), r.proposals.size());
        ASSERT_EQ(v.objects_to.size(), r.proposals.size());
        EXPECT_EQ(
            static_cast<std::size_t>(std::count(v.objects_to.begin(), v.objects_to.end(), true)),
            v.objections);
        evidence += r.proposals.size();
      }
  EXPECT_EQ(lines(out / "updates.csv"), 1 + evidence);
  std::ifstream md(out / "incentives.md");
  const std::string table((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(table.find("| 0.5 | sign-flip |"), std::string::npos) << table;
  EXPECT_NE(table.find("| 0.5 | free-ride |"), std::string::npos) << table;
  std::ifstream png(out / "incentives.png", std::ios::binary);
  char sig[8] = {};
  png.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");

  const U256 stake = murmur::sim::token_units(1000), pool = murmur::sim::token_units(10000);
  std::size_t quorate = 0, paid_honest = 0;
  for (const auto& run : runs) {
    SCOPED_TRACE("seed " + std::to_string(run.seed) + ", " + run.kind);
    ASSERT_EQ(run.rounds.size(), b.base.rounds);
    ASSERT_EQ(run.nodes.size(), b.base.nodes);
    // Per round: nothing created or lost, and what settle_median_round booked adds up.
    U256 paid, slashed, credit;
    for (const auto& r : run.rounds) {
      EXPECT_EQ(r.total_before, r.total_after) << "round " << r.round;
      EXPECT_EQ(r.total_before, U256(b.base.nodes) * stake + pool) << "round " << r.round;
      EXPECT_LE(r.paid, r.pot);
      paid += r.paid;
      slashed += r.slashed;
      credit += r.creator_credit;
      quorate += r.quorum;
      if (!r.quorum) {
        EXPECT_TRUE(r.paid.is_zero() && r.slashed.is_zero());
      }
    }
    U256 rewards, slashes;
    std::size_t byzantine = 0;
    for (const auto& n : run.nodes) {
      EXPECT_EQ(n.stake_start, stake);
      EXPECT_EQ(n.stake_end + n.slashes, n.stake_start);
      EXPECT_EQ(n.proposer_rounds + n.voter_rounds, b.base.rounds);
      rewards += n.rewards;
      slashes += n.slashes;
      byzantine += n.byzantine;
      if (!n.byzantine && !n.rewards.is_zero()) ++paid_honest;
      if (n.kind == "free-ride") {
        EXPECT_TRUE(n.rewards.is_zero()) << "a free rider was paid " << n.rewards.to_dec();
        EXPECT_LE(n.net_tokens(), 0.0);
      }
    }
    EXPECT_EQ(byzantine, 2u);
    EXPECT_EQ(rewards, paid);
    EXPECT_EQ(slashes, slashed);
    EXPECT_EQ(run.pool_end + run.creator_end + paid, pool + slashed);
    EXPECT_EQ(run.creator_end, credit);
  }
  // Not vacuous: rounds were settled and honest nodes were paid.
  EXPECT_GT(quorate, 0u);
  EXPECT_GT(paid_honest, 0u);

  // The summary reads the same runs: 2 cells, 6 honest and 2 Byzantine pairs per seed.
  const auto cells = summarize_incentives(runs);
  ASSERT_EQ(cells.size(), 2u);
  for (const auto& c : cells) {
    EXPECT_EQ(c.honest_pairs, 12u);
    EXPECT_EQ(c.byzantine_pairs, 4u);
  }
  EXPECT_LE(cells[1].byzantine_max, 0.0);  // free riders
  std::filesystem::remove_all(out);
}

TEST(IncentiveBench, RefusesParametersTheContractRefuses) {
  const auto refused = [](const auto& change) {
    IncentiveRunOptions o;
    change(o);
    EXPECT_THROW(run_incentives(o, data()), std::invalid_argument);
  };
  refused([](IncentiveRunOptions& o) { o.settlement.tolerance_bps = 20'001; });
  refused([](IncentiveRunOptions& o) { o.settlement.proposer_bps = 10'000; });
  refused([](IncentiveRunOptions& o) { o.settlement.quorum_bps = 0; });
  refused([](IncentiveRunOptions& o) { o.byzantine_fraction = 1.5; });
  refused([](IncentiveRunOptions& o) { o.settlement.objection_scale = 0; });
}

// ALIE's colluding proposers all send the same vector: the aggregator leaves every copy out, so
// no round includes an ALIE update when two or more of them proposed (one alone is included
// like any other update that passes the norm screen).
TEST(IncentiveBench, CopiedUpdatesAreLeftOut) {
  IncentiveRunOptions o;
  o.nodes = 8;
  o.rounds = 4;
  o.shape = "784-16-10";
  o.train_rows = 2400;
  o.test_rows = 500;
  o.byzantine_fraction = 0.5;  // 4 of 8
  o.workers = 2;
  o.seed = 3;
  o.kind = parse_incentive_kind("alie");
  const IncentiveRun run = run_incentives(o, data());
  std::size_t colluding_rounds = 0;
  for (const auto& r : run.rounds) {
    std::size_t alie = 0, alie_included = 0, alie_paid = 0;
    for (const auto& p : r.proposals) {
      if (run.nodes[p.proposer].kind != "alie") continue;
      ++alie;
      alie_included += p.included;
      alie_paid += p.paid;
    }
    if (alie >= 2) {
      ++colluding_rounds;
      EXPECT_EQ(alie_included, 0u) << "round " << r.round;
      EXPECT_EQ(alie_paid, 0u) << "round " << r.round;
    }
  }
  // The seed's role draws (fixed by the seed) give rounds with several ALIE proposers.
  EXPECT_GT(colluding_rounds, 0u);
}

// The contrarian reveals the complement of its objections: it disagrees with the objection
// consensus on most updates of a round and is slashed for it, whatever its score; honest voters
// are far from that consensus less often. Every vote far from it is slashed, as the rule says.
TEST(IncentiveBench, ContrarianIsFarFromTheObjectionConsensus) {
  std::size_t contrarian_votes = 0, contrarian_far = 0, honest_votes = 0, honest_far = 0;
  for (std::uint64_t seed : {1, 2}) {
    IncentiveRunOptions o;
    o.nodes = 8;
    o.rounds = 4;
    o.shape = "784-16-10";
    o.train_rows = 2400;
    o.test_rows = 500;
    o.byzantine_fraction = 0.25;  // 2 of 8
    o.workers = 2;
    o.seed = seed;
    o.kind = parse_incentive_kind("contrarian");
    const IncentiveRun run = run_incentives(o, data());
    for (const auto& r : run.rounds)
      for (const auto& v : r.votes) {
        EXPECT_EQ(v.far_objections, v.disagreements >= murmur::chain::kMinDisagreements &&
                                        2 * v.disagreements > r.proposals.size());
        if (v.far_objections) {
          EXPECT_TRUE(v.slashed && !v.paid) << "round " << r.round;
        }
        const bool contrarian = run.nodes[v.voter].kind == "contrarian";
        (contrarian ? contrarian_votes : honest_votes) += 1;
        (contrarian ? contrarian_far : honest_far) += v.far_objections;
      }
  }
  ASSERT_GT(contrarian_votes, 0u);
  ASSERT_GT(honest_votes, 0u);
  EXPECT_GT(contrarian_far, 0u);
  EXPECT_GT(static_cast<double>(contrarian_far) / static_cast<double>(contrarian_votes),
            static_cast<double>(honest_far) / static_cast<double>(honest_votes));
}

TEST(SimulateTotals, HonestAndByzantineNetFromTheChainsBalances) {
  const U256 t = murmur::sim::token_units(1);
  SimulationReport r;
  r.nodes = 3;
  r.node_attack = {Attack::kNone, Attack::kNone, Attack::kSignFlip};
  EXPECT_NE(describe_totals(r).find("no chain"), std::string::npos);
  r.initial_balances = std::vector<NodeBalance>{
      {t * U256(1000), U256()}, {t * U256(1000), U256()}, {t * U256(1000), t * U256(5)}};
  RoundRecord first, abandoned, last;
  first.chain_post = ChainPosting{};
  first.chain_post->after = *r.initial_balances;
  abandoned.chain_post = ChainPosting{};  // no balances read: the last ones still hold
  last.chain_post = ChainPosting{};
  last.chain_post->after = {
      {t * U256(1000), t * U256(50)}, {t * U256(900), U256()}, {t * U256(900), t * U256(5)}};
  r.rounds = {first, last, abandoned};
  EXPECT_EQ(describe_totals(r),
            "totals (stake + reward, end minus start, tokens): honest 2 nodes -50.0 (mean -25.0, "
            "1 below 0); Byzantine 1 nodes -100.0 (mean -100.0, 1 below 0)");
}
