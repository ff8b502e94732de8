// Backend parity, after llama.cpp's test-backend-ops: every case of every op of the table
// (ops.hpp: the aggregation rules and primitives, the masks, the batched MLP, SGMV), CPU against
// the naive reference and against itself with other thread counts and input paths (label unit),
// CUDA against CPU (label gpu, skipped with the CUDA runtime's text when no device answers).
#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "ops.hpp"
#include "ops_masks.hpp"
#include "ops_mlp.hpp"
#include "ops_rules.hpp"
#include "ops_sgmv.hpp"

namespace murmur::test {

const std::vector<Op>& all_ops() {
  static const std::vector<Op> ops = [] {
    std::vector<Op> all;
    for (auto family : {rule_ops, mask_ops, mlp_ops, sgmv_ops})
      for (Op& op : family()) all.push_back(std::move(op));
    return all;
  }();
  return ops;
}

namespace {

/// Every (op, case) pair of the table.
std::vector<std::pair<std::size_t, std::size_t>> all_cases() {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t op = 0; op < all_ops().size(); ++op)
    for (std::size_t c = 0; c < all_ops()[op].cases.size(); ++c) out.emplace_back(op, c);
  return out;
}

using Param = std::pair<std::size_t /*op*/, std::size_t /*case*/>;

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const Op& op = all_ops()[info.param.first];
  return op.name + "_" + op.cases[info.param.second];
}

class Parity : public ::testing::TestWithParam<Param> {
 protected:
  const Op& op() const { return all_ops()[GetParam().first]; }
  std::size_t which() const { return GetParam().second; }
};

class CpuVsNaive : public Parity {};
class GpuVsCpu : public Parity {};

TEST_P(CpuVsNaive, MatchesReference) {
  if (const std::string why = op().skip(which()); !why.empty()) GTEST_SKIP() << why;
  EXPECT_TRUE(op().cpu_vs_naive(which()));
}

TEST_P(CpuVsNaive, SameBitsForAnyThreadCountAndSource) {
  if (const std::string why = op().skip(which()); !why.empty()) GTEST_SKIP() << why;
  EXPECT_TRUE(op().same_bits(which()));
}

TEST_P(GpuVsCpu, MatchesCpu) {
  std::unique_ptr<kernels::Backend> gpu;
  try {
    gpu = kernels::make_cuda_backend(0);
  } catch (const kernels::BackendUnavailable& e) {
    GTEST_SKIP() << e.what();
  }
  if (const std::string why = op().skip(which()); !why.empty()) GTEST_SKIP() << why;
  EXPECT_TRUE(op().gpu_vs_cpu(*gpu, which()));
}

INSTANTIATE_TEST_SUITE_P(Ops, CpuVsNaive, ::testing::ValuesIn(all_cases()), param_name);
INSTANTIATE_TEST_SUITE_P(Ops, GpuVsCpu, ::testing::ValuesIn(all_cases()), param_name);

}  // namespace
}  // namespace murmur::test
