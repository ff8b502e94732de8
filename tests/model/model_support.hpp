#pragma once
// Shared by the model/ tests: the real Fashion-MNIST sets (loaded once per process), a
// nearest-centroid classifier built from them (a real, non-trivial 784-10 model with no
// training loop), candidate perturbations, a temporary directory, and the comparison of a
// candidate's score against a reference under named tolerances.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/model/idx.hpp"
#include "support/temp_dir.hpp"

namespace murmur::test {

/// Relative tolerance on a candidate's mean loss between two fp32 evaluations of the same
/// model (different GEMM blockings and summation orders; measured differences are ~1e-7).
inline constexpr double kLossRelTolerance = 1e-5;
/// Two logits closer than this (relative to the larger) are a near tie: fp32 evaluations that
/// round differently may pick either, so such a row may count as correct in one and not the other.
inline constexpr double kNearTieRelative = 1e-4;

inline const model::LabelledSet& fashion_test() {
  static const model::LabelledSet set = model::load_fashion_mnist(model::FashionMnistSplit::kTest);
  return set;
}

inline const model::LabelledSet& fashion_train() {
  static const model::LabelledSet set = model::load_fashion_mnist(model::FashionMnistSplit::kTrain);
  return set;
}

/// Nearest class mean as a linear classifier (784-10 flat layout): argmin_c |x - mu_c|^2 =
/// argmax_c (mu_c . x - |mu_c|^2 / 2), so W_c = s mu_c and b_c = -s |mu_c|^2 / 2. About 68%
/// accurate on Fashion-MNIST; `scale` s sets how confident its softmax is.
inline std::vector<float> nearest_centroid(const model::LabelledSet& train, double scale) {
  const std::size_t d = train.cols(), c = 10;
  std::vector<double> mean(c * d, 0.0);
  std::vector<double> count(c, 0.0);
  for (std::size_t i = 0; i < train.rows(); ++i) {
    const auto y = static_cast<std::size_t>(train.labels[i]);
    count[y] += 1;
    for (std::size_t j = 0; j < d; ++j) mean[y * d + j] += train.features[i * d + j];
  }
  std::vector<float> params(c * d + c);
  for (std::size_t y = 0; y < c; ++y) {
    double norm = 0;
    for (std::size_t j = 0; j < d; ++j) {
      const double m = mean[y * d + j] / count[y];
      params[y * d + j] = static_cast<float>(scale * m);
      norm += m * m;
    }
    params[c * d + y] = static_cast<float>(-scale * norm / 2);
  }
  return params;
}

/// K candidates around `base`: candidate 0 is base itself, candidate k adds Gaussian noise of
/// standard deviation sigma0 * growth^k (a spread from near-identical to useless models).
inline std::vector<float> perturbed(const std::vector<float>& base, std::size_t k_count,
                                    std::uint64_t seed, double sigma0 = 2e-3, double growth = 1.3) {
  std::mt19937_64 rng(seed);
  std::vector<float> out(k_count * base.size());
  for (std::size_t k = 0; k < k_count; ++k) {
    std::normal_distribution<float> noise(
        0.0f, static_cast<float>(k == 0 ? 0.0 : sigma0 * std::pow(growth, k)));
    for (std::size_t j = 0; j < base.size(); ++j)
      out[k * base.size() + j] = base[j] + (k == 0 ? 0.0f : noise(rng));
  }
  return out;
}

using murmur::testing::TempDir;

/// A reference's view of one candidate: its mean loss and correct count, and how many rows
/// were near ties (so may legitimately flip between two fp32 evaluations).
struct ReferenceScore {
  double mean_loss = 0;
  std::int64_t correct = 0;
  std::int64_t near_ties = 0;
};

/// got matches want: mean loss within kLossRelTolerance, correct counts within want's near
/// ties; the message names the candidate and both figures.
inline ::testing::AssertionResult score_matches(const kernels::CandidateScore& got,
                                                const ReferenceScore& want, std::size_t k,
                                                const std::string& label) {
  const double diff = std::abs(got.mean_loss - want.mean_loss);
  const auto flips = std::llabs(static_cast<long long>(got.correct) - want.correct);
  if (!got.valid() || !(diff <= kLossRelTolerance * std::max(1.0, std::abs(want.mean_loss))) ||
      flips > want.near_ties)
    return ::testing::AssertionFailure()
           << label << " candidate " << k << ": got " << kernels::to_string(got.status) << " loss "
           << got.mean_loss << " correct " << got.correct << ", reference loss " << want.mean_loss
           << " correct " << want.correct << " (" << want.near_ties << " near ties; loss tolerance "
           << kLossRelTolerance << " relative)";
  return ::testing::AssertionSuccess();
}

}  // namespace murmur::test
