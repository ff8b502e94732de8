#pragma once
/// MURMUR_HD marks the math shared by both backends: compiled for the host by the C++
/// compiler and for the host and the device by nvcc. Nothing here names a CUDA type.
#if defined(__CUDACC__)
#define MURMUR_HD __host__ __device__
#else
#define MURMUR_HD
#endif
