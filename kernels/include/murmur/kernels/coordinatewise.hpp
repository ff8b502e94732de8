#pragma once
#include <span>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/detail/coordinatewise_math.hpp"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels {

using detail::ColumnReduce;
using detail::ColumnRule;

/// out[j] = reduce(sorted column j), for every coordinate: the coordinate-wise median,
/// trimmed mean or MeaMed of the rows (unweighted).
///
/// Math: each column's N values are sorted (CPU: Batcher's network across SIMD lanes, one
/// column a lane, for N <= 1024, the ISA picked at run time, std::sort beyond; CUDA: the same
/// network in one thread's registers for N <= 64, CUB's segmented sort beyond), then reduced
/// by detail::reduce_sorted. -0 is read as +0, so the sorted column is unique and both
/// backends give the same bits. Traffic: N*D*4 bytes read once, D*4 written.
/// Preconditions: N >= 1, rows finite (the validation pass removes the others),
/// out.size() == D, and the ColumnReduce preconditions.
void coordinate_reduce(Backend& backend, const RowSource& rows, ColumnReduce reduce,
                       std::span<float> out);

/// coordinate_reduce with the validation pass riding on it: returns, for every row, whether
/// all its values are finite. When every row is, `out` holds coordinate_reduce's result (same
/// bits); otherwise `out` is unspecified and the caller reduces the finite rows again.
/// CPU: one pass (the check is a subtraction and an add per loaded vector). CUDA: row_stats,
/// then coordinate_reduce when every row is finite (two passes, as before).
/// Preconditions: those of coordinate_reduce, less finiteness.
std::vector<bool> coordinate_reduce_checked(Backend& backend, const RowSource& rows,
                                            ColumnReduce reduce, std::span<float> out);

}  // namespace murmur::kernels
