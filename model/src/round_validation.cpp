#include "murmur/model/round_validation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "murmur/model/errors.hpp"

namespace murmur::model {

RoundValidation validate_round(CandidateEvaluator& evaluator, std::span<const float> base,
                               kernels::RowsView deltas, std::span<const double> weights) {
  if (deltas.d != evaluator.parameters())
    throw ModelError("validate_round: updates have " + std::to_string(deltas.d) + " parameters, " +
                     evaluator.describe() + " has " + std::to_string(evaluator.parameters()) +
                     ": they were made for a different model");
  return validate_round(evaluator, base, kernels::MemoryRowSource(deltas), weights);
}

RoundValidation validate_round(CandidateEvaluator& evaluator, std::span<const float> base,
                               const kernels::RowSource& deltas, std::span<const double> weights) {
  const std::size_t p = evaluator.parameters(), n = deltas.rows();
  if (base.size() != p)
    throw ModelError("validate_round: the base model has " + std::to_string(base.size()) +
                     " parameters, " + evaluator.describe() + " has " + std::to_string(p));
  if (deltas.cols() != p)
    throw ModelError("validate_round: updates have " + std::to_string(deltas.cols()) +
                     " parameters, " + evaluator.describe() + " has " + std::to_string(p) +
                     ": they were made for a different model");
  if (n == 0) throw std::invalid_argument("validate_round: no updates");
  if (weights.size() != n)
    throw std::invalid_argument("validate_round: " + std::to_string(weights.size()) +
                                " weights for " + std::to_string(n) + " updates");
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0)
      throw std::invalid_argument("validate_round: weight " + std::to_string(i) + " is " +
                                  std::to_string(weights[i]) + ", must be finite and >= 0");
    total += weights[i];
  }
  if (!(total > 0)) throw std::invalid_argument("validate_round: the weights sum to 0");

  // Row i in memory: itself when resident, else read whole into `row_buffer` (P floats).
  std::vector<float> row_buffer;
  const auto row = [&](std::size_t i) -> const float* {
    if (const float* resident = deltas.resident_row(i)) return resident;
    row_buffer.resize(p);
    deltas.read_row(i, 0, p, row_buffer.data());
    return row_buffer.data();
  };

  // S_j = sum_i w_i delta_ij, in double and in row order (fixed, so reproducible).
  const auto accumulate = [&](std::size_t skip) {
    std::vector<double> s(p, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      if (i == skip) continue;
      const float* d = row(i);
      for (std::size_t j = 0; j < p; ++j)
        s[j] = std::fma(weights[i], static_cast<double>(d[j]), s[j]);
    }
    return s;
  };
  const std::vector<double> sum = accumulate(n);
  // A non-finite delta makes S non-finite, and S - w_i delta_i cannot take it out again: when
  // exactly one row is non-finite, its leave-one-out mean gets its own sum without it. (Every
  // other candidate containing it is non-finite, as it should be.)
  std::vector<std::size_t> non_finite;
  for (std::size_t i = 0; i < n; ++i) {
    const float* d = row(i);
    if (!std::all_of(d, d + p, [](float v) { return std::isfinite(v); })) non_finite.push_back(i);
  }
  const std::size_t lone_bad = non_finite.size() == 1 ? non_finite[0] : n;
  const std::vector<double> sum_without_bad =
      lone_bad < n ? accumulate(lone_bad) : std::vector<double>();
  RoundValidation result;
  result.global_parameters.resize(p);
  for (std::size_t j = 0; j < p; ++j)
    result.global_parameters[j] = static_cast<float>(static_cast<double>(base[j]) + sum[j] / total);

  // Candidate c: 0 previous, 1 global, 2 + i alone_i, 2 + n + i without_i.
  const std::size_t count = 2 * n + 2;
  const auto fill = [&](std::size_t c, float* dst) {
    if (c == 0) {
      std::copy(base.begin(), base.end(), dst);
    } else if (c == 1) {
      std::copy(result.global_parameters.begin(), result.global_parameters.end(), dst);
    } else if (c < 2 + n) {
      const float* d = row(c - 2);
      for (std::size_t j = 0; j < p; ++j)
        dst[j] = static_cast<float>(static_cast<double>(base[j]) + static_cast<double>(d[j]));
    } else {
      const std::size_t i = c - 2 - n;
      const double rest = total - weights[i];  // > 0: otherwise it is scored as previous
      if (i == lone_bad) {
        for (std::size_t j = 0; j < p; ++j)
          dst[j] = static_cast<float>(static_cast<double>(base[j]) + sum_without_bad[j] / rest);
        return;
      }
      const float* d = row(i);
      for (std::size_t j = 0; j < p; ++j)
        dst[j] =
            static_cast<float>(static_cast<double>(base[j]) +
                               std::fma(-weights[i], static_cast<double>(d[j]), sum[j]) / rest);
    }
  };

  // Candidates that are the same model by construction are scored once, so that the identities
  // the round record states hold exactly, whatever the evaluator's GEMMs round (a batched GEMM
  // may round a row differently by its position in the batch):
  //   without_i = global     when w_i = 0 (the rule rejected update i: it contributes exactly 0)
  //   without_i = previous   when w_i is the only weight (nothing is left without it)
  //   without_i = alone_j    when j is the only other update with a weight (all rows finite)
  // source[c] is the candidate whose score c takes; only candidates with source[c] == c are built.
  std::vector<std::size_t> source(count);
  for (std::size_t c = 0; c < count; ++c) source[c] = c;
  std::size_t weighted = 0;
  for (std::size_t i = 0; i < n; ++i) weighted += weights[i] > 0 ? 1 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t& s = source[2 + n + i];
    if (!(total - weights[i] > 0)) {
      s = 0;
    } else if (weights[i] == 0 && i != lone_bad) {
      s = 1;
    } else if (weighted == 2 && weights[i] > 0 && non_finite.empty()) {
      for (std::size_t j = 0; j < n; ++j)
        if (j != i && weights[j] > 0) s = 2 + j;
    }
  }
  std::vector<std::size_t> distinct;
  for (std::size_t c = 0; c < count; ++c)
    if (source[c] == c) distinct.push_back(c);

  std::vector<CandidateScore> scores(count);
  const std::size_t group = std::max<std::size_t>(evaluator.max_batch(), 1);
  std::vector<float> buffer(std::min(group, distinct.size()) * p);
  for (std::size_t k0 = 0; k0 < distinct.size(); k0 += group) {
    const std::size_t g = std::min(group, distinct.size() - k0);
    for (std::size_t k = 0; k < g; ++k) fill(distinct[k0 + k], buffer.data() + k * p);
    const std::vector<CandidateScore> part =
        evaluator.evaluate(std::span<const float>(buffer.data(), g * p));
    for (std::size_t k = 0; k < g; ++k) scores[distinct[k0 + k]] = part.at(k);
    ++result.passes;
  }
  for (std::size_t c = 0; c < count; ++c) scores[c] = scores[source[c]];

  result.candidates = distinct.size();
  result.previous = scores[0];
  result.global = scores[1];
  result.updates.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    UpdateContribution& u = result.updates[i];
    u.alone = scores[2 + i];
    u.without = scores[2 + n + i];
    u.contribution = u.without.valid() && result.global.valid()
                         ? u.without.mean_loss - result.global.mean_loss
                         : std::numeric_limits<double>::quiet_NaN();
  }
  return result;
}

}  // namespace murmur::model
