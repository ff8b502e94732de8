// Backend parity: every op × every shape, CPU against the naive reference (label unit) and
// CUDA against CPU (label gpu, skipped with the reason when no device answers).
#include <gtest/gtest.h>

#include <tuple>

#include "ops.hpp"

namespace murmur::test {
namespace {

struct Shape {
  std::size_t n, d;
  Fill fill;
};

// N = 1, 2, 3, odd/even, 1000; D of 1, below a vector width, not a multiple of any tile, and
// across several CPU tiles (65536 coordinates each).
const Shape kShapes[] = {
    {1, 1, Fill::kNormal},          {1, 1000, Fill::kNormal},      {2, 17, Fill::kNormal},
    {3, 200003, Fill::kNormal},     {7, 1031, Fill::kNormal},      {32, 4099, Fill::kNormal},
    {33, 65537, Fill::kNormal},     {1000, 1031, Fill::kNormal},   {10, 513, Fill::kAllEqual},
    {9, 513, Fill::kDuplicated},    {8, 257, Fill::kNanRow},       {8, 257, Fill::kInfRow},
};

using Param = std::tuple<std::size_t /*op*/, std::size_t /*shape*/>;

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const auto& [op, s] = info.param;
  const Shape& shape = kShapes[s];
  std::string fill = to_string(shape.fill);
  std::replace(fill.begin(), fill.end(), '-', '_');
  return all_ops()[op].name + "_n" + std::to_string(shape.n) + "_d" + std::to_string(shape.d) +
         "_" + fill;
}

class Parity : public ::testing::TestWithParam<Param> {
 protected:
  const Op& op() const { return all_ops()[std::get<0>(GetParam())]; }
  Rows rows() const {
    const Shape& s = kShapes[std::get<1>(GetParam())];
    return make_rows(s.n, s.d, s.fill, /*seed=*/1000 + std::get<1>(GetParam()));
  }
};

class CpuVsNaive : public Parity {};
class GpuVsCpu : public Parity {};

TEST_P(CpuVsNaive, MatchesReference) {
  const Rows r = rows();
  if (r.n > op().max_n) GTEST_SKIP() << "reference too slow beyond n = " << op().max_n;
  SCOPED_TRACE(op().name + " " + r.describe());
  const auto want = op().naive(r);
  // Not trivially zero, so that a kernel writing nothing cannot pass.
  ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](float v) { return v != 0.0f; }));
  auto cpu = kernels::make_cpu_backend(2);
  const kernels::MemoryRowSource source(r.view());
  EXPECT_TRUE(outputs_match(op().run(*cpu, source, r), want, op().cpu_vs_naive, r, op().name));
}

TEST_P(CpuVsNaive, SameBitsForAnyThreadCountAndSource) {
  const Rows r = rows();
  if (r.n > op().max_n) GTEST_SKIP() << "reference too slow beyond n = " << op().max_n;
  auto two = kernels::make_cpu_backend(2);
  const auto want = op().run(*two, kernels::MemoryRowSource(r.view()), r);
  for (unsigned threads : {1u, 3u}) {
    auto cpu = kernels::make_cpu_backend(threads);
    EXPECT_TRUE(outputs_match(op().run(*cpu, CopyingRowSource(r), r), want, kExact, r,
                              op().name + "-threads" + std::to_string(threads)));
  }
}

TEST_P(GpuVsCpu, MatchesCpu) {
  std::unique_ptr<kernels::Backend> gpu;
  try {
    gpu = kernels::make_cuda_backend(0);
  } catch (const kernels::BackendUnavailable& e) {
    GTEST_SKIP() << e.what();
  }
  const Rows r = rows();
  if (r.n > op().max_n) GTEST_SKIP() << "case larger than the op's max_n";
  auto cpu = kernels::make_cpu_backend(2);
  const kernels::MemoryRowSource source(r.view());
  const auto want = op().run(*cpu, source, r);
  EXPECT_TRUE(outputs_match(op().run(*gpu, source, r), want, op().gpu_vs_cpu, r, op().name));
  EXPECT_TRUE(outputs_match(op().run(*gpu, CopyingRowSource(r), r), want, op().gpu_vs_cpu, r,
                            op().name + "-copying"));
}

const auto kAllCases = ::testing::Combine(::testing::Range<std::size_t>(0, all_ops().size()),
                                          ::testing::Range<std::size_t>(0, std::size(kShapes)));
INSTANTIATE_TEST_SUITE_P(Ops, CpuVsNaive, kAllCases, param_name);
INSTANTIATE_TEST_SUITE_P(Ops, GpuVsCpu, kAllCases, param_name);

}  // namespace
}  // namespace murmur::test
