#pragma once
#include <ostream>

namespace murmur::cli {

/// Writes what `murmur info` reports: version, backends compiled in, and what was found at
/// run time (CPU, BLAS, libtorch, CUDA runtime/driver/devices, cuBLAS, NCCL), ending with the
/// backend the server would pick.
void print_info(std::ostream& out);

}  // namespace murmur::cli
