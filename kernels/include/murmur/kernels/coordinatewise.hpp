#pragma once
#include <span>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/detail/coordinatewise_math.hpp"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels {

using detail::ColumnReduce;
using detail::ColumnRule;

/// out[j] = reduce(sorted column j), for every coordinate: the coordinate-wise median,
/// trimmed mean or MeaMed of the rows (unweighted).
///
/// Math: each column's N values are sorted (a sorting network across SIMD lanes or CUDA
/// threads for N <= 64; std::sort / CUB segmented sort beyond), then reduced by
/// detail::reduce_sorted. -0 is read as +0, so the sorted column is unique and both backends
/// give the same bits. Traffic: N*D*4 bytes read once, D*4 written.
/// Preconditions: N >= 1, rows finite (the validation pass removes the others),
/// out.size() == D, and the ColumnReduce preconditions.
void coordinate_reduce(Backend& backend, const RowSource& rows, ColumnReduce reduce,
                       std::span<float> out);

}  // namespace murmur::kernels
