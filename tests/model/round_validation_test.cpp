// model/ round validation: the candidate set is exactly the documented formulas (checked
// through an evaluator that records what it is given), contributions have the meaning they
// claim on real data, non-finite updates poison exactly the candidates they enter, and the
// evaluator front checks lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/errors.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/round_validation.hpp"

namespace murmur::test {
namespace {

using model::CandidateScore;

/// Records every candidate it is given and scores candidate theta with loss = sum_j theta_j
/// (any function of the parameters does: what is checked is which vectors arrive).
class RecordingEvaluator final : public model::CandidateEvaluator {
 public:
  RecordingEvaluator(std::size_t p, std::size_t batch) : p_(p), batch_(batch) {}
  std::size_t parameters() const override { return p_; }
  std::size_t max_batch() const override { return batch_; }
  std::string describe() const override { return "recording evaluator"; }
  std::vector<CandidateScore> evaluate(std::span<const float> packed) override {
    const std::size_t k = model::candidate_count(packed.size(), p_, describe());
    EXPECT_LE(k, batch_);
    calls.push_back(k);
    std::vector<CandidateScore> out(k);
    for (std::size_t i = 0; i < k; ++i) {
      seen.emplace_back(packed.begin() + static_cast<std::ptrdiff_t>(i * p_),
                        packed.begin() + static_cast<std::ptrdiff_t>((i + 1) * p_));
      double sum = 0;
      for (float v : seen.back()) sum += v;
      out[i].mean_loss = sum;
      out[i].rows = 1;
    }
    return out;
  }
  std::vector<std::vector<float>> seen;
  std::vector<std::size_t> calls;

 private:
  std::size_t p_, batch_;
};

TEST(ValidateRound, CandidateSetIsTheDocumentedFormulas) {
  const std::size_t p = 4, n = 4;
  const std::vector<float> base = {1.0f, -2.0f, 0.5f, 3.0f};
  const std::vector<float> deltas = {0.1f,  0.2f,  -0.3f, 0.4f,  //
                                     -1.0f, 0.5f,  0.25f, 2.0f,  //
                                     7.0f,  7.0f,  7.0f,  7.0f,  // weight 0: enters no mean
                                     0.3f,  -0.6f, 1.5f,  -0.125f};
  const std::vector<double> w = {1.0, 3.0, 0.0, 2.0};
  RecordingEvaluator eval(p, 3);
  const model::RoundValidation r = model::validate_round(eval, base, {deltas.data(), n, p, p}, w);
  // Leaving out the weight-0 update leaves the mean as it is: that candidate is the global
  // model and is not built again, so 2N + 1 are evaluated.
  ASSERT_EQ(eval.seen.size(), 2 * n + 1);
  EXPECT_EQ(r.candidates, 2 * n + 1);
  EXPECT_EQ(eval.calls, (std::vector<std::size_t>{3, 3, 3}));
  EXPECT_EQ(r.passes, 3u);
  const auto mean = [&](std::size_t skip, std::size_t j) {
    double s = 0, total = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (i != skip) {
        s += w[i] * deltas[i * p + j];
        total += w[i];
      }
    return static_cast<float>(base[j] + s / total);
  };
  // Evaluated in order: previous, global, alone_0..3, without_0, without_1, without_3.
  const std::vector<std::size_t> without_at = {2 + n, 3 + n, 0, 4 + n};
  for (std::size_t j = 0; j < p; ++j) {
    EXPECT_EQ(eval.seen[0][j], base[j]);
    EXPECT_FLOAT_EQ(eval.seen[1][j], mean(n, j));
    EXPECT_EQ(r.global_parameters[j], eval.seen[1][j]);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(eval.seen[2 + i][j], base[j] + deltas[i * p + j]);
      if (i != 2) {
        EXPECT_FLOAT_EQ(eval.seen[without_at[i]][j], mean(i, j)) << "without " << i;
      }
    }
  }
  ASSERT_EQ(r.updates.size(), n);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(r.updates[i].contribution, r.updates[i].without.mean_loss - r.global.mean_loss);
  EXPECT_EQ(r.updates[2].without.mean_loss, r.global.mean_loss);
  EXPECT_EQ(r.updates[2].contribution, 0.0);
  EXPECT_EQ(r.previous.mean_loss, 1.0 - 2.0 + 0.5 + 3.0);
}

/// Scores like RecordingEvaluator but adds a different tiny amount by the candidate's position in
/// the batch and by the call, as a batched GEMM may round one row differently by where it sits.
class PositionRoundingEvaluator final : public model::CandidateEvaluator {
 public:
  PositionRoundingEvaluator(std::size_t p, std::size_t batch) : inner_(p, batch) {}
  std::size_t parameters() const override { return inner_.parameters(); }
  std::size_t max_batch() const override { return inner_.max_batch(); }
  std::string describe() const override { return "position-rounding evaluator"; }
  std::vector<CandidateScore> evaluate(std::span<const float> packed) override {
    auto out = inner_.evaluate(packed);
    ++calls_;
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i].mean_loss += 1e-9 * static_cast<double>(i + 1) * static_cast<double>(calls_);
    return out;
  }

 private:
  RecordingEvaluator inner_;
  std::size_t calls_ = 0;
};

/// The record's identities hold by construction, not by the evaluator rounding two copies of one
/// model alike: a rejected (weight 0) update contributes exactly 0, with two weighted updates each
/// one's leave-one-out is the other alone, and a lone update's leave-one-out is the base model.
TEST(ValidateRound, IdentitiesHoldWhateverTheEvaluatorRounds) {
  const std::size_t p = 3;
  const std::vector<float> base = {0.25f, -1.0f, 2.0f};
  const std::vector<float> deltas = {0.5f,  0.125f, -0.75f,  //
                                     -0.5f, 1.0f,   0.375f,  //
                                     9.0f,  -9.0f,  9.0f};
  for (const std::size_t batch : {1u, 2u, 3u, 64u}) {
    PositionRoundingEvaluator eval(p, batch);
    const auto r = model::validate_round(eval, base, {deltas.data(), 3, p, p},
                                         std::vector<double>{2.0, 1.0, 0.0});
    EXPECT_EQ(r.updates[2].contribution, 0.0) << "batch " << batch;
    EXPECT_EQ(r.updates[0].without.mean_loss, r.updates[1].alone.mean_loss) << "batch " << batch;
    EXPECT_EQ(r.updates[1].without.mean_loss, r.updates[0].alone.mean_loss) << "batch " << batch;
    EXPECT_EQ(r.candidates, 5u);  // previous, global, three alone

    PositionRoundingEvaluator lone(p, batch);
    const auto one = model::validate_round(lone, base, {deltas.data(), 3, p, p},
                                           std::vector<double>{0.0, 4.0, 0.0});
    EXPECT_EQ(one.updates[1].without.mean_loss, one.previous.mean_loss) << "batch " << batch;
    EXPECT_EQ(one.updates[0].contribution, 0.0);
    EXPECT_EQ(one.updates[2].contribution, 0.0);
  }
  // With a non-finite row the weight-0 identity still holds for a finite rejected row; the
  // non-finite row's own leave-one-out is built without it.
  std::vector<float> bad = deltas;
  bad[1] = std::numeric_limits<float>::infinity();
  PositionRoundingEvaluator eval(p, 2);
  const auto r =
      model::validate_round(eval, base, {bad.data(), 3, p, p}, std::vector<double>{1.0, 1.0, 0.0});
  // (This evaluator scores sum(theta): +Inf wherever the Inf row entered.)
  EXPECT_FALSE(std::isfinite(r.global.mean_loss));
  EXPECT_TRUE(std::isfinite(r.updates[0].without.mean_loss));
  EXPECT_FALSE(std::isfinite(r.updates[1].without.mean_loss));
  EXPECT_FALSE(std::isfinite(r.updates[2].without.mean_loss));
}

TEST(ValidateRound, RowsReadThroughARowSourceGiveTheSameCandidates) {
  const std::size_t p = 5, n = 4;
  const std::vector<float> base = {0.5f, -1.0f, 2.0f, 0.0f, 1.5f};
  std::vector<float> deltas(n * p);
  for (std::size_t k = 0; k < deltas.size(); ++k)
    deltas[k] = static_cast<float>(static_cast<int>(k * 7 % 11) - 5) * 0.125f;
  const std::vector<double> w = {2.0, 1.0, 0.5, 3.0};
  RecordingEvaluator resident(p, 3), streamed(p, 3);
  const auto a = model::validate_round(resident, base, {deltas.data(), n, p, p}, w);
  const StreamedRows rows(deltas, n, p);
  const auto b = model::validate_round(streamed, base, rows, w);
  ASSERT_EQ(resident.seen.size(), 2 * n + 2);
  EXPECT_EQ(resident.seen, streamed.seen);  // bit for bit
  EXPECT_EQ(a.global_parameters, b.global_parameters);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(a.updates[i].contribution, b.updates[i].contribution);
  // One read per row for S, one for the finiteness check, one each for alone_i and without_i.
  EXPECT_EQ(rows.reads, 4 * n);
  RecordingEvaluator wrong(p + 1, 3);
  EXPECT_THROW(model::validate_round(wrong, std::vector<float>(p + 1), rows, w), model::ModelError);
}

TEST(ValidateRound, OneUpdateLeftOutIsTheBaseModel) {
  const std::vector<float> base = {1, 2, 3}, delta = {0.5f, -1, 2};
  RecordingEvaluator eval(3, 64);
  const std::vector<double> w = {10.0};
  const auto r = model::validate_round(eval, base, {delta.data(), 1, 3, 3}, w);
  // Without the only update the model is the base: scored once, as previous.
  ASSERT_EQ(eval.seen.size(), 3u);
  EXPECT_EQ(eval.seen[0], base);
  EXPECT_EQ(eval.seen[1], eval.seen[2]);  // global = base + delta when it is the only update
  EXPECT_EQ(r.updates[0].without.mean_loss, r.previous.mean_loss);
  EXPECT_EQ(r.passes, 1u);
}

TEST(ValidateRound, RejectsBadArguments) {
  RecordingEvaluator eval(3, 8);
  const std::vector<float> base = {1, 2, 3}, deltas = {1, 2, 3, 4, 5, 6};
  const std::vector<double> w = {1, 1};
  EXPECT_THROW(model::validate_round(eval, std::vector<float>{1, 2}, {deltas.data(), 2, 3, 3}, w),
               model::ModelError);
  EXPECT_THROW(
      model::validate_round(eval, base, {deltas.data(), 3, 2, 2}, std::vector<double>{1, 1, 1}),
      model::ModelError);
  EXPECT_THROW(model::validate_round(eval, base, {deltas.data(), 0, 3, 3}, {}),
               std::invalid_argument);
  EXPECT_THROW(model::validate_round(eval, base, {deltas.data(), 2, 3, 3}, std::vector<double>{1}),
               std::invalid_argument);
  EXPECT_THROW(
      model::validate_round(eval, base, {deltas.data(), 2, 3, 3}, std::vector<double>{1, -1}),
      std::invalid_argument);
  EXPECT_THROW(
      model::validate_round(eval, base, {deltas.data(), 2, 3, 3}, std::vector<double>{0, 0}),
      std::invalid_argument);
  EXPECT_THROW(
      model::validate_round(eval, base, {deltas.data(), 2, 3, 3},
                            std::vector<double>{1, std::numeric_limits<double>::quiet_NaN()}),
      std::invalid_argument);
  EXPECT_TRUE(eval.seen.empty());
}

/// On Fashion-MNIST's test set, with every candidate a multiple of the nearest-centroid
/// classifier c (W and b are linear in its scale): base = 0.05 c, update 0 moves it to 0.3 c
/// (helpful), update 1 to -0.3 c (turns the classifier around). The global mean is then 0 c,
/// which predicts uniformly (loss ln 10); leaving out the helpful update leaves -0.3 c (worse:
/// positive contribution), leaving out the harmful one leaves 0.3 c (better: negative).
TEST(ValidateRound, ContributionsOnRealData) {
  const auto base = nearest_centroid(fashion_train(), 0.05);
  const auto good = nearest_centroid(fashion_train(), 0.3);
  const auto bad = nearest_centroid(fashion_train(), -0.3);
  const std::size_t p = base.size();
  std::vector<float> deltas(2 * p);
  for (std::size_t j = 0; j < p; ++j) {
    deltas[j] = good[j] - base[j];
    deltas[p + j] = bad[j] - base[j];
  }
  auto cpu = kernels::make_cpu_backend(2);
  model::BatchedMlpEvaluator eval(*cpu, model::MlpShape{{784, 10}}, fashion_test());
  const auto r =
      model::validate_round(eval, base, {deltas.data(), 2, p, p}, std::vector<double>{1, 1});
  ASSERT_TRUE(r.previous.valid() && r.global.valid());
  EXPECT_GT(r.previous.accuracy, 0.6);  // the centroid classifier really classifies
  EXPECT_GT(r.updates[0].alone.accuracy, 0.6);
  EXPECT_LT(r.updates[1].alone.accuracy, 0.1);
  EXPECT_NEAR(r.global.mean_loss, std::log(10.0), 1e-3);
  EXPECT_LT(r.updates[0].alone.mean_loss, std::log(10.0));
  EXPECT_GT(r.updates[0].contribution, 0.0) << "removing the helpful update made things worse";
  EXPECT_LT(r.updates[1].contribution, 0.0) << "removing the harmful update made things better";
  EXPECT_EQ(r.updates[0].without.mean_loss, r.updates[1].alone.mean_loss);
  EXPECT_EQ(r.updates[1].without.mean_loss, r.updates[0].alone.mean_loss);
}

/// A NaN in update 1 reaches the global model, update 1 alone and every leave-one-out mean
/// but its own; those are marked, the rest are scored.
TEST(ValidateRound, NonFiniteUpdatePoisonsOnlyTheCandidatesItEnters) {
  const auto base = nearest_centroid(fashion_train(), 0.5);
  const std::size_t p = base.size();
  std::vector<float> deltas(3 * p, 0.01f);
  deltas[p + 123] = std::numeric_limits<float>::quiet_NaN();
  auto cpu = kernels::make_cpu_backend(2);
  model::BatchedMlpEvaluator eval(*cpu, model::MlpShape{{784, 10}}, fashion_test(), 4);
  const auto r =
      model::validate_round(eval, base, {deltas.data(), 3, p, p}, std::vector<double>{1, 2, 3});
  const auto bad = model::CandidateStatus::kNonFiniteParameters;
  EXPECT_TRUE(r.previous.valid());
  EXPECT_EQ(r.global.status, bad);
  EXPECT_TRUE(r.updates[0].alone.valid());
  EXPECT_EQ(r.updates[1].alone.status, bad);
  EXPECT_TRUE(r.updates[2].alone.valid());
  EXPECT_EQ(r.updates[0].without.status, bad);
  EXPECT_TRUE(r.updates[1].without.valid());
  EXPECT_EQ(r.updates[2].without.status, bad);
  for (const auto& u : r.updates) EXPECT_TRUE(std::isnan(u.contribution));
  EXPECT_EQ(r.passes, 2u);  // 8 candidates, 4 at a time
}

TEST(BatchedMlpEvaluator, ChecksLengthsAndData) {
  auto cpu = kernels::make_cpu_backend(1);
  const model::MlpShape shape{{784, 10}};
  model::BatchedMlpEvaluator eval(*cpu, shape, fashion_test());
  EXPECT_EQ(eval.parameters(), 7850u);
  try {
    eval.evaluate(std::vector<float>(7850 * 2 + 1, 0.0f));
    ADD_FAILURE() << "a ragged candidate matrix was accepted";
  } catch (const model::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("15701 floats"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("7850 parameters"), std::string::npos) << e.what();
  }
  try {
    model::stack_candidates(eval, {std::vector<float>(7850), std::vector<float>(7849)});
    ADD_FAILURE() << "a short candidate was stacked";
  } catch (const model::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("candidate 1 has 7849 parameters"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(model::check_parameter_count(shape, 7851, "update 3"), model::ModelError);
  EXPECT_THROW(model::BatchedMlpEvaluator(*cpu, model::MlpShape{{100, 10}}, fashion_test()),
               model::ModelError);
  EXPECT_THROW(model::BatchedMlpEvaluator(*cpu, model::MlpShape{{784, 5}}, fashion_test()),
               model::ModelError);
  EXPECT_THROW(model::parse_mlp_shape("784-x-10"), model::ModelError);
  EXPECT_THROW(model::parse_mlp_shape("784"), model::ModelError);
  EXPECT_EQ(model::parse_mlp_shape("784-128-10").widths, (std::vector<std::size_t>{784, 128, 10}));
  // All zeros: every class equally likely, loss log 10.
  const auto s = eval.evaluate(std::vector<float>(7850, 0.0f));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_NEAR(s[0].mean_loss, std::log(10.0), 1e-6);
}

}  // namespace
}  // namespace murmur::test
