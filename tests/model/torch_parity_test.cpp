// Acceptance of issue 7: batched evaluation equals a plain libtorch forward and
// torch::nn::functional::cross_entropy per candidate on the real Fashion-MNIST test set
// (10,000 images), for K = 1, 7 and 32, for logistic regression and a two-hidden-layer MLP;
// and the flat layout is libtorch's named_parameters() order.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/model/errors.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/torch_mlp.hpp"

namespace murmur::test {
namespace {

namespace F = torch::nn::functional;

/// The reference, plainly: forward the whole set through the Sequential, cross_entropy with
/// its default mean reduction, argmax; near ties from the top two logits.
ReferenceScore torch_reference(torch::nn::Sequential& net, const model::LabelledSet& data) {
  torch::NoGradGuard no_grad;
  const auto [x, y] = model::as_tensors(data);
  const torch::Tensor logits = net->forward(x);
  const torch::Tensor top2 = std::get<0>(logits.topk(2, 1));
  const torch::Tensor gap = top2.select(1, 0) - top2.select(1, 1);
  const torch::Tensor scale = top2.select(1, 0).abs().clamp_min(1.0);
  ReferenceScore ref;
  ref.mean_loss = F::cross_entropy(logits, y).item<double>();
  ref.correct = logits.argmax(1).eq(y).sum().item<std::int64_t>();
  ref.near_ties = gap.le(kNearTieRelative * scale).sum().item<std::int64_t>();
  return ref;
}

/// A base model worth evaluating: `steps` of SGD with momentum on Fashion-MNIST's training
/// set (batches of 100, fixed seed), so accuracy is far from chance.
std::vector<float> trained(const model::MlpShape& shape, int steps) {
  torch::manual_seed(7);
  torch::nn::Sequential net = model::make_mlp(shape);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const model::LabelledSet& train = fashion_train();
  const std::int64_t batch = 100, d = static_cast<std::int64_t>(train.cols());
  for (int s = 0; s < steps; ++s) {
    const std::int64_t r0 = (s * batch) % static_cast<std::int64_t>(train.rows());
    const torch::Tensor x =
        torch::from_blob(const_cast<float*>(train.features.data()) + r0 * d, {batch, d});
    const torch::Tensor y =
        torch::from_blob(const_cast<std::int32_t*>(train.labels.data()) + r0, {batch}, torch::kInt)
            .to(torch::kLong);
    opt.zero_grad();
    F::cross_entropy(net->forward(x), y).backward();
    opt.step();
  }
  return model::flatten_parameters(*net);
}

struct ParityCase {
  const char* shape;
  std::size_t k;
};

class FashionMnistParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(FashionMnistParity, BatchedEqualsLibtorchPerCandidate) {
  const model::MlpShape shape = model::parse_mlp_shape(GetParam().shape);
  const std::size_t k_count = GetParam().k, p = shape.parameters();
  static std::map<std::string, std::vector<float>> bases;  // one training run per shape
  auto& base = bases[shape.describe()];
  if (base.empty()) base = trained(shape, 300);
  const std::uint64_t seed = 100 + k_count;
  // Noise from 2e-3 up to ~2 whatever K is: near-copies of the base model to useless ones.
  const double growth =
      std::pow(1000.0, 1.0 / static_cast<double>(std::max<std::size_t>(k_count - 1, 1)));
  const std::vector<float> candidates = perturbed(base, k_count, seed, 2e-3 / growth, growth);
  SCOPED_TRACE(shape.describe() + " K=" + std::to_string(k_count) +
               " seed=" + std::to_string(seed));

  auto cpu = kernels::make_cpu_backend(2);
  model::BatchedMlpEvaluator eval(*cpu, shape, fashion_test());
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<model::CandidateScore> got = eval.evaluate(candidates);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(got.size(), k_count);

  torch::nn::Sequential net = model::make_mlp(shape);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  std::int64_t ties = 0, base_correct = 0;
  for (std::size_t k = 0; k < k_count; ++k) {
    model::assign_parameters(*net, std::span<const float>(candidates).subspan(k * p, p));
    const ReferenceScore want = torch_reference(net, fashion_test());
    EXPECT_TRUE(score_matches(got[k], want, k, "batched vs libtorch"));
    lo = std::min(lo, want.mean_loss);
    hi = std::max(hi, want.mean_loss);
    ties += want.near_ties;
    if (k == 0) base_correct = want.correct;
  }
  const auto t2 = std::chrono::steady_clock::now();
  // Not a trivial comparison: the base model classifies, and the candidates differ.
  EXPECT_GT(got[0].accuracy, 0.7);
  if (k_count >= 7) {
    EXPECT_GT(hi - lo, 0.01) << "candidates too alike to tell apart";
  }
  std::printf(
      "[ %s K=%zu ] base correct %zu (libtorch %lld), loss %.4f..%.4f, %lld near ties; batched "
      "%.0f ms, "
      "libtorch one at a time %.0f ms\n",
      shape.describe().c_str(), k_count, got[0].correct, static_cast<long long>(base_correct), lo,
      hi, static_cast<long long>(ties), std::chrono::duration<double, std::milli>(t1 - t0).count(),
      std::chrono::duration<double, std::milli>(t2 - t1).count());
}

INSTANTIATE_TEST_SUITE_P(Candidates, FashionMnistParity,
                         ::testing::Values(ParityCase{"784-10", 1}, ParityCase{"784-10", 7},
                                           ParityCase{"784-10", 32}, ParityCase{"784-64-32-10", 1},
                                           ParityCase{"784-64-32-10", 7},
                                           ParityCase{"784-64-32-10", 32}),
                         [](const auto& info) {
                           std::string s = info.param.shape;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return std::string("mlp_").append(s).append("_k").append(
                               std::to_string(info.param.k));
                         });

/// NaN and Inf parameters on the real set: those candidates are marked, the others still
/// equal libtorch.
TEST(FashionMnistNonFinite, MarkedCandidatesOthersScored) {
  const model::MlpShape shape{{784, 10}};
  const std::size_t p = shape.parameters();
  std::vector<float> candidates = perturbed(nearest_centroid(fashion_train(), 1.0), 5, 5);
  candidates[1 * p + 4000] = std::numeric_limits<float>::quiet_NaN();
  candidates[3 * p + p - 1] = std::numeric_limits<float>::infinity();
  auto cpu = kernels::make_cpu_backend(2);
  model::BatchedMlpEvaluator eval(*cpu, shape, fashion_test());
  const auto got = eval.evaluate(candidates);
  EXPECT_EQ(got[1].status, model::CandidateStatus::kNonFiniteParameters);
  EXPECT_EQ(got[3].status, model::CandidateStatus::kNonFiniteParameters);
  torch::nn::Sequential net = model::make_mlp(shape);
  for (std::size_t k : {0u, 2u, 4u}) {
    model::assign_parameters(*net, std::span<const float>(candidates).subspan(k * p, p));
    EXPECT_TRUE(score_matches(got[k], torch_reference(net, fashion_test()), k, "non-finite run"));
  }
}

TEST(TorchMapping, FlatLayoutIsNamedParametersOrder) {
  const model::MlpShape shape{{784, 64, 32, 10}};
  torch::manual_seed(3);
  torch::nn::Sequential net = model::make_mlp(shape);
  std::vector<std::string> names;
  for (const auto& item : net->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                                             "4.bias"}));
  const std::vector<float> flat = model::flatten_parameters(*net);
  ASSERT_EQ(flat.size(), shape.parameters());
  // Element (o, i) of layer l's weight sits at weight_offset(l) + o * in + i; bias o at
  // bias_offset(l) + o.
  for (std::size_t l = 0; l < shape.layers(); ++l) {
    const auto& linear = net[l * 2]->as<torch::nn::Linear>();
    ASSERT_NE(linear, nullptr);
    for (std::int64_t o : {std::int64_t{0}, static_cast<std::int64_t>(shape.out(l)) - 1})
      for (std::int64_t i :
           {std::int64_t{0}, std::int64_t{5}, static_cast<std::int64_t>(shape.in(l)) - 1})
        EXPECT_EQ(flat[shape.weight_offset(l) + static_cast<std::size_t>(o) * shape.in(l) +
                       static_cast<std::size_t>(i)],
                  linear->weight[o][i].item<float>());
    EXPECT_EQ(flat[shape.bias_offset(l) + 3], linear->bias[3].item<float>());
  }
  // assign is flatten's inverse.
  std::vector<float> twice(flat.size());
  for (std::size_t j = 0; j < flat.size(); ++j) twice[j] = 2.0f * flat[j];
  model::assign_parameters(*net, twice);
  EXPECT_EQ(model::flatten_parameters(*net), twice);
}

TEST(TorchMapping, WrongLengthIsAClearError) {
  torch::nn::Sequential net = model::make_mlp(model::MlpShape{{784, 10}});
  for (std::size_t n : {7849u, 7851u, 0u}) {
    try {
      model::assign_parameters(*net, std::vector<float>(n));
      ADD_FAILURE() << n << " floats accepted";
    } catch (const model::ModelError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(std::to_string(n) + " floats"), std::string::npos) << m;
      EXPECT_NE(m.find("has 7850"), std::string::npos) << m;
      EXPECT_NE(m.find("0.weight [10, 784], 0.bias [10]"), std::string::npos) << m;
    }
  }
  EXPECT_THROW(model::make_mlp(model::MlpShape{{784}}), model::ModelError);
}

}  // namespace
}  // namespace murmur::test
