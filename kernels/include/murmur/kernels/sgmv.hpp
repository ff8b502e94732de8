#pragma once
// Segmented gather matrix-vector products (SGMV): the low-rank halves of many LoRA adapters
// applied to one batch of rows in one call, in the manner of Punica's SGMV and S-LoRA's BGMV.
// The base projection Y = X W^T is one GEMM over the whole batch (the caller's); this adds, for
// each segment of rows, the delta of the adapter that segment belongs to (arena/README.md).
#include <cstddef>
#include <cstdint>
#include <span>

#include "murmur/kernels/backend.hpp"

namespace murmur::kernels {

/// Where the arrays an SGMV call reads and writes live.
enum class Residence {
  kHost,    ///< host memory (the CPU backend; the CUDA backend stages it through its scratch)
  kDevice,  ///< device memory of the CUDA backend's device (CUDA backend only)
};

/// One adapter's LoRA factors for one projection W [d_out, d_in]: delta W = scale * B A.
struct LoraFactors {
  const float* a = nullptr;  ///< A [rank, d_in], row-major (PEFT's lora_A.weight)
  const float* b = nullptr;  ///< B [d_out, rank], row-major (PEFT's lora_B.weight)
  std::size_t rank = 0;      ///< r >= 1
  float scale = 0;           ///< alpha / r (alpha / sqrt(r) under rsLoRA)
};

/// Rows [begin, end) of the batch use factors[adapter]; adapter -1: no delta for these rows.
struct SgmvSegment {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::int32_t adapter = -1;
};

/// One projection over a batch of rows grouped in segments.
struct SgmvProblem {
  std::size_t rows = 0;      ///< rows of X and Y
  std::size_t d_in = 0;      ///< columns of X read
  std::size_t d_out = 0;     ///< columns of Y written
  const float* x = nullptr;  ///< X [rows, d_in], row i at x + i * ldx
  std::size_t ldx = 0;       ///< >= d_in
  float* y = nullptr;        ///< Y [rows, d_out], row i at y + i * ldy; updated in place
  std::size_t ldy = 0;       ///< >= d_out
  /// Host array, sorted by begin, pairwise disjoint, each within [0, rows).
  std::span<const SgmvSegment> segments;
  /// Host array of factors; the pointers in them, like x and y, are in `residence` memory.
  std::span<const LoraFactors> factors;
  Residence residence = Residence::kHost;
};

/// For every segment s with a = segments[s].adapter >= 0 and every row i in it:
///   y_i += scale_a * B_a (A_a x_i)
/// computed as the two thin products of LoRA, never the dense delta: shrink v_i = A_a x_i
/// (r_a values per row), then expand y_i += scale_a * B_a v_i. Rows outside every segment, and
/// segments with adapter -1, are left as they are. Ranks may differ between adapters.
///
/// Cost: 2 * sum_s n_s * r_a * (d_in + d_out) flops. Memory traffic: X and Y once each (Y read
/// and written), each used adapter's A and B once per segment (the CPU's GEMMs) or once per
/// 16-row tile from L2 (the CUDA kernels), plus v (n * r_max floats, scratch).
///
/// CPU: two OpenBLAS GEMMs per segment (v = X_s A^T, Y_s += scale * v B^T). CUDA: a shrink and an
/// expand kernel over (segment, 16-row tile) work items, A and B tiles in shared memory; with
/// Residence::kHost it uploads X, Y and the factors used, and downloads Y. Returns when Y is
/// written (the CUDA backend synchronizes its stream).
///
/// Preconditions (std::invalid_argument otherwise): ldx >= d_in, ldy >= d_out; segments sorted,
/// disjoint, within [0, rows); every adapter index in [-1, factors.size()); every factor used
/// has rank >= 1 and non-null a and b; Residence::kDevice only on the CUDA backend.
void sgmv(Backend& backend, const SgmvProblem& problem);

}  // namespace murmur::kernels
