#pragma once
#include <span>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels {

/// out[j] = sum_i weights[i] * rows[i][j] for every coordinate j of the source.
///
/// Math: each coordinate is accumulated in double, in row order i = 0..N-1, with one explicit
/// fma per row (acc = fma(w_i, x_ij, acc)), then rounded once to float. The summation order is
/// fixed, so the result is bit-identical for any thread count, any tile size and on either
/// backend.
/// Traffic: reads N*D*4 bytes and writes D*4 bytes, once; O(N*D) flops. Memory-bound.
/// Preconditions: weights.size() == rows.rows(), out.size() == rows.cols(); weights finite.
/// N = 0 gives zeros.
void weighted_sum(Backend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out);

/// weighted_sum with the finiteness check riding on it: out as weighted_sum computes it (same
/// bits), and for every row whether all its values are finite. A row with a NaN or Inf makes
/// `out` non-finite where it touches it: the caller then sums the finite rows again. CPU: one
/// pass (each value's x - x added into 8 float lanes per row as it is loaded for its fma).
/// CUDA: row_stats, then weighted_sum (two passes).
/// Preconditions: those of weighted_sum.
std::vector<bool> weighted_sum_checked(Backend& backend, const RowSource& rows,
                                       std::span<const double> weights, std::span<float> out);

}  // namespace murmur::kernels
