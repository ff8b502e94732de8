#pragma once
#include <span>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels {

/// What the validation pass learns of one row.
struct RowStats {
  bool finite = true;         ///< no NaN or Inf anywhere in the row
  double squared_norm = 0.0;  ///< sum of x_j^2 in double (NaN or Inf when not finite)
};

/// One pass over the rows: finiteness and squared L2 norm of each. A row with a NaN or Inf
/// coordinate has a non-finite sum of squares (squares are taken in double, so no finite
/// float overflows), which is how it is detected.
/// Traffic: N*D*4 bytes read. Deterministic for a given backend and N.
std::vector<RowStats> row_stats(Backend& backend, const RowSource& rows);

/// One pass: ||x_i - z||^2 for every row i, in double. Precondition: z.size() == rows.cols().
std::vector<double> squared_distances(Backend& backend, const RowSource& rows,
                                      std::span<const float> z);

}  // namespace murmur::kernels
