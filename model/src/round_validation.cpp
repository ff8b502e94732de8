// A round's candidate set (round_plan.hpp) and its direct scoring: every distinct candidate
// built whole and scored by the evaluator in groups of max_batch(). The linear path is in
// round_validation_linear.cpp.
#include "murmur/model/round_validation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "murmur/model/errors.hpp"
#include "round_plan.hpp"

namespace murmur::model {
namespace detail {
namespace {

/// s[j] = fma(w, d[j], s[j]) for j < p. fma rounds once either way; the "fma" clone (picked
/// when the program loads, where the CPU has FMA) runs it as vector instructions instead of a
/// libm call per element, so the sums are the same bits on every machine.
[[gnu::target_clones("fma", "default")]] void add_scaled(double w, const float* d, double* s,
                                                         std::size_t p) {
  for (std::size_t j = 0; j < p; ++j) s[j] = std::fma(w, static_cast<double>(d[j]), s[j]);
}

/// dst[j - begin] = float(base[j] + fma(-w, row[j], sum[j]) / rest) for j in [begin, end): a
/// leave-one-out mean, cloned like add_scaled (the same bits with or without FMA).
[[gnu::target_clones("fma", "default")]] void leave_one_out(const float* base, const float* row,
                                                            const double* sum, double w,
                                                            double rest, std::size_t begin,
                                                            std::size_t end, float* dst) {
  for (std::size_t j = begin; j < end; ++j)
    dst[j - begin] = static_cast<float>(static_cast<double>(base[j]) +
                                        std::fma(-w, static_cast<double>(row[j]), sum[j]) / rest);
}

}  // namespace

bool RoundPlan::has_non_finite_row(std::size_t c) const {
  if (c == 0) return false;
  if (c == 1) return !non_finite.empty();
  if (c < 2 + n) return std::find(non_finite.begin(), non_finite.end(), c - 2) != non_finite.end();
  const std::size_t i = c - 2 - n;
  for (std::size_t bad : non_finite)
    if (bad != i) return true;
  return false;
}

void RoundPlan::fill(std::size_t c, const float* row, std::size_t begin, std::size_t end,
                     float* dst) const {
  if (c == 0) {
    std::copy(base.begin() + static_cast<std::ptrdiff_t>(begin),
              base.begin() + static_cast<std::ptrdiff_t>(end), dst);
  } else if (c == 1) {
    std::copy(global.begin() + static_cast<std::ptrdiff_t>(begin),
              global.begin() + static_cast<std::ptrdiff_t>(end), dst);
  } else if (c < 2 + n) {
    for (std::size_t j = begin; j < end; ++j)
      dst[j - begin] =
          static_cast<float>(static_cast<double>(base[j]) + static_cast<double>(row[j]));
  } else {
    const std::size_t i = c - 2 - n;
    const double r = rest(i);  // > 0: otherwise it is scored as previous
    if (i == lone_bad) {
      for (std::size_t j = begin; j < end; ++j)
        dst[j - begin] = static_cast<float>(static_cast<double>(base[j]) + sum_without_bad[j] / r);
      return;
    }
    leave_one_out(base.data(), row, sum.data(), weights[i], r, begin, end, dst);
  }
}

RoundPlan plan_round(const CandidateEvaluator& evaluator, std::span<const float> base,
                     const kernels::RowSource& deltas, std::span<const double> weights) {
  RoundPlan plan;
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
  plan.n = n;
  plan.p = p;
  plan.base = base;
  plan.deltas = &deltas;
  plan.weights = weights;
  plan.total = total;

  RowReader row(deltas);
  // S_j = sum_i w_i delta_ij, in double and in row order (fixed, so reproducible).
  const auto accumulate = [&](std::size_t skip) {
    std::vector<double> s(p, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      if (i == skip) continue;
      add_scaled(weights[i], row(i), s.data(), p);
    }
    return s;
  };
  plan.sum = accumulate(n);
  // A non-finite delta makes S non-finite, and S - w_i delta_i cannot take it out again: when
  // exactly one row is non-finite, its leave-one-out mean gets its own sum without it. (Every
  // other candidate containing it is non-finite, as it should be.)
  for (std::size_t i = 0; i < n; ++i) {
    const float* d = row(i);
    float largest = 0;
    bool finite = true;
    for (std::size_t j = 0; j < p; ++j) {
      finite = finite && std::isfinite(d[j]);
      largest = std::max(largest, std::fabs(d[j]));  // NaN does not win a max
    }
    if (!finite)
      plan.non_finite.push_back(i);
    else
      plan.max_abs_finite = std::max(plan.max_abs_finite, static_cast<double>(largest));
  }
  plan.lone_bad = plan.non_finite.size() == 1 ? plan.non_finite[0] : n;
  if (plan.lone_bad < n) plan.sum_without_bad = accumulate(plan.lone_bad);
  plan.global.resize(p);
  for (std::size_t j = 0; j < p; ++j)
    plan.global[j] = static_cast<float>(static_cast<double>(base[j]) + plan.sum[j] / total);

  // Candidates that are the same model by construction are scored once, so that the identities
  // the round record states hold exactly, whatever the evaluator's GEMMs round (a batched GEMM
  // may round a row differently by its position in the batch):
  //   without_i = global     when w_i = 0 (the rule rejected update i: it contributes exactly 0)
  //   without_i = previous   when w_i is the only weight (nothing is left without it)
  //   without_i = alone_j    when j is the only other update with a weight (all rows finite)
  // source[c] is the candidate whose score c takes; only candidates with source[c] == c are built.
  plan.source.resize(plan.count());
  for (std::size_t c = 0; c < plan.count(); ++c) plan.source[c] = c;
  std::size_t weighted = 0;
  for (std::size_t i = 0; i < n; ++i) weighted += weights[i] > 0 ? 1 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t& s = plan.source[2 + n + i];
    if (!(plan.rest(i) > 0)) {
      s = 0;
    } else if (weights[i] == 0 && i != plan.lone_bad) {
      s = 1;
    } else if (weighted == 2 && weights[i] > 0 && plan.non_finite.empty()) {
      for (std::size_t j = 0; j < n; ++j)
        if (j != i && weights[j] > 0) s = 2 + j;
    }
  }
  for (std::size_t c = 0; c < plan.count(); ++c)
    if (plan.source[c] == c) plan.distinct.push_back(c);
  return plan;
}

}  // namespace detail

const char* to_string(ValidationPath path) {
  return path == ValidationPath::kLinear ? "linear" : "direct";
}

RoundValidation validate_round(CandidateEvaluator& evaluator, std::span<const float> base,
                               kernels::RowsView deltas, std::span<const double> weights,
                               ValidationPath path) {
  if (deltas.d != evaluator.parameters())
    throw ModelError("validate_round: updates have " + std::to_string(deltas.d) + " parameters, " +
                     evaluator.describe() + " has " + std::to_string(evaluator.parameters()) +
                     ": they were made for a different model");
  return validate_round(evaluator, base, kernels::MemoryRowSource(deltas), weights, path);
}

RoundValidation validate_round(CandidateEvaluator& evaluator, std::span<const float> base,
                               const kernels::RowSource& deltas, std::span<const double> weights,
                               ValidationPath path) {
  const detail::RoundPlan plan = detail::plan_round(evaluator, base, deltas, weights);
  const std::size_t n = plan.n, p = plan.p, count = plan.count();
  RoundValidation result;
  result.global_parameters = plan.global;

  std::vector<CandidateScore> scores(count);
  if (path == ValidationPath::kLinear && detail::linear_applies(evaluator, plan)) {
    result.path = ValidationPath::kLinear;
    detail::score_linear(dynamic_cast<BatchedMlpEvaluator&>(evaluator), plan, scores, result);
  } else {
    // The direct pass: each distinct candidate built whole, max_batch() at a time.
    result.path = ValidationPath::kDirect;
    detail::RowReader row(deltas);
    const auto fill = [&](std::size_t c, float* dst) {
      const bool needs_row = c >= 2 && !(c >= 2 + n && c - 2 - n == plan.lone_bad);
      plan.fill(c, needs_row ? row(c < 2 + n ? c - 2 : c - 2 - n) : nullptr, 0, p, dst);
    };
    const std::size_t group = std::max<std::size_t>(evaluator.max_batch(), 1);
    const std::vector<std::size_t>& distinct = plan.distinct;
    std::vector<float> buffer(std::min(group, distinct.size()) * p);
    for (std::size_t k0 = 0; k0 < distinct.size(); k0 += group) {
      const std::size_t g = std::min(group, distinct.size() - k0);
      for (std::size_t k = 0; k < g; ++k) fill(distinct[k0 + k], buffer.data() + k * p);
      const std::vector<CandidateScore> part =
          evaluator.evaluate(std::span<const float>(buffer.data(), g * p));
      for (std::size_t k = 0; k < g; ++k) scores[distinct[k0 + k]] = part.at(k);
      ++result.passes;
    }
  }
  for (std::size_t c = 0; c < count; ++c) scores[c] = scores[plan.source[c]];

  result.candidates = plan.distinct.size();
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
