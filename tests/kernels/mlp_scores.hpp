#pragma once
// A batched-MLP candidate's score against a reference (naive double loops, libtorch, another
// backend) under named tolerances. Shared by tests/kernels/batched_mlp_test.cpp (kernels only)
// and the model/ tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "murmur/kernels/batched_mlp.hpp"

namespace murmur::test {

/// Relative tolerance on a candidate's mean loss between two fp32 evaluations of the same
/// model (different GEMM blockings and summation orders; measured differences are ~1e-7).
inline constexpr double kLossRelTolerance = 1e-5;
/// Two logits closer than this (relative to the larger) are a near tie: fp32 evaluations that
/// round differently may pick either, so such a row may count as correct in one and not the other.
inline constexpr double kNearTieRelative = 1e-4;

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
