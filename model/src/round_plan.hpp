#pragma once
// What both ways of scoring a round share (round_validation.cpp: the direct batched pass;
// round_validation_linear.cpp: the first layer by linearity): the checked arguments, the
// weighted sums, the non-finite rows, each candidate's parameter formula and which candidates
// are the same model by construction.
#include <cstddef>
#include <span>
#include <vector>

#include "murmur/kernels/row_source.hpp"
#include "murmur/model/round_validation.hpp"

namespace murmur::model::detail {

/// Row i of a RowSource whole: the row itself when resident, else a copy in one reused buffer
/// (valid until the next call).
class RowReader {
 public:
  explicit RowReader(const kernels::RowSource& rows) : rows_(rows) {}
  const float* operator()(std::size_t i) {
    if (const float* resident = rows_.resident_row(i)) return resident;
    buffer_.resize(rows_.cols());
    rows_.read_row(i, 0, rows_.cols(), buffer_.data());
    return buffer_.data();
  }

 private:
  const kernels::RowSource& rows_;
  std::vector<float> buffer_;
};

/// The round's candidates, numbered c = 0 previous, 1 global, 2 + i alone_i, 2 + n + i
/// without_i, and the sums their parameters are made of.
struct RoundPlan {
  std::size_t n = 0, p = 0;
  std::span<const float> base;
  const kernels::RowSource* deltas = nullptr;
  std::span<const double> weights;
  double total = 0;                     ///< W = sum_i w_i
  std::vector<double> sum;              ///< S_j = sum_i w_i delta_ij (double, row order)
  std::vector<std::size_t> non_finite;  ///< rows with a NaN or Inf
  std::size_t lone_bad = 0;  ///< the one non-finite row when there is exactly one, else n
  std::vector<double> sum_without_bad;  ///< S without row lone_bad (empty unless lone_bad < n)
  double max_abs_finite = 0;            ///< max |delta_ij| over the finite rows
  std::vector<float> global;            ///< float(base + S / W)
  std::vector<std::size_t> source;      ///< candidate whose score c takes (source[c] == c: built)
  std::vector<std::size_t> distinct;    ///< the c with source[c] == c, in order

  std::size_t count() const { return 2 * n + 2; }
  /// W - w_i: the weight left without update i.
  double rest(std::size_t i) const { return total - weights[i]; }
  /// Whether candidate c contains a non-finite row (then its parameters are not all finite).
  bool has_non_finite_row(std::size_t c) const;
  /// Coordinates [begin, end) of candidate c's flat vector into dst[0 .. end - begin):
  ///   previous base, global float(base + S / W), alone_i float(base + delta_i),
  ///   without_i float(base + (S - w_i delta_i) / (W - w_i)) (S without row i's sum when i is
  ///   the lone non-finite row), all in double before the one rounding. `row` is delta_i whole
  ///   (alone_i and without_i but the lone non-finite row's; ignored otherwise).
  void fill(std::size_t c, const float* row, std::size_t begin, std::size_t end, float* dst) const;
};

/// Checks the arguments (ModelError / std::invalid_argument as validate_round documents),
/// accumulates the sums (2 N row reads, N - 1 more when exactly one row is non-finite) and
/// decides which candidates alias which.
RoundPlan plan_round(const CandidateEvaluator& evaluator, std::span<const float> base,
                     const kernels::RowSource& deltas, std::span<const double> weights);

/// The scores of the distinct candidates (scores[c] for c in plan.distinct) by linearity;
/// sets result.passes. Preconditions (validate_round checks them): linear_applies(...).
void score_linear(BatchedMlpEvaluator& evaluator, const RoundPlan& plan,
                  std::vector<CandidateScore>& scores, RoundValidation& result);

/// Whether score_linear can score this round exactly as the direct pass would mark it: a
/// BatchedMlpEvaluator on the CPU backend, a finite base, and |base| + |delta| small enough
/// (<= 1e38) that no candidate built from finite rows can overflow to Inf when rounded to
/// float, so a candidate's parameters are non-finite exactly when it contains a non-finite row.
bool linear_applies(const CandidateEvaluator& evaluator, const RoundPlan& plan);

}  // namespace murmur::model::detail
