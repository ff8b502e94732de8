#include "info.hpp"

#include <iomanip>

#include "murmur/kernels/backend.hpp"
#include "torch_info.hpp"

#ifndef MURMUR_VERSION
#define MURMUR_VERSION "unknown"
#endif

namespace murmur::cli {
namespace {

std::string cuda_version(int v) {
  if (v == 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

}  // namespace

void print_info(std::ostream& out) {
  namespace k = murmur::kernels;
  const auto row = [&](const char* key) -> std::ostream& {
    return out << "  " << std::left << std::setw(18) << key;
  };
  out << "Murmuration " << MURMUR_VERSION << "\n";

  const k::CudaStatus cuda = k::cuda_status();
  row("backends") << "cpu" << (cuda.compiled ? ", cuda (sm " + cuda.architectures + ")" : "")
                  << "\n";

  const k::CpuStatus cpu = k::cpu_status();
  row("cpu") << cpu.model << ", " << cpu.hardware_threads << " hardware threads\n";
  row("cpu kernels") << (cpu.isa.empty() ? "compiler default ISA" : cpu.isa) << "\n";
  row("blas") << cpu.blas << " (" << cpu.blas_threads << " threads)\n";
  row("libtorch") << torch_summary() << "\n";

  if (!cuda.compiled) {
    row("cuda") << "not compiled in (" << cuda.error << ")\n";
  } else {
    row("cuda runtime") << cuda_version(cuda.runtime_version) << "\n";
    row("cuda driver") << cuda_version(cuda.driver_version) << "\n";
    if (cuda.devices.empty()) {
      row("cuda devices") << "compiled, no device: " << cuda.error << "\n";
    } else {
      for (const auto& d : cuda.devices)
        row("cuda device") << d.index << ": " << d.name << ", sm_" << d.sm_major << d.sm_minor
                           << ", " << (d.memory_bytes >> 20) << " MiB, " << d.multiprocessors
                           << " SMs\n";
    }
    row("cublas") << cuda.cublas_version << "\n";
    row("nccl") << cuda.nccl_version << "\n";
  }
  const auto backend = k::make_default_backend();
  row("selected backend") << backend->describe() << "\n";
}

}  // namespace murmur::cli
