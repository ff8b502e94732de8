#pragma once
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels {

/// The Gram matrix G = X X^T of the rows (N x N, row-major, symmetric), in FP64.
///
/// Math: over tiles of D, G += X_t X_t^T by SYRK, tiles in order, accumulated in FP64. CPU:
/// float SSYRK (OpenBLAS) on 4096-coordinate tiles read in place when the rows are resident
/// and equally spaced, each tile's float Gram added into the FP64 total; CUDA: each tile
/// converted to double and DSYRK (cuBLAS). Pairwise squared distances follow as
/// G_ii + G_jj - 2 G_ij (clamped at zero by the caller), as in faiss's L2 distance.
/// Traffic: N*D*4 bytes read once; N^2*D flops. Memory: N^2*8 bytes plus one tile.
std::vector<double> gram(Backend& backend, const RowSource& rows);

/// gram with the validation pass riding on it: fills finite[i] with whether row i has no NaN
/// or Inf, and returns G. When every row is finite, G has gram()'s bits; otherwise the caller
/// computes the Gram matrix of the finite rows again. CPU: one pass (each tile is checked as
/// it is read, before the SSYRK reads it again from cache). CUDA: row_stats, then gram when
/// every row is finite (two passes).
std::vector<double> gram_checked(Backend& backend, const RowSource& rows,
                                 std::vector<bool>& finite);

}  // namespace murmur::kernels
