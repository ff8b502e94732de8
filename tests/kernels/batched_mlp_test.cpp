// kernels/batched_mlp: the CPU backend against a naive double-precision reference on
// synthetic shapes (label unit), CUDA against the reference on the same shapes (label gpu,
// skipped with the reason when no device answers), and the input checks. Needs the kernels
// only; CUDA against CPU on the real Fashion-MNIST is tests/model/batched_mlp_kernel_test.cpp.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlp_scores.hpp"
#include "murmur/kernels/batched_mlp.hpp"

namespace murmur::test {
namespace {

namespace k = murmur::kernels;

struct Case {
  std::vector<std::size_t> widths;
  std::size_t n;      // rows
  std::size_t count;  // candidates K
  std::uint64_t seed;
};

// One row, one candidate; ragged sum blocks (257, 513 rows); 3 and 4 layers; K = 33 and 40;
// 3000 rows of a 33-candidate 64-32-10 net cross several CPU row blocks (768 rows each).
const Case kCases[] = {
    {{5, 3}, 1, 1, 11},           {{7, 5, 2}, 257, 3, 12},  {{33, 17, 9, 4}, 513, 5, 13},
    {{64, 32, 10}, 3000, 33, 14}, {{20, 10}, 1000, 40, 15}, {{1, 1, 2}, 300, 2, 16},
    {{784, 64, 10}, 300, 32, 17},
};

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) {
  const Case& c = kCases[info.param];
  std::string s = "w";
  for (std::size_t w : c.widths) s.append("_").append(std::to_string(w));
  return s + "_n" + std::to_string(c.n) + "_k" + std::to_string(c.count);
}

/// A case's data and candidates: features uniform in [0, 1), labels uniform, weights normal
/// with standard deviation scale_k / sqrt(in) (scale_k from 0.5 to ~4, so candidates differ),
/// biases normal(0, 0.1).
struct Problem {
  k::MlpShape shape;
  std::size_t n, count;
  std::vector<float> features, params;
  std::vector<std::int32_t> labels;
  std::uint64_t seed;

  explicit Problem(const Case& c) : shape{c.widths}, n(c.n), count(c.count), seed(c.seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    features.resize(n * shape.inputs());
    for (float& x : features) x = unit(rng);
    labels.resize(n);
    std::uniform_int_distribution<std::int32_t> label(
        0, static_cast<std::int32_t>(shape.classes()) - 1);
    for (auto& y : labels) y = label(rng);
    const std::size_t p = shape.parameters();
    params.resize(count * p);
    for (std::size_t kk = 0; kk < count; ++kk) {
      const float scale = 0.5f * std::pow(1.07f, static_cast<float>(kk));
      for (std::size_t l = 0; l < shape.layers(); ++l) {
        std::normal_distribution<float> w(0.0f, scale / std::sqrt(static_cast<float>(shape.in(l))));
        std::normal_distribution<float> b(0.0f, 0.1f);
        float* wl = params.data() + kk * p + shape.weight_offset(l);
        for (std::size_t j = 0; j < shape.out(l) * shape.in(l); ++j) wl[j] = w(rng);
        float* bl = params.data() + kk * p + shape.bias_offset(l);
        for (std::size_t j = 0; j < shape.out(l); ++j) bl[j] = b(rng);
      }
    }
  }
  k::CandidateRows candidates() const { return {params.data(), count, shape.parameters()}; }
  k::LabelledRows data() const { return {features.data(), labels.data(), n, shape.inputs()}; }
  std::string describe() const {
    return shape.describe() + " n=" + std::to_string(n) + " K=" + std::to_string(count) +
           " seed=" + std::to_string(seed);
  }
};

/// The naive reference: every candidate and row in double, layer by layer, straight from the
/// flat layout.
ReferenceScore naive(const Problem& pb, std::size_t kk) {
  const k::MlpShape& s = pb.shape;
  const float* theta = pb.params.data() + kk * s.parameters();
  ReferenceScore ref;
  double loss = 0;
  for (std::size_t i = 0; i < pb.n; ++i) {
    std::vector<double> h(pb.features.begin() + static_cast<std::ptrdiff_t>(i * s.inputs()),
                          pb.features.begin() + static_cast<std::ptrdiff_t>((i + 1) * s.inputs()));
    for (std::size_t l = 0; l < s.layers(); ++l) {
      std::vector<double> z(s.out(l));
      for (std::size_t o = 0; o < s.out(l); ++o) {
        double acc = theta[s.bias_offset(l) + o];
        for (std::size_t j = 0; j < s.in(l); ++j)
          acc += static_cast<double>(theta[s.weight_offset(l) + o * s.in(l) + j]) * h[j];
        z[o] = (l + 1 < s.layers() && acc < 0) ? 0.0 : acc;
      }
      h = std::move(z);
    }
    std::size_t arg = 0;
    for (std::size_t c = 1; c < h.size(); ++c)
      if (h[c] > h[arg]) arg = c;
    double second = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < h.size(); ++c)
      if (c != arg) second = std::max(second, h[c]);
    double sum = 0;
    for (double v : h) sum += std::exp(v - h[arg]);
    const auto y = static_cast<std::size_t>(pb.labels[i]);
    loss += h[arg] + std::log(sum) - h[y];
    ref.correct += arg == y;
    ref.near_ties += h[arg] - second <= kNearTieRelative * std::max(1.0, std::abs(h[arg]));
  }
  ref.mean_loss = loss / static_cast<double>(pb.n);
  return ref;
}

std::unique_ptr<k::Backend> cuda_or_skip(std::string& why) {
  try {
    return k::make_cuda_backend(0);
  } catch (const k::BackendUnavailable& e) {
    why = e.what();
    return nullptr;
  }
}

class CpuVsNaive : public ::testing::TestWithParam<std::size_t> {};
class GpuVsCpu : public ::testing::TestWithParam<std::size_t> {};

TEST_P(CpuVsNaive, MatchesReference) {
  const Problem pb(kCases[GetParam()]);
  SCOPED_TRACE(pb.describe());
  auto cpu = k::make_cpu_backend(2);
  const auto scores = k::evaluate_mlp(*cpu, pb.shape, pb.candidates(), pb.data());
  ASSERT_EQ(scores.size(), pb.count);
  for (std::size_t kk = 0; kk < pb.count; ++kk) {
    const ReferenceScore want = naive(pb, kk);
    ASSERT_GT(want.mean_loss, 0.01) << "a trivial case proves nothing";
    EXPECT_EQ(scores[kk].rows, pb.n);
    EXPECT_TRUE(score_matches(scores[kk], want, kk, "cpu"));
    EXPECT_DOUBLE_EQ(scores[kk].accuracy,
                     static_cast<double>(scores[kk].correct) / static_cast<double>(pb.n));
  }
}

TEST_P(CpuVsNaive, SameBitsForAnyThreadCount) {
  const Problem pb(kCases[GetParam()]);
  SCOPED_TRACE(pb.describe());
  auto two = k::make_cpu_backend(2);
  const auto want = k::evaluate_mlp(*two, pb.shape, pb.candidates(), pb.data());
  for (unsigned threads : {1u, 3u}) {
    auto cpu = k::make_cpu_backend(threads);
    const auto got = k::evaluate_mlp(*cpu, pb.shape, pb.candidates(), pb.data());
    for (std::size_t kk = 0; kk < pb.count; ++kk) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(got[kk].mean_loss),
                std::bit_cast<std::uint64_t>(want[kk].mean_loss))
          << "candidate " << kk << " with " << threads << " threads";
      EXPECT_EQ(got[kk].correct, want[kk].correct);
    }
  }
}

TEST_P(GpuVsCpu, MatchesCpu) {
  std::string why;
  auto gpu = cuda_or_skip(why);
  if (!gpu) GTEST_SKIP() << why;
  const Problem pb(kCases[GetParam()]);
  SCOPED_TRACE(pb.describe());
  auto cpu = k::make_cpu_backend(2);
  const auto want = k::evaluate_mlp(*cpu, pb.shape, pb.candidates(), pb.data());
  const auto got = k::evaluate_mlp(*gpu, pb.shape, pb.candidates(), pb.data());
  for (std::size_t kk = 0; kk < pb.count; ++kk)
    EXPECT_TRUE(score_matches(got[kk], naive(pb, kk), kk, "cuda"))
        << "cpu loss " << want[kk].mean_loss;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuVsNaive, ::testing::Range<std::size_t>(0, std::size(kCases)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Shapes, GpuVsCpu, ::testing::Range<std::size_t>(0, std::size(kCases)),
                         case_name);

/// Candidates 1 (a NaN weight) and 4 (an -Inf bias) are not evaluated; candidate 2's finite
/// weights overflow to Inf logits (kNonFiniteLoss); the rest match the reference.
void check_non_finite(k::Backend& backend) {
  Problem pb({{7, 6, 3}, 500, 6, 21});
  const std::size_t p = pb.shape.parameters();
  pb.params[1 * p + 17] = std::numeric_limits<float>::quiet_NaN();
  pb.params[4 * p + pb.shape.bias_offset(1) + 2] = -std::numeric_limits<float>::infinity();
  for (std::size_t j = 0; j < 6 * 7; ++j) pb.params[2 * p + j] = 3e38f;
  const auto scores = k::evaluate_mlp(backend, pb.shape, pb.candidates(), pb.data());
  ASSERT_EQ(scores.size(), 6u);
  for (std::size_t kk : {1u, 4u}) {
    EXPECT_EQ(scores[kk].status, k::CandidateStatus::kNonFiniteParameters) << kk;
    EXPECT_FALSE(scores[kk].valid());
    EXPECT_TRUE(std::isnan(scores[kk].mean_loss));
    EXPECT_EQ(scores[kk].correct, 0u);
  }
  EXPECT_EQ(scores[2].status, k::CandidateStatus::kNonFiniteLoss);
  for (std::size_t kk : {0u, 3u, 5u})
    EXPECT_TRUE(score_matches(scores[kk], naive(pb, kk), kk, backend.describe()));
}

TEST(BatchedMlp, NonFiniteCandidatesAreMarkedAndOthersScored) {
  auto cpu = k::make_cpu_backend(2);
  check_non_finite(*cpu);
}

TEST(BatchedMlpGpuVsCpu, NonFiniteCandidatesAreMarkedAndOthersScored) {
  std::string why;
  auto gpu = cuda_or_skip(why);
  if (!gpu) GTEST_SKIP() << why;
  check_non_finite(*gpu);
}

TEST(BatchedMlp, EveryCandidateInvalid) {
  Problem pb({{4, 3}, 10, 3, 22});
  for (float& v : pb.params) v = std::numeric_limits<float>::infinity();
  auto cpu = k::make_cpu_backend(2);
  for (const auto& s : k::evaluate_mlp(*cpu, pb.shape, pb.candidates(), pb.data()))
    EXPECT_EQ(s.status, k::CandidateStatus::kNonFiniteParameters);
}

TEST(BatchedMlp, StridedCandidatesAndNoCandidates) {
  const Problem pb({{6, 4, 3}, 100, 3, 23});
  const std::size_t p = pb.shape.parameters(), ld = p + 5;
  std::vector<float> strided(3 * ld,
                             std::numeric_limits<float>::quiet_NaN());  // padding is never read
  for (std::size_t kk = 0; kk < 3; ++kk)
    std::copy_n(pb.params.data() + kk * p, p, strided.data() + kk * ld);
  auto cpu = k::make_cpu_backend(2);
  const auto got = k::evaluate_mlp(*cpu, pb.shape, {strided.data(), 3, ld}, pb.data());
  const auto want = k::evaluate_mlp(*cpu, pb.shape, pb.candidates(), pb.data());
  for (std::size_t kk = 0; kk < 3; ++kk) {
    ASSERT_TRUE(got[kk].valid());
    EXPECT_EQ(got[kk].mean_loss, want[kk].mean_loss);
  }
  EXPECT_TRUE(k::evaluate_mlp(*cpu, pb.shape, {pb.params.data(), 0, p}, pb.data()).empty());
}

TEST(BatchedMlp, RejectsBadInput) {
  Problem pb({{4, 3}, 10, 2, 24});
  auto cpu = k::make_cpu_backend(1);
  const auto expect_throw = [&](k::MlpShape shape, k::CandidateRows c, k::LabelledRows d,
                                const char* needle) {
    try {
      k::evaluate_mlp(*cpu, shape, c, d);
      ADD_FAILURE() << "no exception for " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_throw({{4}}, pb.candidates(), pb.data(), "at least an input width");
  expect_throw({{4, 0, 3}}, pb.candidates(), pb.data(), "a width is 0");
  expect_throw({{4, 1}}, pb.candidates(), pb.data(), ">= 2 classes");
  expect_throw({{5, 3}}, pb.candidates(), pb.data(), "the model takes 5");
  expect_throw(pb.shape, {pb.params.data(), 2, 14}, pb.data(), "each needs 15");
  expect_throw(pb.shape, pb.candidates(), {pb.features.data(), pb.labels.data(), 0, 4}, "empty");
  pb.labels[7] = 3;
  expect_throw(pb.shape, pb.candidates(), pb.data(), "label 3 of example 7");
  pb.labels[7] = -1;
  expect_throw(pb.shape, pb.candidates(), pb.data(), "label -1 of example 7");
}

TEST(MlpShape, FlatLayoutOffsets) {
  const k::MlpShape s{{784, 64, 10}};
  EXPECT_EQ(s.layers(), 2u);
  EXPECT_EQ(s.weight_offset(0), 0u);
  EXPECT_EQ(s.bias_offset(0), 784u * 64u);
  EXPECT_EQ(s.weight_offset(1), 784u * 64u + 64u);
  EXPECT_EQ(s.bias_offset(1), 784u * 64u + 64u + 64u * 10u);
  EXPECT_EQ(s.parameters(), 784u * 64u + 64u + 64u * 10u + 10u);
  EXPECT_EQ(s.describe(), "784-64-10");
}

}  // namespace
}  // namespace murmur::test
