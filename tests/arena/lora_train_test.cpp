// train_lora (arena/src/train.cpp): its autograd decoder is the evaluator's decoder (the same
// losses before and after training, against evaluate_base and evaluate_merged), and a few Adam
// steps on data with structure lower the held-out loss, as the Arena demo's training nodes need.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "murmur/arena/base_model.hpp"
#include "murmur/arena/evaluate.hpp"
#include "murmur/arena/train.hpp"
#include "murmur/testing/tiny_llama.hpp"

namespace murmur::arena {
namespace {

/// The training forward against the evaluator's (both fp32 libtorch, different op order): the
/// mean loss over the set agrees within this relative tolerance.
constexpr double kTrainVsEval = 1e-5;

/// Sequences over 16 ids where the next id is the previous + 1 with probability 0.8.
EvalSet counting_set(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> any(0, 15);
  std::bernoulli_distribution follow(0.8);
  EvalSet set;
  for (std::size_t i = 0; i < count; ++i) {
    EvalSequence s;
    std::int64_t t = any(rng);
    for (std::size_t j = 0; j < 24; ++j) {
      if (j > 0) t = follow(rng) ? (t + 1) % 16 : any(rng);
      s.tokens.push_back(t);
      s.labels.push_back(j < 6 ? kIgnoreLabel : t);
    }
    set.sequences.push_back(std::move(s));
  }
  return set;
}

class LoraTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>("arena_train");
    testing::write_llama(testing::random_llama(testing::tiny_config(), 4242),
                         dir_->path() / "base");
    base_ = std::make_unique<BaseModel>(BaseModel::load(dir_->path() / "base"));
  }
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<BaseModel> base_;
};

TEST_F(LoraTrain, StepZeroIsTheBaseModel) {
  const EvalSet heldout = counting_set(6, 2);
  TrainOptions o;
  o.steps = 0;
  o.targets = {kAllProjections.begin(), kAllProjections.end()};
  const TrainResult r = train_lora(*base_, counting_set(8, 1), o);
  EXPECT_TRUE(r.step_losses.empty());
  ASSERT_EQ(r.adapter.modules.size(), 2 * kProjections);  // every projection of both layers
  for (const LoraModule& m : r.adapter.modules)
    for (float b : m.b) ASSERT_EQ(b, 0.0f);  // PEFT's B = 0
  const double base = evaluate_base(*base_, heldout, 4).mean_loss;
  EXPECT_NEAR(lora_mean_loss(*base_, r.adapter, heldout, 4), base, kTrainVsEval * base);
}

TEST_F(LoraTrain, FewStepsLowerTheHeldOutLossAndTheEvaluatorAgrees) {
  const EvalSet train = counting_set(48, 1), heldout = counting_set(8, 2);
  TrainOptions o;
  o.name = "counting";
  o.rank = 4;
  o.alpha = 8;
  o.targets = {Projection::kQ, Projection::kV, Projection::kO, Projection::kDown};
  o.steps = 30;
  o.learning_rate = 2e-2;
  const TrainResult r = train_lora(*base_, train, o);
  ASSERT_EQ(r.step_losses.size(), 30u);
  for (double l : r.step_losses) ASSERT_TRUE(std::isfinite(l));

  // Written and loaded back as PEFT files, scored by the evaluator's merged path.
  write_adapter(dir_->path() / "counting", r.adapter);
  const AdapterLoad loaded =
      load_adapter(dir_->path() / "counting", base_->config(), base_->name());
  ASSERT_TRUE(loaded.adapter) << loaded.reason;
  const double base = evaluate_base(*base_, heldout, 4).mean_loss;
  const AdapterScore merged = evaluate_merged(*base_, *loaded.adapter, heldout, 4);
  ASSERT_TRUE(merged.valid) << merged.reason;
  EXPECT_NEAR(lora_mean_loss(*base_, r.adapter, heldout, 4), merged.mean_loss,
              kTrainVsEval * merged.mean_loss);
  // A random base predicts ~uniformly over 256 ids (about ln 256 = 5.5 nats or worse); the
  // structure (16 ids, mostly counting) is worth more than a nat within 30 steps.
  EXPECT_LT(merged.mean_loss, base - 1.0) << "base " << base << ", trained " << merged.mean_loss;
}

TEST_F(LoraTrain, BadOptionsAreRefused) {
  const EvalSet train = counting_set(4, 1);
  TrainOptions o;
  o.rank = 0;
  EXPECT_THROW(train_lora(*base_, train, o), std::invalid_argument);
  o = {};
  o.targets.clear();
  EXPECT_THROW(train_lora(*base_, train, o), std::invalid_argument);
  o = {};
  o.batch_sequences = 0;
  EXPECT_THROW(train_lora(*base_, train, o), std::invalid_argument);
  EXPECT_THROW(train_lora(*base_, EvalSet{}, TrainOptions{}), std::invalid_argument);
}

}  // namespace
}  // namespace murmur::arena
