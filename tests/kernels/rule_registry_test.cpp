// The rule registry: describe() and parse_aggregation() are exact inverses for every rule and
// pre-aggregation step with non-default parameters; unknown names, unknown parameters and
// out-of-bound values are refused with the step, the parameter and its bound named; the shared
// table murmurd's [aggregation] fills reaches every rule.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "murmur/kernels/rule_registry.hpp"

namespace murmur::kernels {
namespace {

using Reason = SpecError::Reason;

/// Every Rule alternative with parameters away from their defaults, and the text each writes.
std::vector<std::pair<Rule, std::string>> every_rule() {
  return {
      {WeightedMean{}, "weighted-mean"},
      {WeightedMean{Clipping::kFixed, 1.5, 0}, "weighted-mean(clip=fixed, bound=1.5)"},
      {WeightedMean{Clipping::kAdaptive, 0.0, 3}, "weighted-mean(clip=arc, f=3)"},
      {CoordinateMedian{}, "median"},
      {TrimmedMean{0.2}, "trimmed-mean(beta=0.2)"},
      {MeaMed{2}, "meamed(f=2)"},
      {Krum{1}, "krum(f=1)"},
      {MultiKrum{2, 5}, "multi-krum(f=2, m=5)"},
      {Bulyan{3}, "bulyan(f=3)"},
      {GeometricMedian{1e-3, 7, 1e-5}, "geometric-median(nu=0.001, iters=7, tolerance=1e-05)"},
      {GeometricMedian{}, "geometric-median(nu=1e-06, iters=100)"},
      {CenteredClipping{0.25, 9}, "centered-clipping(tau=0.25, iters=9)"},
  };
}

std::vector<std::pair<PreAggregation, std::string>> every_pre_aggregation() {
  return {{NearestNeighborMixing{2}, "nnm(f=2)"},
          {Bucketing{3, 42}, "bucketing(s=3, seed=42)"},
          {Bucketing{2, 18446744073709551615ull}, "bucketing(s=2, seed=18446744073709551615)"}};
}

SpecError refusal(const std::string& text) {
  try {
    parse_aggregation(text);
  } catch (const SpecError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << text;
  return SpecError(Reason::kSyntax, "", "", "");
}

TEST(RuleRegistry, EveryRuleAndStepIsRegisteredInVariantOrder) {
  ASSERT_EQ(rule_catalog().size(), std::variant_size_v<Rule>);
  ASSERT_EQ(pre_aggregation_catalog().size(), std::variant_size_v<PreAggregation>);
  // every_rule() covers every alternative (a new rule must be added there too).
  std::vector<bool> seen(std::variant_size_v<Rule>);
  for (const auto& [rule, text] : every_rule()) seen[rule.index()] = true;
  for (std::size_t i = 0; i < seen.size(); ++i)
    EXPECT_TRUE(seen[i]) << rule_catalog()[i].name << " missing from every_rule()";
  EXPECT_EQ(rule_names(),
            "weighted-mean (fedavg), median, trimmed-mean, meamed, krum, multi-krum, bulyan, "
            "geometric-median, centered-clipping");
  EXPECT_EQ(pre_aggregation_names(), "nnm, bucketing");
  const std::string text = catalog_text();
  for (const auto& r : rule_catalog()) EXPECT_NE(text.find(r.name), std::string::npos) << text;
  EXPECT_NE(text.find("beta = 0.1  [[0, 0.5)]"), std::string::npos) << text;
}

TEST(RuleRegistry, DescribeAndParseAreExactInversesForEveryRule) {
  for (const auto& [rule, text] : every_rule()) {
    EXPECT_EQ(describe(rule), text);
    const AggregationSpec spec{{}, rule, true};
    EXPECT_EQ(describe(spec), text);
    EXPECT_EQ(parse_aggregation(text), spec) << text;
    EXPECT_EQ(describe(parse_aggregation(text)), text);
  }
}

TEST(RuleRegistry, DescribeAndParseAreExactInversesForEveryPreAggregation) {
  for (const auto& [step, text] : every_pre_aggregation()) {
    EXPECT_EQ(describe(step), text);
    for (const auto& [rule, rule_text] : every_rule()) {
      const AggregationSpec spec{{step, NearestNeighborMixing{1}}, rule, true};
      const std::string whole = text + " + nnm(f=1) + " + rule_text;
      EXPECT_EQ(describe(spec), whole);
      EXPECT_EQ(parse_aggregation(whole), spec) << whole;
    }
  }
}

TEST(RuleRegistry, RealsReadBackToTheSameDouble) {
  // Six digits as before the registry when they are enough; more when they are not.
  for (double beta : {0.1, 0.2, 1.0 / 3, 0.123456789012345, 1e-300, 0.49999999999999994}) {
    const AggregationSpec spec{{}, TrimmedMean{beta}, true};
    EXPECT_EQ(parse_aggregation(describe(spec)), spec) << describe(spec);
  }
  EXPECT_EQ(describe(TrimmedMean{1.0 / 3}), "trimmed-mean(beta=0.3333333333333333)");
  EXPECT_EQ(describe(CenteredClipping{1.0, 10}), "centered-clipping(tau=1, iters=10)");
}

TEST(RuleRegistry, ReadsFreeSpacingAliasesAndDefaults) {
  EXPECT_EQ(parse_aggregation("  nnm( f = 1 )+trimmed-mean ( beta=0.2 ) "),
            (AggregationSpec{{NearestNeighborMixing{1}}, TrimmedMean{0.2}, true}));
  EXPECT_EQ(parse_aggregation("fedavg"), (AggregationSpec{{}, WeightedMean{}, true}));
  EXPECT_EQ(parse_aggregation("multi-krum(m=3)"), (AggregationSpec{{}, MultiKrum{0, 3}, true}));
  EXPECT_EQ(parse_aggregation("median()"), (AggregationSpec{{}, CoordinateMedian{}, true}));
  EXPECT_EQ(parse_aggregation("trimmed-mean(beta=0)"), (AggregationSpec{{}, TrimmedMean{0}, true}));
  EXPECT_EQ(parse_aggregation("centered-clipping(tau=2)"),
            (AggregationSpec{{}, CenteredClipping{2.0, 3}, true}));
}

TEST(RuleRegistry, RefusesUnknownNamesNamingTheKnownOnes) {
  const auto e = refusal("trimmed_mean(beta=0.2)");
  EXPECT_EQ(e.reason(), Reason::kUnknownName);
  EXPECT_EQ(e.step(), "trimmed_mean");
  EXPECT_NE(std::string(e.what()).find("trimmed-mean"), std::string::npos) << e.what();
  EXPECT_EQ(refusal("nnm(f=1) + nope").reason(), Reason::kUnknownName);
  EXPECT_EQ(refusal("nope + median").reason(), Reason::kUnknownName);
  // A rule is the last step, a pre-aggregation step is not.
  EXPECT_EQ(refusal("nnm(f=1)").reason(), Reason::kMisplaced);
  EXPECT_EQ(refusal("median + median").reason(), Reason::kMisplaced);
}

TEST(RuleRegistry, RefusesUnknownParametersNamingTheStepsOwn) {
  const auto e = refusal("trimmed-mean(f=2)");
  EXPECT_EQ(e.reason(), Reason::kUnknownParameter);
  EXPECT_EQ(e.step(), "trimmed-mean");
  EXPECT_EQ(e.parameter(), "f");
  EXPECT_NE(std::string(e.what()).find("its parameters: beta"), std::string::npos) << e.what();
  EXPECT_EQ(refusal("median(beta=0.1)").parameter(), "beta");
  EXPECT_EQ(refusal("bucketing(s=2, f=1) + median").parameter(), "f");
  // weighted-mean reads f with ARC only, bound with fixed clipping only.
  const auto not_read = refusal("weighted-mean(f=2)");
  EXPECT_EQ(not_read.reason(), Reason::kNotApplicable);
  EXPECT_NE(std::string(not_read.what()).find("clip=arc"), std::string::npos) << not_read.what();
  EXPECT_EQ(refusal("weighted-mean(clip=arc, bound=1)").reason(), Reason::kNotApplicable);
}

TEST(RuleRegistry, RefusesOutOfBoundValuesNamingTheBound) {
  struct Case {
    const char* text;
    const char* parameter;
    const char* bound;
    Reason reason;
  };
  for (const Case& c : std::vector<Case>{
           {"trimmed-mean(beta=0.5)", "beta", "beta [0, 0.5)", Reason::kOutOfBound},
           {"trimmed-mean(beta=-0.1)", "beta", "beta [0, 0.5)", Reason::kOutOfBound},
           {"trimmed-mean(beta=inf)", "beta", "beta [0, 0.5)", Reason::kOutOfBound},
           {"trimmed-mean(beta=nan)", "beta", "beta [0, 0.5)", Reason::kOutOfBound},
           {"multi-krum(f=1, m=0)", "m", "m >= 1", Reason::kOutOfBound},
           {"krum(f=-1)", "f", "f >= 0", Reason::kOutOfBound},
           {"krum(f=1.5)", "f", "f >= 0", Reason::kWrongType},
           {"krum(f=two)", "f", "f >= 0", Reason::kWrongType},
           {"centered-clipping(tau=0)", "tau", "tau > 0", Reason::kOutOfBound},
           {"centered-clipping(iters=0)", "iters", "iters >= 1", Reason::kOutOfBound},
           {"geometric-median(nu=0)", "nu", "nu > 0", Reason::kOutOfBound},
           {"geometric-median(tolerance=-1)", "tolerance", "tolerance >= 0", Reason::kOutOfBound},
           {"weighted-mean(clip=median)", "clip", "none | fixed | arc", Reason::kOutOfBound},
           {"weighted-mean(clip=1.5)", "clip", "none | fixed | arc", Reason::kWrongType},
           {"weighted-mean(clip=fixed)", "bound", "bound > 0", Reason::kOutOfBound},
           {"weighted-mean(clip=fixed, bound=0)", "bound", "bound > 0", Reason::kOutOfBound},
           {"bucketing(s=0) + median", "s", "s >= 1", Reason::kOutOfBound},
           {"bucketing(seed=18446744073709551616) + median", "", "too large", Reason::kSyntax},
       }) {
    const auto e = refusal(c.text);
    EXPECT_EQ(e.reason(), c.reason) << c.text << ": " << e.what();
    EXPECT_EQ(e.parameter(), c.parameter) << c.text;
    EXPECT_NE(std::string(e.what()).find(c.bound), std::string::npos) << c.text << ": " << e.what();
  }
}

TEST(RuleRegistry, RefusesTextOutsideTheGrammar) {
  for (const char* text : {"", "median(", "median)", "trimmed-mean(beta)", "trimmed-mean(beta=)",
                           "trimmed-mean(beta=0.1, beta=0.2)", "median +", "+ median",
                           "median median", "trimmed-mean(beta=0.1;)"}) {
    const auto e = refusal(text);
    EXPECT_EQ(e.reason(), Reason::kSyntax) << text << ": " << e.what();
  }
}

TEST(RuleRegistry, KindsAndCoefficients) {
  EXPECT_EQ(kind(WeightedMean{}), RuleKind::kLinear);
  EXPECT_EQ(kind(GeometricMedian{}), RuleKind::kLinear);
  EXPECT_EQ(kind(CenteredClipping{}), RuleKind::kLinear);
  EXPECT_EQ(kind(CoordinateMedian{}), RuleKind::kCoordinateWise);
  EXPECT_EQ(kind(TrimmedMean{}), RuleKind::kCoordinateWise);
  EXPECT_EQ(kind(MeaMed{}), RuleKind::kCoordinateWise);
  EXPECT_EQ(kind(Krum{}), RuleKind::kSelection);
  EXPECT_EQ(kind(MultiKrum{}), RuleKind::kSelection);
  EXPECT_EQ(kind(Bulyan{}), RuleKind::kSelection);
  EXPECT_TRUE(info(MultiKrum{}).coefficients);
  EXPECT_FALSE(info(Bulyan{}).coefficients);  // MeaMed over the chosen rows
  EXPECT_FALSE(info(TrimmedMean{}).coefficients);
  EXPECT_STREQ(to_string(RuleKind::kCoordinateWise), "coordinate-wise");
}

TEST(RuleRegistry, MakeRuleFromATable) {
  EXPECT_EQ(make_rule("multi-krum", {{"f", std::int64_t{2}}, {"m", std::int64_t{5}}}),
            Rule(MultiKrum{2, 5}));
  EXPECT_EQ(make_rule("trimmed-mean", {{"beta", std::int64_t{0}}}), Rule(TrimmedMean{0}));
  EXPECT_EQ(make_rule("weighted-mean", {{"clip", std::string("arc")}, {"f", std::int64_t{1}}}),
            Rule(WeightedMean{Clipping::kAdaptive, 0, 1}));
  // A shared table: what the rule does not read is skipped, what it reads is still checked.
  const Parameters shared = {{"f", std::int64_t{2}}, {"beta", 0.3}, {"tau", 0.5}};
  EXPECT_EQ(make_rule("median", shared, Unread::kIgnore), Rule(CoordinateMedian{}));
  EXPECT_EQ(make_rule("fedavg", shared, Unread::kIgnore), Rule(WeightedMean{}));
  EXPECT_EQ(make_rule("trimmed-mean", shared, Unread::kIgnore), Rule(TrimmedMean{0.3}));
  try {
    make_rule("trimmed-mean", {{"beta", 0.7}}, Unread::kIgnore);
    ADD_FAILURE() << "beta = 0.7 accepted";
  } catch (const SpecError& e) {
    EXPECT_EQ(e.parameter(), "beta");
  }
  EXPECT_THROW(make_rule("median", shared), SpecError);
}

TEST(RuleRegistry, AggregationTableReachesEveryRuleAndStep) {
  const auto make = [](std::string rule, Parameters p, bool nnm = false, std::uint64_t bucket = 1,
                       std::uint64_t seed = 0) {
    return make_aggregation(AggregationTable{std::move(rule), std::move(p), nnm, bucket, seed});
  };
  const Parameters legacy = {{"f", std::int64_t{2}},
                             {"beta", 0.2},
                             {"m", std::int64_t{5}},
                             {"tau", 1.0}};  // murmurd.example.toml's keys
  EXPECT_EQ(make("fedavg", legacy).rule, Rule(WeightedMean{}));
  EXPECT_EQ(make("median", legacy).rule, Rule(CoordinateMedian{}));
  EXPECT_EQ(make("trimmed-mean", legacy).rule, Rule(TrimmedMean{0.2}));
  EXPECT_EQ(make("meamed", legacy).rule, Rule(MeaMed{2}));
  EXPECT_EQ(make("krum", legacy).rule, Rule(Krum{2}));
  EXPECT_EQ(make("multi-krum", legacy).rule, Rule(MultiKrum{2, 5}));
  EXPECT_EQ(make("bulyan", legacy).rule, Rule(Bulyan{2}));
  EXPECT_EQ(make("geometric-median", legacy).rule, Rule(GeometricMedian{}));
  // murmurd ran centered clipping for 10 iterations before iters was a key.
  EXPECT_EQ(make("centered-clipping", legacy).rule, Rule(CenteredClipping{1.0, 10}));
  EXPECT_EQ(make("centered-clipping", {{"iters", std::int64_t{4}}}).rule,
            Rule(CenteredClipping{1.0, 4}));
  EXPECT_EQ(
      make("geometric-median", {{"nu", 1e-4}, {"iters", std::int64_t{20}}, {"tolerance", 1e-9}})
          .rule,
      Rule(GeometricMedian{1e-4, 20, 1e-9}));
  EXPECT_EQ(make("fedavg", {{"clip", std::string("arc")}, {"f", std::int64_t{2}}}).rule,
            Rule(WeightedMean{Clipping::kAdaptive, 0, 2}));
  EXPECT_EQ(make("fedavg", {{"clip", std::string("fixed")}, {"bound", 2.5}}).rule,
            Rule(WeightedMean{Clipping::kFixed, 2.5, 0}));
  // Pre-aggregation: NNM with the table's f, then bucketing.
  EXPECT_EQ(
      make("median", legacy, true, 3, 9),
      (AggregationSpec{{NearestNeighborMixing{2}, Bucketing{3, 9}}, CoordinateMedian{}, true}));
  EXPECT_TRUE(make("median", legacy, false, 1).pre.empty());
  // A full spec in `rule`.
  EXPECT_EQ(make("nnm(f=1) + trimmed-mean(beta=0.2)", {}),
            (AggregationSpec{{NearestNeighborMixing{1}}, TrimmedMean{0.2}, true}));
  const auto refused = [&](std::string rule, Parameters p, bool nnm, std::uint64_t bucket,
                           const std::string& key) {
    try {
      make(std::move(rule), std::move(p), nnm, bucket);
      ADD_FAILURE() << "accepted, expected a refusal of " << key;
    } catch (const SpecError& e) {
      EXPECT_EQ(e.parameter(), key) << e.what();
    }
  };
  refused("median(f=1)", {}, false, 1, "f");
  refused("trimmed-mean(beta=0.2)", {{"beta", 0.2}}, false, 1, "beta");
  refused("trimmed-mean(beta=0.2)", {}, true, 1, "nnm");
  refused("trimmed-mean(beta=0.2)", {}, false, 2, "bucket");
  refused("median", {{"gamma", 0.2}}, false, 1, "gamma");
  refused("median", {{"s", std::int64_t{2}}}, false, 1, "s");  // bucketing's: the key is bucket
  refused("trimmed-mean", {{"beta", 0.5}}, false, 1, "beta");
  refused("multi-krum", {{"m", std::int64_t{0}}}, false, 1, "m");
  refused("median", {{"f", -1.0}}, true, 1, "f");  // read by nnm
}

}  // namespace
}  // namespace murmur::kernels
