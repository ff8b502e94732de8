#pragma once
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels {

/// The Gram matrix G = X X^T of the rows (N x N, row-major, symmetric), in FP64.
///
/// Math: over tiles of D, G += X_t X_t^T, tiles in order, accumulated in FP64. CPU: the
/// project's own kernel (kernels/cpu/gram_tile.hpp) on 1024-coordinate tiles read in place when
/// the rows are resident and equally spaced: per pair, eight float lanes of fma (at most 128
/// terms each) summed in double in a fixed order, tiles in parallel and their partials added in
/// tile order, so the same bits for any thread count and SIMD choice (AVX2 or portable); CUDA:
/// each tile converted to double and DSYRK (cuBLAS): CPU and CUDA agree within tolerance. Pairwise
/// squared distances follow as G_ii + G_jj - 2 G_ij (clamped at zero by the caller), as in faiss's
/// L2 distance. Traffic: N*D*4 bytes read once; N^2*D flops. Memory: N^2*8 bytes, plus on the CPU
/// the partials of the tiles of one chunk (N^2*8 bytes a tile, about 2048/N tiles: at most max(16
/// KiB*N, N^2*8) bytes) and, for rows that are not resident, the chunk's copy (about max(8 MiB,
/// N*4 KiB)).
std::vector<double> gram(Backend& backend, const RowSource& rows);

/// gram with the validation pass riding on it: fills finite[i] with whether row i has no NaN
/// or Inf, and returns G. When every row is finite, G has gram()'s bits; otherwise the caller
/// computes the Gram matrix of the finite rows again. CPU: one pass (a row with a NaN or an
/// Inf has a non-finite diagonal entry; only rows whose diagonal is not finite are scanned). CUDA:
/// row_stats, then gram when every row is finite (two passes).
std::vector<double> gram_checked(Backend& backend, const RowSource& rows,
                                 std::vector<bool>& finite);

}  // namespace murmur::kernels
