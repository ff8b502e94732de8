// kernels/batched_mlp on the real Fashion-MNIST test set: CUDA against CPU on 32 candidates
// (label gpu, skipped with the reason when no device answers). The synthetic shapes and the
// input checks need the kernels only: tests/kernels/batched_mlp_test.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "murmur/kernels/batched_mlp.hpp"

namespace murmur::test {
namespace {

namespace k = murmur::kernels;

std::unique_ptr<k::Backend> cuda_or_skip(std::string& why) {
  try {
    return k::make_cuda_backend(0);
  } catch (const k::BackendUnavailable& e) {
    why = e.what();
    return nullptr;
  }
}

/// Rows of Fashion-MNIST's 10,000 whose prediction may differ between the CPU's and the
/// GPU's fp32 GEMMs (near ties; typically none).
constexpr std::int64_t kMaxFlipsFashion = 10;

/// The real test set: 32 perturbations of the nearest-centroid classifier, CUDA vs CPU.
TEST(FashionMnistGpuVsCpu, ThirtyTwoCandidates) {
  std::string why;
  auto gpu = cuda_or_skip(why);
  if (!gpu) GTEST_SKIP() << why;
  const k::MlpShape shape{{784, 10}};
  const auto params = perturbed(nearest_centroid(fashion_train(), 1.0), 32, 31);
  auto cpu = k::make_cpu_backend(2);
  const k::CandidateRows c{params.data(), 32, shape.parameters()};
  const auto want = k::evaluate_mlp(*cpu, shape, c, fashion_test().view());
  const auto got = k::evaluate_mlp(*gpu, shape, c, fashion_test().view());
  for (std::size_t kk = 0; kk < 32; ++kk) {
    ASSERT_TRUE(want[kk].valid());
    EXPECT_TRUE(score_matches(
        got[kk],
        {want[kk].mean_loss, static_cast<std::int64_t>(want[kk].correct), kMaxFlipsFashion}, kk,
        "cuda"));
  }
}

}  // namespace
}  // namespace murmur::test
