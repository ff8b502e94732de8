// The round record's pieces without a network: which updates are flagged under each kind of
// rule, which weights the leave-one-out means use, and the spool's record tables (including a
// state.db written before they existed).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <limits>

#include "integration/network.hpp"
#include "murmur/kernels/aggregate.hpp"
#include "round_record.hpp"
#include "round_validator.hpp"
#include "state_store.hpp"

namespace murmur::testing {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

kernels::RowDiagnostic row(kernels::Verdict v, double weight, double score) {
  kernels::RowDiagnostic d;
  d.verdict = v;
  d.weight = weight;
  d.score = score;
  return d;
}

TEST(RoundRecord, FlagsFollowTheRuleKind) {
  using kernels::Verdict;
  const auto spec = [](kernels::Rule r) { return kernels::AggregationSpec{{}, r, true}; };
  // Any rule: what it left out is rejected.
  EXPECT_EQ(server::flag_of(spec(kernels::MultiKrum{1, 3}), row(Verdict::kRejectedByRule, 0, 5), 2),
            "rejected");
  EXPECT_EQ(server::flag_of(spec(kernels::WeightedMean{}),
                            row(Verdict::kRejectedNonFinite, kNaN, kNaN), 2),
            "rejected");
  EXPECT_EQ(server::flag_of(spec(kernels::MultiKrum{1, 3}), row(Verdict::kKept, 1.0 / 3, 1e9), 2),
            "");
  // Coordinate-wise rules: score = distance / median distance.
  EXPECT_EQ(server::flag_of(spec(kernels::CoordinateMedian{}), row(Verdict::kKept, kNaN, 2.5), 2),
            "outlier");
  EXPECT_EQ(server::flag_of(spec(kernels::TrimmedMean{0.1}), row(Verdict::kKept, kNaN, 1.9), 2),
            "");
  // Clipping rules: score = the factor the row was scaled by.
  EXPECT_EQ(
      server::flag_of(spec(kernels::CenteredClipping{1.0, 3}), row(Verdict::kKept, 0.1, 0.3), 2),
      "downweighted");
  EXPECT_EQ(server::flag_of(spec(kernels::GeometricMedian{}), row(Verdict::kKept, 0.2, 0.6), 2),
            "");
  EXPECT_EQ(server::flag_of(spec(kernels::WeightedMean{}), row(Verdict::kKept, 0.25, 1.0), 2), "");
}

TEST(RoundRecord, ContributionWeightsAreTheRulesCoefficientsWhenItHasThem) {
  using kernels::Verdict;
  const std::vector<double> samples = {10, 20, 30};
  kernels::AggregationReport krum;
  krum.rows = {row(Verdict::kKept, 0.5, 1), row(Verdict::kRejectedByRule, 0, 9),
               row(Verdict::kKept, 0.5, 2)};
  const auto [w, kind] = server::contribution_weights(krum, samples);
  EXPECT_EQ(kind, server::ContributionWeights::kRule);
  EXPECT_EQ(w, (std::vector<double>{0.5, 0.0, 0.5}));
  kernels::AggregationReport median;
  median.rows = {row(Verdict::kKept, kNaN, 1), row(Verdict::kKept, kNaN, 3),
                 row(Verdict::kKept, kNaN, 0.5)};
  const auto [w2, kind2] = server::contribution_weights(median, samples);
  EXPECT_EQ(kind2, server::ContributionWeights::kSamples);
  EXPECT_EQ(w2, samples);
  EXPECT_STREQ(server::to_string(kind2), "samples");
}

TEST(RoundRecord, SpoolKeepsTheRecordAndUpgradesAnOlderStateDb) {
  TempDir dir("murmur-round-record");
  {  // a state.db as murmurd wrote it before the round record existed
    std::filesystem::create_directories(dir.path());
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "state.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE diagnostics(round INTEGER, address TEXT, verdict TEXT,"
                           " weight REAL, score REAL, distance REAL, PRIMARY KEY(round, address));"
                           "CREATE TABLE round_state(id INTEGER PRIMARY KEY CHECK (id = 1), round "
                           "INTEGER, stage INTEGER, deadline INTEGER, global_model TEXT,"
                           " candidate_model TEXT);"
                           "INSERT INTO diagnostics VALUES (1, "
                           "'0x00000000000000000000000000000000000000aa', 'kept', 0.5, 1, 2);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  server::StateStore store(dir.path());
  const auto a = chain::Address::from_hex("0x00000000000000000000000000000000000000aa");
  const auto b = chain::Address::from_hex("0x00000000000000000000000000000000000000bb");
  store.record_diagnostic(2, a, "kept", 0.5, 1.0, 0.1, "");
  store.record_diagnostic(2, b, "rejected by rule", 0.0, 7.0, 3.0, "rejected");
  server::UpdateValidation va;
  va.alone_status = "scored";
  va.alone_loss = 0.9;
  va.alone_accuracy = 0.7;
  va.without_loss = 1.2;
  va.without_accuracy = 0.6;
  va.contribution = 0.2;
  store.record_update_validation(2, a, va);
  server::RoundValidationRecord v;
  v.previous_loss = 2.3;
  v.candidate_loss = 1.0;
  v.candidate_accuracy = 0.65;  // previous_accuracy stays NaN: stored as NULL, read as NaN
  v.candidate_status = "scored";
  v.rows = 100;
  v.weights = "rule";
  v.candidates = 6;
  chain::Hash32 base{}, candidate{};
  base[0] = 1;
  candidate[31] = 2;
  store.record_aggregation(2, 2, "multi-krum(f=0, m=1)", base, candidate, 0.25, v);
  server::RoundDecision d;
  d.outcome = server::RoundOutcome::kRejected;
  d.reason = "rejected: stake for 1, against 3 (2 votes)";
  d.stake_for = 1;
  d.stake_against = 3;
  d.votes = 2;
  d.votes_for = d.votes_against = 1;
  store.record_decision(2, d);

  EXPECT_FALSE(store.round_record(3).has_value());
  EXPECT_EQ(store.recorded_rounds(), std::vector<std::uint64_t>{2});
  const auto r = store.round_record(2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->update_count, 2u);
  EXPECT_EQ(r->rule, "multi-krum(f=0, m=1)");
  EXPECT_EQ(r->base_model, base);
  EXPECT_EQ(r->candidate_model, candidate);
  EXPECT_EQ(r->aggregation_seconds, 0.25);
  ASSERT_TRUE(r->validation && r->decision);
  EXPECT_TRUE(std::isnan(r->validation->previous_accuracy));
  EXPECT_EQ(r->validation->candidate_loss, 1.0);
  EXPECT_EQ(r->validation->weights, "rule");
  EXPECT_EQ(r->decision->outcome, server::RoundOutcome::kRejected);
  EXPECT_EQ(r->decision->reason, d.reason);
  EXPECT_EQ(r->decision->stake_against, chain::U256(3));
  EXPECT_FALSE(r->posting.has_value());
  ASSERT_EQ(r->updates.size(), 2u);
  EXPECT_EQ(r->updates[0].address, a);
  EXPECT_EQ(r->updates[0].validation.contribution, 0.2);
  EXPECT_EQ(r->updates[0].validation.alone_status, "scored");
  EXPECT_EQ(r->updates[1].flag, "rejected");
  EXPECT_TRUE(std::isnan(r->updates[1].validation.contribution));
  EXPECT_EQ(r->flagged(), std::vector<chain::Address>{b});

  server::RoundPosting p;
  p.state = "finalized";
  p.tx[0] = 0xab;
  p.block = 42;
  store.record_posting(2, p);
  const auto posted = store.round_record(2);
  ASSERT_TRUE(posted && posted->posting);
  EXPECT_EQ(posted->posting->state, "finalized");
  EXPECT_EQ(posted->posting->tx, p.tx);
  EXPECT_EQ(posted->posting->block, 42u);
}

}  // namespace
}  // namespace murmur::testing
