// The coordinate-wise network kernel compiled for AVX2 + FMA (-march=x86-64-v3, set on this
// file by kernels/CMakeLists.txt); coordinatewise.cpp calls it only where the CPU has AVX2.
#include "coordinatewise_simd.hpp"

namespace murmur::kernels::cpu {

void network_kernel_avx2(const Tile& tile, ColumnReduce r, float* out,
                         std::atomic<unsigned char>* nonfinite) {
  reduce_tile_network<8>(tile, r, out, nonfinite);
}

}  // namespace murmur::kernels::cpu
