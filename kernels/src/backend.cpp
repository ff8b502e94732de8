#include "murmur/kernels/backend.hpp"

#include "dispatch.hpp"

namespace murmur::kernels {

const char* to_string(BackendKind kind) {
  switch (kind) {
    case BackendKind::kCpu: return "cpu";
    case BackendKind::kCuda: return "cuda";
  }
  return "unknown";
}

bool cuda_compiled() noexcept {
  return MURMUR_HAVE_CUDA != 0;
}

std::unique_ptr<Backend> make_cpu_backend(unsigned threads) {
  return std::make_unique<cpu::CpuBackend>(threads, CpuSimd::kBest);
}

std::unique_ptr<Backend> make_cpu_backend(unsigned threads, CpuSimd simd) {
  if (!cpu_simd_supported(simd))
    throw BackendUnavailable(
        std::string("CPU kernels for ") + to_string(simd) +
        ": not in this build or not on this CPU (best here: " + to_string(best_cpu_simd()) + ")");
  return std::make_unique<cpu::CpuBackend>(threads, simd);
}

std::unique_ptr<Backend> make_cuda_backend([[maybe_unused]] int device) {
#if MURMUR_HAVE_CUDA
  return cuda::make_backend(device);
#else
  throw BackendUnavailable(
      "CUDA backend not compiled in: rebuild with nvcc installed (-DMURMUR_CUDA=ON)");
#endif
}

std::unique_ptr<Backend> make_default_backend() {
  if (cuda_compiled()) {
    try {
      return make_cuda_backend(0);
    } catch (const BackendUnavailable&) {
      // No device answers: the CPU backend serves; cuda_status() tells why.
    }
  }
  return make_cpu_backend();
}

CudaStatus cuda_status() {
#if MURMUR_HAVE_CUDA
  return cuda::status();
#else
  CudaStatus s;
  s.error = "CUDA backend not compiled in";
  return s;
#endif
}

}  // namespace murmur::kernels
