// kernels::sgmv's preconditions. The CPU twin against a plain double-precision loop and the
// CUDA kernels against it are the parity harness's `sgmv` op (ops_sgmv.hpp, kernel_parity).
#include <gtest/gtest.h>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/sgmv.hpp"
#include "ops_sgmv.hpp"

namespace murmur::test {
namespace {

using namespace murmur::kernels;

TEST(Sgmv, RejectsBadProblems) {
  auto cpu = make_cpu_backend(1);
  const SgmvCase good = sgmv_cases()[0];
  const auto run = [&](const SgmvCase& c) {
    SgmvData d = make_data(c, 1);
    std::vector<float> y(c.rows * c.ldy);
    sgmv(*cpu, sgmv_problem(c, d, y));
  };
  const auto with_segments = [&](std::vector<SgmvSegment> segments) {
    SgmvCase c = good;
    c.segments = std::move(segments);
    return c;
  };
  EXPECT_NO_THROW(run(good));
  EXPECT_THROW(run(with_segments({{10, 5, 0}})), std::invalid_argument);              // begin > end
  EXPECT_THROW(run(with_segments({{0, 97, 0}})), std::invalid_argument);              // past rows
  EXPECT_THROW(run(with_segments({{0, 10, 0}, {5, 20, 1}})), std::invalid_argument);  // overlap
  EXPECT_THROW(run(with_segments({{20, 30, 0}, {0, 10, 1}})), std::invalid_argument);  // unsorted
  EXPECT_THROW(run(with_segments({{0, 10, 4}})), std::invalid_argument);  // no adapter 4
  SgmvCase narrow = good;
  narrow.ldx = 10;
  EXPECT_THROW(run(narrow), std::invalid_argument);
  SgmvData d = make_data(good, 1);
  std::vector<float> y = d.y0;
  SgmvProblem p = sgmv_problem(good, d, y);
  p.residence = Residence::kDevice;
  EXPECT_THROW(sgmv(*cpu, p), std::invalid_argument);
  std::vector<LoraFactors> zero_rank = d.factors;
  zero_rank[0].rank = 0;
  p = sgmv_problem(good, d, y);
  p.factors = zero_rank;
  EXPECT_THROW(sgmv(*cpu, p), std::invalid_argument);
}

}  // namespace
}  // namespace murmur::test
