// Known answers and argument errors of weighted_sum.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "murmur/kernels/weighted_sum.hpp"

namespace murmur::kernels {
namespace {

TEST(WeightedSum, KnownAnswer) {
  // rows (1, 2, 3), (10, 20, 30), (-4, 0, 0.5) with weights 2, 0.5, 1:
  // 2*1 + 0.5*10 - 4 = 3;  2*2 + 0.5*20 + 0 = 14;  2*3 + 0.5*30 + 0.5 = 21.5
  const std::vector<float> data = {1, 2, 3, 10, 20, 30, -4, 0, 0.5f};
  const std::vector<double> w = {2, 0.5, 1};
  std::vector<float> out(3);
  auto cpu = make_cpu_backend(2);
  weighted_sum(*cpu, MemoryRowSource(data, 3, 3), w, out);
  EXPECT_EQ(out, (std::vector<float>{3.0f, 14.0f, 21.5f}));
}

TEST(WeightedSum, StridedRowsUseOnlyTheirColumns) {
  // ld = 4: the fourth column of every row is padding and must not leak into the result.
  const std::vector<float> data = {1, 2, 3, 999, 4, 5, 6, 999};
  std::vector<float> out(3);
  auto cpu = make_cpu_backend(1);
  weighted_sum(*cpu, MemoryRowSource(RowsView{data.data(), 2, 3, 4}), std::vector<double>{1, 1},
               out);
  EXPECT_EQ(out, (std::vector<float>{5, 7, 9}));
}

TEST(WeightedSum, ZeroRowsGiveZeros) {
  std::vector<float> out(5, 7.0f);
  auto cpu = make_cpu_backend(2);
  weighted_sum(*cpu, MemoryRowSource(RowsView{nullptr, 0, 5, 5}), {}, out);
  EXPECT_EQ(out, std::vector<float>(5, 0.0f));
}

TEST(WeightedSum, RejectsMismatchedArguments) {
  const std::vector<float> data(6, 1.0f);
  auto cpu = make_cpu_backend(1);
  const MemoryRowSource src(data, 2, 3);
  std::vector<float> out(3);
  EXPECT_THROW(weighted_sum(*cpu, src, std::vector<double>{1.0}, out), std::invalid_argument);
  std::vector<float> short_out(2);
  EXPECT_THROW(weighted_sum(*cpu, src, std::vector<double>{1, 1}, short_out),
               std::invalid_argument);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(weighted_sum(*cpu, src, std::vector<double>{1, nan}, out), std::invalid_argument);
  EXPECT_THROW(MemoryRowSource(data, 4, 2), std::invalid_argument);
}

/// Whether or not a device answers, the factories agree with cuda_status(): with no device,
/// make_cuda_backend throws BackendUnavailable carrying the runtime's own reason and the default
/// backend is the CPU; with one, the CUDA backend is what the default gives. A device index
/// past the last one is refused by name either way.
TEST(Backends, CudaUnavailableSaysWhy) {
  const CudaStatus status = cuda_status();
  EXPECT_EQ(status.compiled, cuda_compiled());
  const auto fallback = make_default_backend();
  if (status.devices.empty()) {
    ASSERT_FALSE(status.error.empty()) << "no device and no reason";
    try {
      (void)make_cuda_backend(0);
      ADD_FAILURE() << "make_cuda_backend succeeded with no device: " << status.error;
    } catch (const BackendUnavailable& e) {
      const std::string why = e.what();
      EXPECT_NE(why.find("CUDA"), std::string::npos) << why;
      // The exception carries the reason cuda_status() reports (the runtime's error text).
      EXPECT_NE(why.find(status.error), std::string::npos)
          << "exception: " << why << "\nstatus: " << status.error;
    }
    EXPECT_EQ(fallback->kind(), BackendKind::kCpu);
  } else {
    const auto gpu = make_cuda_backend(0);
    EXPECT_EQ(gpu->kind(), BackendKind::kCuda);
    EXPECT_EQ(fallback->kind(), BackendKind::kCuda);
  }
  const int past = static_cast<int>(status.devices.size()) + 3;
  try {
    (void)make_cuda_backend(past);
    ADD_FAILURE() << "device " << past << " was accepted";
  } catch (const BackendUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fallback->describe().empty());
}

}  // namespace
}  // namespace murmur::kernels
