#pragma once
// Entry points of the CUDA backend as the dispatcher sees them: plain C++, no CUDA types, so
// that kernels/src/ compiles with the host compiler alone. Defined only when MURMUR_HAVE_CUDA.
#include <memory>
#include <span>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "murmur/kernels/masks.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/kernels/row_stats.hpp"

namespace murmur::kernels::cuda {

/// Throws BackendUnavailable with the runtime's error text when no device answers.
std::unique_ptr<Backend> make_backend(int device);
CudaStatus status();

std::vector<RowStats> row_stats(Backend& backend, const RowSource& rows);
std::vector<double> squared_distances(Backend& backend, const RowSource& rows,
                                      std::span<const float> z);
std::vector<double> gram(Backend& backend, const RowSource& rows);
void coordinate_reduce(Backend& backend, const RowSource& rows, ColumnReduce reduce,
                       std::span<float> out);
void add_mask(Backend& backend, const MaskSeed& seed, int sign, std::span<std::uint32_t> acc);
void weighted_sum(Backend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out);

}  // namespace murmur::kernels::cuda
