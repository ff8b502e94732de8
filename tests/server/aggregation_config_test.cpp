// murmurd's [aggregation] table through the rule registry: every existing key keeps its meaning,
// every rule and pre-aggregation step is reachable, a wrong key or value is refused with
// "aggregation.<key>" named; and flag_of follows each rule's kind.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <string>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/rule_registry.hpp"
#include "murmur/server/config.hpp"
#include "murmur/testing/temp_dir.hpp"
#include "round_record.hpp"

namespace murmur::testing {
namespace {

namespace k = kernels;

class AggregationConfig : public ::testing::Test {
 protected:
  AggregationConfig() {
    std::ofstream(dir_.path() / "participants.csv")
        << "0x0000000000000000000000000000000000000001,100\n";
  }
  /// load_config over a file whose [aggregation] table is `table`.
  server::Config load(const std::string& table) {
    const auto path = dir_.path() / "murmurd.toml";
    std::ofstream(path) << "[server]\ncurve = false\ninsecure_plaintext = true\n"
                        << "[task]\nparameters = 10\nparticipants = \"participants.csv\"\n"
                        << "[aggregation]\n"
                        << table;
    return server::load_config(path);
  }
  k::AggregationSpec spec(const std::string& table) { return load(table).aggregation; }
  /// The refusal's text; fails unless it names `key`.
  void refused(const std::string& table, const std::string& key) {
    try {
      load(table);
      ADD_FAILURE() << "accepted: " << table;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(": " + key + ": "), std::string::npos)
          << table << " -> " << e.what();
    }
  }
  TempDir dir_{"aggregation-config"};
};

TEST_F(AggregationConfig, ExistingKeysKeepTheirMeaning) {
  EXPECT_EQ(spec(""), (k::AggregationSpec{{}, k::WeightedMean{}, true}));
  EXPECT_EQ(spec("rule = \"fedavg\"\n"), (k::AggregationSpec{{}, k::WeightedMean{}, true}));
  // The demo's table (scripts/demo.sh) and murmurd.example.toml's keys.
  EXPECT_EQ(spec("rule = \"trimmed-mean\"\nbeta = 0.2\n"),
            (k::AggregationSpec{{}, k::TrimmedMean{0.2}, true}));
  EXPECT_EQ(k::describe(spec("rule = \"trimmed-mean\"\nbeta = 0.2\n")), "trimmed-mean(beta=0.2)");
  const std::string example = "beta = 0.2\nf = 2\nm = 5\nbucket = 1\ntau = 1.0\nflag_ratio = 2.0\n";
  const auto with = [&](const std::string& rule) {
    return spec("rule = \"" + rule + "\"\n" + example).rule;
  };
  EXPECT_EQ(with("fedavg"), k::Rule(k::WeightedMean{}));
  EXPECT_EQ(with("weighted-mean"), k::Rule(k::WeightedMean{}));
  EXPECT_EQ(with("median"), k::Rule(k::CoordinateMedian{}));
  EXPECT_EQ(with("trimmed-mean"), k::Rule(k::TrimmedMean{0.2}));
  EXPECT_EQ(with("meamed"), k::Rule(k::MeaMed{2}));
  EXPECT_EQ(with("krum"), k::Rule(k::Krum{2}));
  EXPECT_EQ(with("multi-krum"), k::Rule(k::MultiKrum{2, 5}));
  EXPECT_EQ(with("bulyan"), k::Rule(k::Bulyan{2}));
  EXPECT_EQ(with("geometric-median"), k::Rule(k::GeometricMedian{}));
  EXPECT_EQ(with("centered-clipping"), k::Rule(k::CenteredClipping{1.0, 10}));
  EXPECT_TRUE(spec("rule = \"median\"\n" + example).pre.empty());
  // Defaults as before: beta 0.1, m 1, tau 1, f 0; bucket > 1 buckets with seed 0.
  EXPECT_EQ(spec("rule = \"trimmed-mean\"\n").rule, k::Rule(k::TrimmedMean{0.1}));
  EXPECT_EQ(spec("rule = \"multi-krum\"\n").rule, k::Rule(k::MultiKrum{0, 1}));
  EXPECT_EQ(spec("rule = \"centered-clipping\"\n").rule, k::Rule(k::CenteredClipping{1.0, 10}));
  EXPECT_EQ(spec("rule = \"median\"\nbucket = 4\n"),
            (k::AggregationSpec{{k::Bucketing{4, 0}}, k::CoordinateMedian{}, true}));
  EXPECT_TRUE(spec("rule = \"median\"\nbucket = 0\n").pre.empty());
  EXPECT_EQ(load("flag_ratio = 3.5\n").flag_ratio, 3.5);
}

TEST_F(AggregationConfig, ReachesWhatOnlyCxxReachedBefore) {
  EXPECT_EQ(spec("rule = \"fedavg\"\nclip = \"arc\"\nf = 2\n").rule,
            k::Rule(k::WeightedMean{k::Clipping::kAdaptive, 0, 2}));
  EXPECT_EQ(spec("rule = \"fedavg\"\nclip = \"fixed\"\nbound = 3.5\nf = 2\n").rule,
            k::Rule(k::WeightedMean{k::Clipping::kFixed, 3.5, 0}));
  EXPECT_EQ(spec("rule = \"centered-clipping\"\ntau = 0.5\niters = 25\n").rule,
            k::Rule(k::CenteredClipping{0.5, 25}));
  EXPECT_EQ(spec("rule = \"geometric-median\"\nnu = 1e-4\niters = 50\ntolerance = 1e-9\n").rule,
            k::Rule(k::GeometricMedian{1e-4, 50, 1e-9}));
  EXPECT_EQ(spec("rule = \"trimmed-mean\"\nbeta = 0.2\nf = 3\nnnm = true\nbucket = 2\n"
                 "bucket_seed = 7\n"),
            (k::AggregationSpec{
                {k::NearestNeighborMixing{3}, k::Bucketing{2, 7}}, k::TrimmedMean{0.2}, true}));
  // A full spec, in any order the grammar allows.
  EXPECT_EQ(spec("rule = \"bucketing(s=2, seed=1) + nnm(f=1) + multi-krum(f=1, m=3)\"\n"
                 "flag_ratio = 3.0\n"),
            (k::AggregationSpec{
                {k::Bucketing{2, 1}, k::NearestNeighborMixing{1}}, k::MultiKrum{1, 3}, true}));
  // Every registered rule by name.
  for (const auto& rule : k::rule_catalog())
    EXPECT_EQ(k::info(spec("rule = \"" + rule.name + "\"\n").rule).name, rule.name);
}

TEST_F(AggregationConfig, RefusalsNameTheKey) {
  refused("rule = \"trimmed_mean\"\n", "aggregation.rule");
  refused("rule = 3\n", "aggregation.rule");
  refused("rule = \"trimmed-mean\"\nbeta = 0.5\n", "aggregation.beta");
  refused("rule = \"trimmed-mean\"\nbeta = \"0.2\"\n", "aggregation.beta");
  refused("rule = \"multi-krum\"\nm = 0\n", "aggregation.m");
  refused("rule = \"krum\"\nf = -1\n", "aggregation.f");
  refused("rule = \"krum\"\nf = 1.5\n", "aggregation.f");
  refused("rule = \"centered-clipping\"\ntau = 0\n", "aggregation.tau");
  refused("rule = \"centered-clipping\"\niters = 0\n", "aggregation.iters");
  refused("rule = \"fedavg\"\nclip = \"sometimes\"\n", "aggregation.clip");
  refused("rule = \"fedavg\"\nclip = \"fixed\"\n", "aggregation.bound");
  refused("rule = \"median\"\nbucket = -2\n", "aggregation.bucket");
  refused("rule = \"median\"\nnnm = 1\n", "aggregation.nnm");
  refused("rule = \"median\"\ngamma = 1\n", "aggregation.gamma");
  refused("rule = \"median\"\ns = 2\n", "aggregation.s");  // bucketing's size is `bucket`
  refused("rule = \"trimmed-mean(beta=0.2)\"\nbeta = 0.2\n", "aggregation.beta");
  refused("rule = \"trimmed-mean(beta=0.2)\"\nbucket = 2\n", "aggregation.bucket");
  refused("rule = \"trimmed-mean(beta=0.7)\"\n", "aggregation.rule");
  refused("rule = \"trimmed-mean(beta=0.2\"\n", "aggregation.rule");
  refused("flag_ratio = 1.0\n", "aggregation.flag_ratio");
}

k::RowDiagnostic row(k::Verdict v, double score) {
  k::RowDiagnostic d;
  d.verdict = v;
  d.weight = 0.5;
  d.score = score;
  return d;
}

TEST(FlagOf, FollowsEveryRulesKind) {
  using k::Verdict;
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  for (const auto& rule_info : k::rule_catalog()) {
    const k::AggregationSpec spec{{}, k::make_rule(rule_info.name, {}), true};
    const auto flag = [&](Verdict v, double score) {
      return server::flag_of(spec, row(v, score), 2.0);
    };
    SCOPED_TRACE(rule_info.name);
    EXPECT_EQ(flag(Verdict::kRejectedByRule, 1.0), "rejected");
    EXPECT_EQ(flag(Verdict::kRejectedNonFinite, kNaN), "rejected");
    EXPECT_EQ(flag(Verdict::kKept, kNaN), "");
    switch (rule_info.kind) {
      case k::RuleKind::kCoordinateWise:  // score: distance over the median distance
        EXPECT_EQ(flag(Verdict::kKept, 2.5), "outlier");
        EXPECT_EQ(flag(Verdict::kKept, 1.9), "");
        EXPECT_EQ(flag(Verdict::kKept, 0.1), "");
        break;
      case k::RuleKind::kLinear:  // score: the factor the row was scaled by
        EXPECT_EQ(flag(Verdict::kKept, 0.3), "downweighted");
        EXPECT_EQ(flag(Verdict::kKept, 0.6), "");
        EXPECT_EQ(flag(Verdict::kKept, 2.5), "");
        break;
      case k::RuleKind::kSelection:  // kept or rejected, whatever the score
        EXPECT_EQ(flag(Verdict::kKept, 0.1), "");
        EXPECT_EQ(flag(Verdict::kKept, 1e9), "");
        break;
    }
  }
}

}  // namespace
}  // namespace murmur::testing
