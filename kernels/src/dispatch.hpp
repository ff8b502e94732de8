#pragma once
// How an op's free function reaches its backend: the CPU implementation always exists; the
// CUDA one only when compiled in (MURMUR_ON_CUDA then throws BackendUnavailable).
#include "../cpu/cpu_backend.hpp"
#include "murmur/kernels/backend.hpp"
#if MURMUR_HAVE_CUDA
#include "../cuda/cuda_ops.hpp"
#define MURMUR_ON_CUDA(...) __VA_ARGS__
#else
#define MURMUR_ON_CUDA(...) \
  throw ::murmur::kernels::BackendUnavailable("CUDA backend not compiled in")
#endif
