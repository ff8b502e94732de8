// kernels/batched_mlp's input checks, strided and invalid candidates, and the flat layout.
// The CPU and CUDA backends against a naive double-precision reference on synthetic shapes
// (and on non-finite candidates) are the parity harness's `batched_mlp` op (ops_mlp.hpp,
// kernel_parity); CUDA against CPU on the real Fashion-MNIST is
// tests/model/batched_mlp_kernel_test.cpp.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "murmur/kernels/batched_mlp.hpp"
#include "ops_mlp.hpp"

namespace murmur::test {
namespace {

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
