#pragma once
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/kernels/rules.hpp"

namespace murmur::kernels {

/// A rule's preconditions do not hold for this input (e.g. Krum with n < 2f + 3 once the
/// non-finite rows are gone, or every row non-finite). The message says which and why.
class AggregationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What became of one input row.
enum class Verdict {
  kKept,               ///< contributed to the aggregate
  kRejectedNonFinite,  ///< had a NaN or Inf: never reached the rule's arithmetic
  kRejectedByRule,     ///< finite, but the rule left it out (Krum family)
};

const char* to_string(Verdict v);

/// Per-row diagnostics, in input row order; the server flags outliers from them.
struct RowDiagnostic {
  Verdict verdict = Verdict::kKept;
  /// The row's coefficient in the aggregate when the rule is a combination of rows (weighted
  /// mean, Krum family, geometric median, centered clipping); NaN for coordinate-wise rules.
  double weight = std::numeric_limits<double>::quiet_NaN();
  /// The rule's own score: Krum score (lower is better); geometric median's and centered
  /// clipping's final factor on the row (1 = untouched, small = pulled in); WeightedMean's
  /// clipping factor; for coordinate-wise rules, distance / median distance of finite rows.
  double score = std::numeric_limits<double>::quiet_NaN();
  /// ||x_i - aggregate|| (NaN for non-finite rows, or when spec.distances is off).
  double distance = std::numeric_limits<double>::quiet_NaN();
};

struct AggregationReport {
  std::string rule;                 ///< describe(spec)
  std::vector<RowDiagnostic> rows;  ///< one per input row
  std::size_t passes = 0;           ///< passes made over the rows (validation included)
  std::size_t finite_rows = 0;
};

/// Runs `spec` over the rows of `source` with `sample_counts` as FedAvg weights, writing the
/// aggregate to `out` (D floats) and returning what happened to every row.
///
/// Order of work: a validation pass drops rows with NaN/Inf; pre-aggregation steps mix the
/// remaining rows (their mixing is computed tile by tile, never materialised); the rule runs
/// (1 pass, or 2 for rules that need the Gram matrix); a last pass measures every row's
/// distance to the aggregate (unless spec.distances is off). Deterministic: the same bits for any
/// thread count and, for the rows sorted by client id, any arrival order. Preconditions:
/// sample_counts.size() == source.rows() with finite positive entries, out.size() == source.cols().
/// Throws AggregationError when the rule cannot apply.
AggregationReport aggregate(Backend& backend, const RowSource& source,
                            std::span<const double> sample_counts, const AggregationSpec& spec,
                            std::span<float> out);

/// Sums the per-row statistics of a sharded aggregation across its coordinate ranges: each
/// range holds every row restricted to its own contiguous columns, and a row's finiteness, squared
/// norm, Gram entries and distance to the aggregate are sums over the ranges.
class RangeReducer {
 public:
  virtual ~RangeReducer() = default;
  /// Replaces `values` (this range's partial sums) by their element-wise sum over every range,
  /// leaving the same bits on every range's caller (murmur::shard sums an allgather in range
  /// order). Collective: every range makes the same calls, in the same order, with the same
  /// length. Throws when the sum cannot be had (e.g. a peer is gone); aggregate_range passes
  /// the exception on.
  virtual void sum(std::span<double> values) = 0;
};

/// aggregate() for one coordinate range of the rows: `range` holds every row's columns of this
/// range only, `out` receives this range's part of the aggregate (range.cols() floats). The
/// statistics that span all coordinates (finiteness flags, squared norms, the FP64 Gram matrix,
/// distances to the aggregate) are this range's partial sums handed to `reducer` before use, so
/// every range takes the same decisions (rows dropped, selected, clipped; coefficients) from
/// the same bits. Per-coordinate work (sums, coordinate-wise reductions) is aggregate()'s own,
/// so ranges concatenated give aggregate()'s bits for the unclipped weighted mean and the
/// coordinate-wise rules; statistics summed by range are a different association of FP64 sums
/// than one pass over all columns. One range with a reducer that leaves its input as it is
/// is aggregate() itself. Same preconditions and errors as aggregate().
AggregationReport aggregate_range(Backend& backend, const RowSource& range,
                                  std::span<const double> sample_counts,
                                  const AggregationSpec& spec, RangeReducer& reducer,
                                  std::span<float> out);

}  // namespace murmur::kernels
