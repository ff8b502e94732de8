// model/ round validation by linearity (ValidationPath::kLinear) against the direct batched
// pass (kDirect, the reference) on real Fashion-MNIST rows: the same statuses, losses within
// kLinearLossTolerance, the identities of the round record exact, the edge cases (one and two
// updates, rejected, non-finite and dominant updates, zero weights) and the fallbacks to the
// direct pass where linearity cannot promise the direct pass's statuses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/round_validation.hpp"

namespace murmur::test {
namespace {

using model::CandidateScore;
using model::ValidationPath;

/// Relative tolerance on a candidate's mean loss between the linear and the direct path: the
/// linear path adds X W0(base) and X Delta0_i where the direct one multiplies X by the rounded
/// sum, and its GEMMs block differently (measured: at most 7e-8 relative on these models).
constexpr double kLinearLossTolerance = 1e-5;

/// The first `rows` rows of Fashion-MNIST's test set.
model::LabelledSet test_rows(std::size_t rows) {
  model::LabelledSet s = fashion_test();
  s.features.resize(rows * s.cols());
  s.labels.resize(rows);
  return s;
}

/// A real 784-H-...-10 classifier (H >= 20) with no training loop: hidden units 2c and 2c + 1
/// of the first layer are +-(the nearest-centroid score of class c), the next layers carry
/// relu(s) - relu(-s) = s through to logit c, the other units are small seeded noise.
std::vector<float> centroid_mlp(const model::MlpShape& shape, double scale, std::uint64_t seed) {
  const auto linear = nearest_centroid(fashion_train(), scale);  // [W 10 x 784 | b 10]
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<float> p(shape.parameters());
  for (float& v : p) v = noise(rng);
  const std::size_t in = shape.inputs(), c_count = shape.classes(), layers = shape.layers();
  if (layers == 1) return linear;
  for (std::size_t l = 1; l < layers; ++l)
    if (shape.in(l) < 2 * c_count) throw std::invalid_argument("centroid_mlp: hidden < 20");
  for (std::size_t c = 0; c < c_count; ++c)
    for (int sign : {1, -1}) {
      const std::size_t u = 2 * c + (sign > 0 ? 0 : 1);
      for (std::size_t j = 0; j < in; ++j)
        p[shape.weight_offset(0) + u * in + j] = static_cast<float>(sign) * linear[c * in + j];
      p[shape.bias_offset(0) + u] = static_cast<float>(sign) * linear[c_count * in + c];
    }
  for (std::size_t l = 1; l < layers; ++l) {  // unit 2c - unit 2c+1 into 2c (and -... into 2c+1)
    const std::size_t o = shape.out(l), i = shape.in(l);
    for (std::size_t c = 0; c < c_count; ++c) {
      const bool last = l + 1 == layers;
      const std::size_t rows_to[2] = {last ? c : 2 * c, last ? c : 2 * c + 1};
      for (int k = 0; k < (last ? 1 : 2); ++k) {
        const float s = k == 0 ? 1.0f : -1.0f;
        p[shape.weight_offset(l) + rows_to[k] * i + 2 * c] = s;
        p[shape.weight_offset(l) + rows_to[k] * i + 2 * c + 1] = -s;
      }
    }
    for (std::size_t k = 0; k < o; ++k) p[shape.bias_offset(l) + k] = 0.0f;
  }
  return p;
}

/// N update deltas: update i is Gaussian noise of deviation sigma0 * 1.5^i (from harmless to
/// harmful) plus, for even i, a step toward a sharper classifier (helpful).
std::vector<float> update_deltas(const model::MlpShape& shape, const std::vector<float>& base,
                                 std::size_t n, std::uint64_t seed, double sigma0 = 2e-3) {
  const std::vector<float> sharper = centroid_mlp(shape, 0.3, seed + 1);
  const std::size_t p = base.size();
  std::mt19937_64 rng(seed);
  std::vector<float> d(n * p);
  for (std::size_t i = 0; i < n; ++i) {
    std::normal_distribution<float> noise(0.0f,
                                          static_cast<float>(sigma0 * std::pow(1.5, double(i))));
    for (std::size_t j = 0; j < p; ++j)
      d[i * p + j] = noise(rng) + (i % 2 == 0 ? 0.2f * (sharper[j] - base[j]) : 0.0f);
  }
  return d;
}

std::string describe(const CandidateScore& s) {
  return std::string(kernels::to_string(s.status)) + " loss " + std::to_string(s.mean_loss) +
         " correct " + std::to_string(s.correct);
}

/// The largest relative loss difference seen between the paths (printed at the end).
double largest_difference = 0;

/// Same status; when scored, loss within kLinearLossTolerance and the correct count within
/// rows / 2000 + 1 (near ties may round either way).
::testing::AssertionResult agrees(const CandidateScore& linear, const CandidateScore& direct,
                                  const std::string& what) {
  if (linear.status != direct.status)
    return ::testing::AssertionFailure()
           << what << ": linear " << describe(linear) << ", direct " << describe(direct);
  if (!direct.valid()) return ::testing::AssertionSuccess();
  const double diff = std::abs(linear.mean_loss - direct.mean_loss);
  largest_difference =
      std::max(largest_difference, diff / std::max(1.0, std::abs(direct.mean_loss)));
  const auto flips =
      std::llabs(static_cast<long long>(linear.correct) - static_cast<long long>(direct.correct));
  if (!(diff <= kLinearLossTolerance * std::max(1.0, std::abs(direct.mean_loss))) ||
      flips > static_cast<long long>(direct.rows / 2000 + 1))
    return ::testing::AssertionFailure() << what << ": linear " << describe(linear) << ", direct "
                                         << describe(direct) << " (difference " << diff << ")";
  return ::testing::AssertionSuccess();
}

/// Runs both paths on the same round and checks every figure; returns the linear result.
model::RoundValidation compare_paths(model::BatchedMlpEvaluator& eval,
                                     const std::vector<float>& base,
                                     const std::vector<float>& deltas, const std::vector<double>& w,
                                     const std::string& label) {
  const std::size_t n = w.size(), p = base.size();
  const auto lin = model::validate_round(eval, base, {deltas.data(), n, p, p}, w);
  const auto dir =
      model::validate_round(eval, base, {deltas.data(), n, p, p}, w, ValidationPath::kDirect);
  EXPECT_EQ(lin.path, ValidationPath::kLinear) << label;
  EXPECT_EQ(dir.path, ValidationPath::kDirect) << label;
  EXPECT_EQ(lin.candidates, dir.candidates) << label;
  EXPECT_EQ(lin.global_parameters.size(), p) << label;
  EXPECT_EQ(std::memcmp(lin.global_parameters.data(), dir.global_parameters.data(), p * 4), 0)
      << label;  // bit for bit (NaN where a NaN row entered)
  EXPECT_TRUE(agrees(lin.previous, dir.previous, label + " previous"));
  EXPECT_TRUE(agrees(lin.global, dir.global, label + " global"));
  for (std::size_t i = 0; i < n; ++i) {
    const std::string u = label + " update " + std::to_string(i);
    EXPECT_TRUE(agrees(lin.updates[i].alone, dir.updates[i].alone, u + " alone"));
    EXPECT_TRUE(agrees(lin.updates[i].without, dir.updates[i].without, u + " without"));
    EXPECT_EQ(std::isnan(lin.updates[i].contribution), std::isnan(dir.updates[i].contribution))
        << u;
    if (!std::isnan(dir.updates[i].contribution)) {
      EXPECT_NEAR(lin.updates[i].contribution, dir.updates[i].contribution,
                  2 * kLinearLossTolerance * std::max(1.0, std::abs(dir.global.mean_loss)))
          << u;
    }
  }
  return lin;
}

TEST(ValidateRoundLinear, AgreesWithTheDirectPassOnFashionMnist) {
  // One hidden layer (the bench's shape, narrower), logistic regression (the first layer is the
  // last: no tail), two hidden layers (a tail of two layers); groups of 5 updates.
  const model::LabelledSet data = test_rows(3000);
  auto cpu = kernels::make_cpu_backend(2);
  for (const char* spec : {"784-64-10", "784-10", "784-32-24-10"}) {
    const model::MlpShape shape = model::parse_mlp_shape(spec);
    const std::vector<float> base = centroid_mlp(shape, 0.05, 7);
    const std::size_t n = 12;
    const std::vector<float> deltas = update_deltas(shape, base, n, 11);
    std::vector<double> w;
    for (std::size_t i = 0; i < n; ++i) w.push_back(50.0 + 10.0 * static_cast<double>(i % 5));
    model::BatchedMlpEvaluator eval(*cpu, shape, data, 5);
    const auto r = compare_paths(eval, base, deltas, w, spec);
    EXPECT_EQ(r.passes, 1u + 3u) << spec;  // the fixed models, then 12 updates 5 at a time
    // The figures are not trivial: the model classifies, and the updates differ in effect.
    EXPECT_GT(r.previous.accuracy, 0.5) << spec;
    double lo = 1e9, hi = -1e9;
    for (const auto& u : r.updates) {
      lo = std::min(lo, u.alone.mean_loss);
      hi = std::max(hi, u.alone.mean_loss);
    }
    EXPECT_GT(hi - lo, 0.05) << spec;
  }
}

TEST(ValidateRoundLinear, SeveralBlocksOfRowsAgree) {
  // 9 updates of 512 hidden units: one GEMM block of G is (9 + 1) x 512 columns, 32 MiB hold
  // 1638 rows of it, so 2000 rows take two blocks (and the fixed models' one).
  const model::LabelledSet data = test_rows(2000);
  auto cpu = kernels::make_cpu_backend(2);
  const model::MlpShape shape = model::parse_mlp_shape("784-512-10");
  const std::vector<float> base = centroid_mlp(shape, 0.05, 3);
  const std::vector<float> deltas = update_deltas(shape, base, 9, 5);
  model::BatchedMlpEvaluator eval(*cpu, shape, data, 9);
  // Update 4 carries more than half the weight: its leave-one-out mean is built, not subtracted.
  compare_paths(eval, base, deltas, {1, 2, 3, 1, 20, 1, 2, 1, 3}, "784-512-10");
}

TEST(ValidateRoundLinear, EdgeCasesAgreeAndIdentitiesAreExact) {
  const model::LabelledSet data = test_rows(2000);
  auto cpu = kernels::make_cpu_backend(2);
  const model::MlpShape shape = model::parse_mlp_shape("784-48-10");
  const std::vector<float> base = centroid_mlp(shape, 0.05, 21);
  const std::size_t p = base.size();
  const std::vector<float> deltas = update_deltas(shape, base, 4, 23);
  model::BatchedMlpEvaluator eval(*cpu, shape, data, 3);
  const auto first = [&](std::size_t k) {
    return std::vector<float>(deltas.begin(), deltas.begin() + static_cast<std::ptrdiff_t>(k * p));
  };

  // N = 1: without_0 is the base model, global is base + delta.
  const auto one = compare_paths(eval, base, first(1), {5.0}, "N = 1");
  EXPECT_EQ(one.updates[0].without.mean_loss, one.previous.mean_loss);
  EXPECT_EQ(one.updates[0].contribution, one.previous.mean_loss - one.global.mean_loss);

  // N = 2, both weighted: each leave-one-out is the other alone, exactly.
  const auto two = compare_paths(eval, base, first(2), {1.0, 3.0}, "N = 2");
  EXPECT_EQ(two.updates[0].without.mean_loss, two.updates[1].alone.mean_loss);
  EXPECT_EQ(two.updates[1].without.mean_loss, two.updates[0].alone.mean_loss);

  // A rejected update (weight 0) contributes exactly 0; a dominant one (w_0 > the rest) is
  // built, the others subtracted.
  const auto rejected = compare_paths(eval, base, deltas, {10.0, 0.0, 1.0, 2.0}, "rejected");
  EXPECT_EQ(rejected.updates[1].contribution, 0.0);
  EXPECT_EQ(rejected.updates[1].without.mean_loss, rejected.global.mean_loss);
  EXPECT_EQ(rejected.candidates, 2u * 4u + 1u);

  // Zero weights but one: every leave-one-out but that one's is the global model, its own is
  // the base model.
  const auto lone = compare_paths(eval, base, deltas, {0.0, 0.0, 4.0, 0.0}, "one weight");
  for (std::size_t i : {0u, 1u, 3u}) EXPECT_EQ(lone.updates[i].contribution, 0.0) << i;
  EXPECT_EQ(lone.updates[2].without.mean_loss, lone.previous.mean_loss);
  EXPECT_EQ(lone.candidates, 2u + 4u);
}

TEST(ValidateRoundLinear, NonFiniteUpdatesMarkWhatTheyEnter) {
  const model::LabelledSet data = test_rows(2000);
  auto cpu = kernels::make_cpu_backend(2);
  const model::MlpShape shape = model::parse_mlp_shape("784-48-10");
  const std::vector<float> base = centroid_mlp(shape, 0.05, 31);
  const std::size_t p = base.size(), n = 4;
  model::BatchedMlpEvaluator eval(*cpu, shape, data, 3);
  const std::vector<double> w = {1.0, 2.0, 3.0, 0.0};
  // A NaN in the first layer, an Inf in the last layer's bias: one non-finite row (its own
  // leave-one-out is built from the sum without it), then two.
  for (const std::size_t where : {std::size_t{123}, p - 1}) {
    std::vector<float> deltas = update_deltas(shape, base, n, 33);
    deltas[p + where] = where == p - 1 ? std::numeric_limits<float>::infinity()
                                       : std::numeric_limits<float>::quiet_NaN();
    const std::string label = "bad coordinate " + std::to_string(where);
    const auto r = compare_paths(eval, base, deltas, w, label);
    const auto bad = model::CandidateStatus::kNonFiniteParameters;
    EXPECT_TRUE(r.previous.valid()) << label;
    EXPECT_EQ(r.global.status, bad) << label;
    EXPECT_EQ(r.updates[1].alone.status, bad) << label;
    EXPECT_TRUE(r.updates[0].alone.valid() && r.updates[2].alone.valid()) << label;
    EXPECT_TRUE(r.updates[1].without.valid()) << label;
    EXPECT_EQ(r.updates[0].without.status, bad) << label;
    EXPECT_EQ(r.updates[3].without.status, bad) << label;  // weight 0, but global is not finite

    deltas[3 * p + 7] = -std::numeric_limits<float>::infinity();
    const auto two = compare_paths(eval, base, deltas, w, label + ", two bad rows");
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(two.updates[i].without.status, bad) << i;
    EXPECT_TRUE(two.updates[2].alone.valid());
  }
}

TEST(ValidateRoundLinear, FallsBackToTheDirectPassWhereItCannotMatchIt) {
  const model::LabelledSet data = test_rows(500);
  auto cpu = kernels::make_cpu_backend(2);
  const model::MlpShape shape = model::parse_mlp_shape("784-32-10");
  std::vector<float> base = centroid_mlp(shape, 0.05, 41);
  const std::size_t p = base.size();
  std::vector<float> deltas = update_deltas(shape, base, 3, 43);
  model::BatchedMlpEvaluator eval(*cpu, shape, data, 64);
  // Values near FLT_MAX: base + delta overflows to Inf in float for one candidate and not
  // another; only the built models can tell, so the direct pass scores the round.
  deltas[5] = 3e38f;
  std::vector<float> huge_base = base;
  huge_base[5] = 3e38f;
  const auto huge = model::validate_round(eval, huge_base, {deltas.data(), 3, p, p},
                                          std::vector<double>{1, 1, 1});
  EXPECT_EQ(huge.path, ValidationPath::kDirect);
  EXPECT_EQ(huge.updates[0].alone.status, model::CandidateStatus::kNonFiniteParameters);
  EXPECT_TRUE(huge.updates[1].alone.valid() ||
              huge.updates[1].alone.status == model::CandidateStatus::kNonFiniteLoss);
  // A non-finite base model: every candidate is marked, by the direct pass.
  base[0] = std::numeric_limits<float>::quiet_NaN();
  deltas[5] = 0.0f;
  const auto nan_base =
      model::validate_round(eval, base, {deltas.data(), 3, p, p}, std::vector<double>{1, 1, 1});
  EXPECT_EQ(nan_base.path, ValidationPath::kDirect);
  EXPECT_EQ(nan_base.previous.status, model::CandidateStatus::kNonFiniteParameters);
  EXPECT_EQ(nan_base.updates[2].without.status, model::CandidateStatus::kNonFiniteParameters);
}

TEST(ValidateRoundLinear, StreamedRowsGiveTheSameFiguresInThreeReadsPerRow) {
  const model::LabelledSet data = test_rows(1000);
  auto cpu = kernels::make_cpu_backend(2);
  const model::MlpShape shape = model::parse_mlp_shape("784-32-10");
  const std::vector<float> base = centroid_mlp(shape, 0.05, 51);
  const std::size_t p = base.size(), n = 5;
  const std::vector<float> deltas = update_deltas(shape, base, n, 53);
  const std::vector<double> w = {3, 1, 4, 1, 5};
  model::BatchedMlpEvaluator eval(*cpu, shape, data, 2);
  const auto resident = model::validate_round(eval, base, {deltas.data(), n, p, p}, w);
  const StreamedRows rows(deltas, n, p);
  const auto streamed = model::validate_round(eval, base, rows, w);
  EXPECT_EQ(streamed.path, ValidationPath::kLinear);
  EXPECT_EQ(resident.global.mean_loss, streamed.global.mean_loss);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(resident.updates[i].alone.mean_loss, streamed.updates[i].alone.mean_loss) << i;
    EXPECT_EQ(resident.updates[i].without.mean_loss, streamed.updates[i].without.mean_loss) << i;
  }
  // S, the finiteness check, and once for its first layer and its candidates' other layers.
  EXPECT_EQ(rows.reads, 3 * n);
}

TEST(ValidateRoundLinear, ZzReportsTheLargestDifference) {
  // Runs after the comparisons above (gtest keeps the order of definition within a file).
  std::printf("linear vs direct: largest relative loss difference %.3g (tolerance %.3g)\n",
              largest_difference, kLinearLossTolerance);
  EXPECT_LE(largest_difference, kLinearLossTolerance);
}

}  // namespace
}  // namespace murmur::test
