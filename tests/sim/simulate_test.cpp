// The simulator's pieces that need no server: the Dirichlet split, the attacks' arithmetic, the
// initial model, libtorch local training, prevrandao search against the contract's role formula,
// token formatting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "murmur/chain/consensus.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/mlp_spec.hpp"
#include "murmur/sim/simulate_attacks.hpp"
#include "murmur/sim/simulate_chain.hpp"
#include "murmur/sim/simulate_data.hpp"
#include "murmur/sim/simulate_train.hpp"

namespace murmur::sim {
namespace {

constexpr std::uint64_t kSeed = 20240611;

/// 10 classes, `per_class` rows each, label-major.
std::vector<std::int32_t> labels(std::size_t per_class) {
  std::vector<std::int32_t> y;
  for (int c = 0; c < 10; ++c) y.insert(y.end(), per_class, c);
  return y;
}

/// Mean over nodes of the largest class's share of the node's rows.
double mean_top_share(const std::vector<NodeShare>& shares, const std::vector<std::int32_t>& y) {
  double sum = 0;
  for (const auto& s : shares) {
    std::vector<std::uint32_t> all = s.train;
    all.insert(all.end(), s.holdout.begin(), s.holdout.end());
    const auto counts = class_counts(y, all, 10);
    sum += static_cast<double>(*std::max_element(counts.begin(), counts.end())) /
           static_cast<double>(all.size());
  }
  return sum / static_cast<double>(shares.size());
}

TEST(DirichletSplit, EveryPoolRowGoesToExactlyOneNodeAndHeldOutSharesAreKept) {
  const auto y = labels(500);
  const auto pool = sample_rows(y.size(), 4000, kSeed);
  ASSERT_EQ(pool.size(), 4000u);
  const auto shares = dirichlet_split(y, pool, 10, 12, 0.5, 0.1, 20, kSeed);
  ASSERT_EQ(shares.size(), 12u);
  std::multiset<std::uint32_t> seen;
  for (const auto& s : shares) {
    EXPECT_GE(s.train.size() + s.holdout.size(), 20u) << "seed " << kSeed;
    EXPECT_EQ(s.holdout.size(), (s.train.size() + s.holdout.size()) / 10);
    seen.insert(s.train.begin(), s.train.end());
    seen.insert(s.holdout.begin(), s.holdout.end());
  }
  EXPECT_EQ(seen, std::multiset<std::uint32_t>(pool.begin(), pool.end()));
}

TEST(DirichletSplit, SameSeedSameSplitAndSmallAlphaConcentratesClasses) {
  const auto y = labels(300);
  std::vector<std::uint32_t> pool(y.size());
  std::iota(pool.begin(), pool.end(), 0);
  const auto a = dirichlet_split(y, pool, 10, 10, 0.1, 0.1, 5, kSeed);
  const auto b = dirichlet_split(y, pool, 10, 10, 0.1, 0.1, 5, kSeed);
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].train, b[k].train);
    EXPECT_EQ(a[k].holdout, b[k].holdout);
  }
  EXPECT_NE(dirichlet_split(y, pool, 10, 10, 0.1, 0.1, 5, kSeed + 1)[0].train, a[0].train);
  // IID-like (alpha = 100): the top class holds ~10-20% of a node's rows; alpha = 0.1: most.
  const double skewed = mean_top_share(a, y);
  const double even = mean_top_share(dirichlet_split(y, pool, 10, 10, 100.0, 0.1, 5, kSeed), y);
  EXPECT_GT(skewed, 0.5);
  EXPECT_LT(even, 0.25);
}

TEST(DirichletSplit, RefusesWhatCannotWork) {
  const auto y = labels(10);
  std::vector<std::uint32_t> pool(y.size());
  std::iota(pool.begin(), pool.end(), 0);
  EXPECT_THROW(dirichlet_split(y, pool, 10, 4, 0.0, 0.1, 1, kSeed), std::invalid_argument);
  EXPECT_THROW(dirichlet_split(y, pool, 10, 4, 0.5, 1.0, 1, kSeed), std::invalid_argument);
  EXPECT_THROW(dirichlet_split(y, pool, 10, 50, 0.5, 0.1, 10, kSeed),
               std::invalid_argument);  // 100 rows
  auto bad = y;
  bad[3] = 10;
  EXPECT_THROW(dirichlet_split(bad, pool, 10, 4, 0.5, 0.1, 1, kSeed), std::invalid_argument);
}

TEST(Attacks, NamesRoundTripAndUnknownNamesAreListed) {
  for (Attack a : all_attacks()) EXPECT_EQ(parse_attack(attack_name(a)), a);
  EXPECT_EQ(all_attacks().size(), 7u);
  try {
    parse_attack("bitflip");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sign-flip"), std::string::npos);
  }
}

TEST(Attacks, AlieZMatchesBaruchEtAl) {
  // n = 25, f = 5: s = floor(13.5) - 5 = 8, Phi^-1(17/25 = 0.68) = 0.46770.
  EXPECT_NEAR(alie_z(25, 5), 0.467699, 1e-5);
  // n = 50, f = 10: s = 16, Phi^-1(34/50 = 0.68) again.
  EXPECT_NEAR(alie_z(50, 10), 0.467699, 1e-5);
  // n = 10, f = 0: s = 6, p = 0.4 < 0.5: z clamps to 0.
  EXPECT_EQ(alie_z(10, 0), 0.0);
  EXPECT_THROW(alie_z(5, 5), std::invalid_argument);
}

TEST(Attacks, EveryUpdateIsTheDocumentedFunctionOfItsInputs) {
  const std::vector<float> own = {0.5f, -1.0f, 2.0f};
  const std::vector<std::vector<float>> honest = {{1, 2, 3}, {3, 2, 1}, {2, 2, 2}};
  AttackParams p;
  p.sign_flip_scale = 4;
  p.ipm_epsilon = 0.5;
  p.alie_z = 1.5;
  EXPECT_EQ(byzantine_update(Attack::kSignFlip, p, 3, own, honest, 5, 1, 1),
            (std::vector<float>{-2, 4, -8}));
  EXPECT_EQ(byzantine_update(Attack::kLabelFlip, p, 3, own, honest, 5, 1, 1), own);
  EXPECT_EQ(byzantine_update(Attack::kFreeRide, p, 3, own, honest, 5, 1, 1),
            (std::vector<float>{0, 0, 0}));
  // mu = (2, 2, 2); IPM: -0.5 mu.
  EXPECT_EQ(byzantine_update(Attack::kIpm, p, 3, {}, honest, 5, 1, 1),
            (std::vector<float>{-1, -1, -1}));
  // sigma (population) = (sqrt(2/3), 0, sqrt(2/3)); ALIE: mu - 1.5 sigma.
  const auto alie = byzantine_update(Attack::kAlie, p, 3, {}, honest, 5, 1, 1);
  EXPECT_FLOAT_EQ(alie[0], static_cast<float>(2 - 1.5 * std::sqrt(2.0 / 3)));
  EXPECT_FLOAT_EQ(alie[1], 2.0f);
  EXPECT_FLOAT_EQ(alie[2], alie[0]);
  const auto bad = byzantine_update(Attack::kNonFinite, p, 1000, {}, honest, 5, 1, 7);
  EXPECT_TRUE(std::any_of(bad.begin(), bad.end(), [](float v) { return std::isnan(v); }));
  EXPECT_TRUE(std::any_of(bad.begin(), bad.end(), [](float v) { return std::isinf(v); }));
  EXPECT_THROW(byzantine_update(Attack::kSignFlip, p, 3, {}, honest, 5, 1, 1),
               std::invalid_argument);
}

TEST(Attacks, GaussianNoiseHasTheRequestedSpreadAndFollowsItsSeed) {
  AttackParams p;
  p.noise_std = 0.3;
  const auto a = byzantine_update(Attack::kGaussianNoise, p, 200000, {}, {}, 5, 1, 11);
  double sum = 0, sq = 0;
  for (float v : a) sum += v, sq += static_cast<double>(v) * v;
  const double mean = sum / a.size(), sd = std::sqrt(sq / a.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(sd, 0.3, 0.005);
  EXPECT_EQ(a, byzantine_update(Attack::kGaussianNoise, p, 200000, {}, {}, 5, 1, 11));
  EXPECT_NE(a, byzantine_update(Attack::kGaussianNoise, p, 200000, {}, {}, 5, 1, 12));
}

TEST(InitialModel, LayersDrawWithinLibtorchsBoundsAndFollowTheSeed) {
  const auto shape = model::parse_mlp_shape("784-64-10");
  const auto w = initial_model(shape, 5);
  ASSERT_EQ(w.size(), shape.parameters());
  for (std::size_t l = 0; l < shape.layers(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(shape.in(l)));
    float lo = 0, hi = 0;
    for (std::size_t i = shape.weight_offset(l); i < shape.bias_offset(l) + shape.out(l); ++i) {
      lo = std::min(lo, w[i]);
      hi = std::max(hi, w[i]);
    }
    EXPECT_LE(hi, bound);
    EXPECT_GE(lo, -bound);
    EXPECT_GT(hi, 0.9 * bound) << "layer " << l << " does not use its range";
  }
  EXPECT_EQ(w, initial_model(shape, 5));
  EXPECT_NE(w, initial_model(shape, 6));
}

TEST(LocalTraining, LowersTheNodesLossIsDeterministicAndLabelFlippingDiffers) {
  const auto train = model::load_fashion_mnist(model::FashionMnistSplit::kTrain);
  const auto shape = model::parse_mlp_shape("784-32-10");
  const auto global = initial_model(shape, 3);
  const auto rows = sample_rows(train.rows(), 1000, kSeed);
  use_single_threaded_torch();
  const LocalTraining t{1, 32, 0.1};
  const auto delta = train_local(shape, global, train, rows, t, 9);
  ASSERT_EQ(delta.size(), shape.parameters());
  EXPECT_EQ(delta, train_local(shape, global, train, rows, t, 9));
  EXPECT_NE(delta, train_local(shape, global, train, rows, t, 10));
  const auto flipped = train_local(shape, global, train, rows, t, 9, true);

  auto backend = kernels::make_cpu_backend();
  const auto local = subset(train, rows);
  model::BatchedMlpEvaluator eval(*backend, shape, local, 3);
  std::vector<float> packed = global;
  for (const auto* d : {&delta, &flipped})
    for (std::size_t j = 0; j < global.size(); ++j) packed.push_back(global[j] + (*d)[j]);
  const auto s = eval.evaluate(packed);
  EXPECT_LT(s[1].mean_loss, s[0].mean_loss - 0.5) << "one epoch should cut the loss from ~2.3";
  EXPECT_GT(s[1].accuracy, 0.5);
  EXPECT_LT(s[2].accuracy, 0.2) << "trained on labels 9 - y, it predicts the wrong classes";
}

TEST(ChainRoles, FindPrevrandaoGivesEveryNodeItsRoleByTheContractsFormula) {
  std::mt19937_64 rng(kSeed);
  std::vector<chain::Address> nodes(10);
  for (auto& a : nodes)
    for (auto& b : a.bytes) b = static_cast<std::uint8_t>(rng());
  std::vector<bool> wanted = {true, false, false, true, true, false, true, false, false, true};
  chain::Hash32 parent{};
  parent[0] = 0xab;
  for (std::uint64_t bps : {2000ull, 5000ull, 8000ull}) {
    const auto found =
        find_prevrandao(parent, chain::U256(7), chain::U256(3), nodes, wanted, bps, 1u << 24);
    ASSERT_TRUE(found) << "bps " << bps;
    EXPECT_EQ(found->second,
              chain::round_seed(chain::U256(found->first), parent, chain::U256(7), chain::U256(3)));
    for (std::size_t i = 0; i < nodes.size(); ++i)
      EXPECT_EQ(chain::is_proposer(found->second, nodes[i], bps), wanted[i])
          << "node " << i << " bps " << bps;
  }
  // Nobody can be a voter when every node proposes.
  EXPECT_FALSE(find_prevrandao(parent, chain::U256(7), chain::U256(3), nodes, wanted, 10000, 1000));
}

TEST(Tokens, FormatsEighteenDecimalAmounts) {
  EXPECT_EQ(format_tokens(token_units(1000)), "1000.00");
  EXPECT_EQ(format_tokens(token_units(1) / chain::U256(3)), "0.33");
  EXPECT_EQ(format_tokens(chain::U256(0)), "0.00");
  EXPECT_EQ(format_tokens(token_units(12) + token_units(1) / chain::U256(20)), "12.05");
}

}  // namespace
}  // namespace murmur::sim
