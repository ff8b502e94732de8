// The voters' per-update judgement (client/objections.hpp), shared by the simulator's voters and
// murmur node's: the probe model's arithmetic, the reference (the voter's median update over
// distinct updates, or no change) and the objection threshold, on losses given by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "murmur/chain/median_settlement.hpp"
#include "murmur/client/objections.hpp"

namespace murmur::client {
namespace {

TEST(Objections, ProbeIsTheUpdateAtScaleOverPOfItsSize) {
  const std::vector<float> global = {1.0f, -2.0f, 0.5f};
  const std::vector<float> update = {4.0f, 8.0f, -1.0f};
  const auto p = objection_probe(global, update, 3.0, 4);  // share 0.75
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], 4.0f);
  EXPECT_EQ(p[1], 4.0f);
  EXPECT_EQ(p[2], -0.25f);
  EXPECT_THROW(objection_probe(global, std::vector<float>{1.0f}, 3.0, 4), std::invalid_argument);
  EXPECT_THROW(objection_probe(global, update, 3.0, 0), std::invalid_argument);
}

TEST(Objections, AnUpdateFarBelowTheVotersMedianUpdateIsObjectedTo) {
  ObjectionRule rule;  // 1200 bps below the median of distinct updates
  // Loss 1.0 before; updates at 0.8, 0.82, 0.79 (+2000, +1800, +2100 bps) and 1.5 (-5000 bps).
  const std::vector<double> loss = {0.8, 0.82, 0.79, 1.5};
  const auto j = judge_updates(1.0, loss, {}, rule);
  EXPECT_EQ(j.scores, (std::vector<int>{2000, 1800, 2100, -5000}));
  EXPECT_EQ(j.reference, 1800);  // sorted -5000, 1800, 2000, 2100: the lower middle
  EXPECT_EQ(j.objects, (std::vector<bool>{false, false, false, true}));
  // 1200 below the reference is not enough; one more bps is.
  const auto edge = judge_updates(1.0, std::vector<double>{0.8, 0.8, 0.92, 0.9201}, {}, rule);
  EXPECT_EQ(edge.scores, (std::vector<int>{2000, 2000, 800, 799}));
  EXPECT_EQ(edge.reference, 800);
  EXPECT_EQ(edge.objects, (std::vector<bool>{false, false, false, false}));
  rule.objection_bps = 0;
  EXPECT_EQ(judge_updates(1.0, std::vector<double>{0.8, 0.8, 0.92, 0.9201}, {}, rule).objects,
            (std::vector<bool>{false, false, false, true}));
}

TEST(Objections, CopiesCountOnceInTheMedianAndANanLossIsTheWorst) {
  ObjectionRule rule;
  // Three copies of a harmful update would be the median; counted once, the honest one is.
  const std::vector<double> loss = {0.8, 0.85, 1.5, 1.5, 1.5};
  const std::vector<bool> copy = {false, false, false, true, true};
  const auto distinct = judge_updates(1.0, loss, copy, rule);
  EXPECT_EQ(distinct.reference, 1500);  // of 2000, 1500, -5000
  EXPECT_EQ(distinct.objects, (std::vector<bool>{false, false, true, true, true}));
  rule.median_distinct = false;
  const auto counted = judge_updates(1.0, loss, copy, rule);
  EXPECT_EQ(counted.reference, -5000);
  EXPECT_EQ(counted.objects, (std::vector<bool>(5, false)));
  // Against no change: every update that raises the loss by more than 12 %.
  rule.relative = false;
  const auto absolute = judge_updates(
      1.0, std::vector<double>{1.1, 1.13, std::numeric_limits<double>::quiet_NaN()}, {}, rule);
  EXPECT_EQ(absolute.reference, 0);
  EXPECT_EQ(absolute.scores[2], chain::kMinScore);
  EXPECT_EQ(absolute.objects, (std::vector<bool>{false, true, true}));
}

}  // namespace
}  // namespace murmur::client
