// The coordinate-wise network kernel compiled for AVX-512 (-march=x86-64-v4, set on this file
// by kernels/CMakeLists.txt); coordinatewise.cpp calls it only where the CPU has AVX-512
// F/BW/DQ/VL.
#include "coordinatewise_simd.hpp"

namespace murmur::kernels::cpu {

void network_kernel_avx512(const Tile& tile, ColumnReduce r, float* out,
                           std::atomic<unsigned char>* nonfinite) {
  reduce_tile_network<16>(tile, r, out, nonfinite);
}

}  // namespace murmur::kernels::cpu
