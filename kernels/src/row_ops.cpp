// Dispatch of the row-level primitives: validation stats, distances, Gram matrix and the
// coordinate-wise reductions.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "dispatch.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "murmur/kernels/gram.hpp"
#include "murmur/kernels/row_stats.hpp"

namespace murmur::kernels {

std::vector<RowStats> row_stats(Backend& backend, const RowSource& rows) {
  if (backend.kind() == BackendKind::kCpu) return cpu::row_stats(cpu::as_cpu(backend), rows);
  MURMUR_ON_CUDA(return cuda::row_stats(backend, rows));
}

std::vector<double> squared_distances(Backend& backend, const RowSource& rows,
                                      std::span<const float> z) {
  if (z.size() != rows.cols())
    throw std::invalid_argument("squared_distances: vector has " + std::to_string(z.size()) +
                                " coordinates, rows have " + std::to_string(rows.cols()));
  if (backend.kind() == BackendKind::kCpu)
    return cpu::squared_distances(cpu::as_cpu(backend), rows, z);
  MURMUR_ON_CUDA(return cuda::squared_distances(backend, rows, z));
}

std::vector<double> gram(Backend& backend, const RowSource& rows) {
  if (backend.kind() == BackendKind::kCpu) return cpu::gram(cpu::as_cpu(backend), rows);
  MURMUR_ON_CUDA(return cuda::gram(backend, rows));
}

std::vector<double> gram_checked(Backend& backend, const RowSource& rows,
                                 std::vector<bool>& finite) {
  if (backend.kind() == BackendKind::kCpu) return cpu::gram(cpu::as_cpu(backend), rows, &finite);
  // CUDA: the validation pass, then the Gram matrix when every row passed it.
  finite.clear();
  for (const RowStats& s : row_stats(backend, rows)) finite.push_back(s.finite);
  if (std::all_of(finite.begin(), finite.end(), [](bool f) { return f; }))
    return gram(backend, rows);
  return std::vector<double>(rows.rows() * rows.rows(), std::numeric_limits<double>::quiet_NaN());
}

namespace {

void check_reduce(const RowSource& rows, ColumnReduce r, std::span<float> out) {
  const std::size_t n = rows.rows();
  if (n == 0) throw std::invalid_argument("coordinate_reduce: no rows");
  if (out.size() != rows.cols())
    throw std::invalid_argument("coordinate_reduce: output has " + std::to_string(out.size()) +
                                " coordinates, rows have " + std::to_string(rows.cols()));
  if (r.rule == ColumnRule::kTrimmedMean &&
      (r.trim < 0 || 2 * static_cast<std::size_t>(r.trim) >= n))
    throw std::invalid_argument("coordinate_reduce: trimming " + std::to_string(r.trim) +
                                " from each end of " + std::to_string(n) + " rows leaves none");
  if (r.rule == ColumnRule::kMeaMed && (r.keep < 1 || static_cast<std::size_t>(r.keep) > n))
    throw std::invalid_argument("coordinate_reduce: MeaMed keeps " + std::to_string(r.keep) +
                                " of " + std::to_string(n) + " rows");
}

}  // namespace

void coordinate_reduce(Backend& backend, const RowSource& rows, ColumnReduce r,
                       std::span<float> out) {
  check_reduce(rows, r, out);
  if (backend.kind() == BackendKind::kCpu)
    return cpu::coordinate_reduce(cpu::as_cpu(backend), rows, r, out);
  MURMUR_ON_CUDA(return cuda::coordinate_reduce(backend, rows, r, out));
}

std::vector<bool> coordinate_reduce_checked(Backend& backend, const RowSource& rows, ColumnReduce r,
                                            std::span<float> out) {
  check_reduce(rows, r, out);
  if (backend.kind() == BackendKind::kCpu)
    return cpu::coordinate_reduce_checked(cpu::as_cpu(backend), rows, r, out);
  // CUDA: the validation pass, then the reduction when every row passed it.
  std::vector<bool> finite;
  for (const RowStats& s : row_stats(backend, rows)) finite.push_back(s.finite);
  if (std::all_of(finite.begin(), finite.end(), [](bool f) { return f; }))
    coordinate_reduce(backend, rows, r, out);
  return finite;
}

}  // namespace murmur::kernels
