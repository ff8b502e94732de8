// A round's candidates scored by linearity (validate_round, ValidationPath::kLinear).
//
// The first layer is where an MLP's flops are (784 inputs), and every candidate's first-layer
// weights are the base model's plus a linear combination of the updates'. With X [rows, in]
// the validation set, W0(.) a model's first-layer weights [out_0, in] and Delta0_i update i's:
//   A_base = X W0(base)^T,  A_S = X float(S0)^T,  G_i = X Delta0_i^T        ([rows, out_0] each)
//   previous   X W0(base)^T                               = A_base
//   global     X W0(global)^T                             (its own GEMM: the round's figure)
//   alone_i    X (base + Delta0_i)^T                      = A_base + G_i
//   without_i  X (base + (S0 - w_i Delta0_i) / R_i)^T     = A_base + (A_S - w_i G_i) / R_i
// with R_i = W - w_i. That is N + 3 GEMM blocks of [rows, in] x [in, out_0] where the direct
// pass does 2N + 2; the combinations cost 3 flops per pre-activation against 2 * in.
//
// Where the subtraction would cancel (w_i > R_i: the update carries more than half the weight,
// at most one update) without_i is scored from its own built first layer instead, one GEMM
// block more. Rounding: A_S - w_i G_i carries the GEMMs' error of |A_S| + w_i |G_i|, at most
// 3 times that of the result's scale when w_i <= R_i.
//
// Then, per candidate and per block of rows: bias b_0 and ReLU, and the remaining layers with
// the candidate's own built parameters through kernels::evaluate_mlp (a one-layer model: the
// softmax cross-entropy of the logits, detail::softmax_xent).
//
// Memory: the three fixed first layers [3 out_0, in], A_base | A_global | A_S for every row,
// one group of max_batch() + 1 update first layers, and blocks of G at most 32 MiB.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "murmur/kernels/detail/batched_mlp_math.hpp"
#include "murmur/model/errors.hpp"
#include "round_plan.hpp"

namespace murmur::model::detail {
namespace {

constexpr std::size_t kActivationBytes = 32u << 20;  // one block of G, as kernels/cpu does
constexpr std::size_t kMinBlockRows = 16;
/// Below this no sum of a base value and a convex combination of update values overflows
/// float (FLT_MAX ~ 3.4e38), so a candidate built from finite rows is finite.
constexpr double kLinearMagnitude = 1e38;

int blas_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(INT_MAX))
    throw ModelError(std::string("validate_round: ") + what + " = " + std::to_string(v) +
                     " exceeds the BLAS int range; use a smaller max_batch or the direct path");
  return static_cast<int>(v);
}

/// c[r, cols] = a[r, in] b[cols, in]^T (row-major, packed).
void gemm_nt(const float* a, std::size_t r, std::size_t in, const float* b, std::size_t cols,
             float* c) {
  const int ir = blas_int(r, "rows"), iin = blas_int(in, "inputs");
  const int icols = blas_int(cols, "first-layer columns");
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ir, icols, iin, 1.0f, a, iin, b, iin, 0.0f,
              c, icols);
}

/// One term of a candidate's pre-activations: coef * src[i * ld + k].
struct Term {
  const float* src;
  std::size_t ld;
  float coef;
};

/// z[i * o + k] = sum_t terms[t].coef * terms[t].src[i * ld_t + k], terms in order (the first
/// term's coefficient is 1), in float: its rounding is far below the GEMMs' over `in` terms.
void combine(const std::vector<Term>& terms, std::size_t r, std::size_t o, float* z) {
  for (std::size_t i = 0; i < r; ++i) {
    float* __restrict zi = z + i * o;
    const float* __restrict s0 = terms[0].src + i * terms[0].ld;
    for (std::size_t k = 0; k < o; ++k) zi[k] = s0[k];
    for (std::size_t t = 1; t < terms.size(); ++t) {
      const float* __restrict s = terms[t].src + i * terms[t].ld;
      const float c = terms[t].coef;
      for (std::size_t k = 0; k < o; ++k) zi[k] += c * s[k];
    }
  }
}

/// One candidate's sums over the rows scored so far.
struct Tally {
  double loss = 0;
  std::size_t correct = 0;
  bool non_finite_parameters = false;
};

/// Scores blocks of rows of one candidate from its first-layer pre-activations.
class TailScorer {
 public:
  TailScorer(kernels::Backend& backend, const MlpShape& shape, const LabelledSet& data)
      : backend_(backend), shape_(shape), data_(data) {
    if (shape.layers() > 1) tail_.widths.assign(shape.widths.begin() + 1, shape.widths.end());
  }

  /// Candidate parameters from b_0 on: this many floats.
  std::size_t tail_size() const { return shape_.parameters() - shape_.bias_offset(0); }

  /// Adds rows [r0, r0 + r) to `t`: z holds their first-layer pre-activations [r, out_0]
  /// (no bias; overwritten), tail the candidate's parameters from b_0 on.
  void add(float* z, std::size_t r0, std::size_t r, const float* tail, Tally& t) const {
    const std::size_t o0 = shape_.out(0);
    const std::int32_t* labels = data_.labels.data() + r0;
    if (shape_.layers() == 1) {  // z are the logits, tail = b_0
      for (std::size_t i = 0; i < r; ++i) {
        const auto y = static_cast<std::size_t>(labels[i]);
        const kernels::detail::XentTerm x = kernels::detail::softmax_xent(z + i * o0, tail, o0, y);
        t.loss += x.loss;
        t.correct += static_cast<std::size_t>(x.argmax) == y;
      }
      return;
    }
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t k = 0; k < o0; ++k)
        z[i * o0 + k] = kernels::detail::bias_relu(z[i * o0 + k], tail[k]);
    const kernels::CandidateScore s = kernels::evaluate_mlp(
        backend_, tail_, {tail + o0, 1, tail_size() - o0}, {z, labels, r, o0})[0];
    if (s.status == kernels::CandidateStatus::kNonFiniteParameters) {
      t.non_finite_parameters = true;
      return;
    }
    t.loss += s.mean_loss * static_cast<double>(r);
    t.correct += s.correct;
  }

 private:
  kernels::Backend& backend_;
  const MlpShape& shape_;
  const LabelledSet& data_;
  MlpShape tail_;  ///< widths[1..]: the layers after the first
};

bool all_finite(const float* v, std::size_t count) {
  bool finite = true;
  for (std::size_t j = 0; j < count; ++j) finite = finite && std::isfinite(v[j]);
  return finite;
}

}  // namespace

bool linear_applies(const CandidateEvaluator& evaluator, const RoundPlan& plan) {
  const auto* mlp = dynamic_cast<const BatchedMlpEvaluator*>(&evaluator);
  if (!mlp || mlp->backend().kind() != kernels::BackendKind::kCpu) return false;
  double largest = 0;
  for (float v : plan.base) {
    if (!std::isfinite(v)) return false;
    largest = std::max(largest, static_cast<double>(std::fabs(v)));
  }
  return largest + plan.max_abs_finite <= kLinearMagnitude;
}

void score_linear(BatchedMlpEvaluator& evaluator, const RoundPlan& plan,
                  std::vector<CandidateScore>& scores, RoundValidation& result) {
  const MlpShape& shape = evaluator.shape();
  const LabelledSet& data = evaluator.data();
  const std::size_t n = plan.n, p = plan.p, in = shape.inputs(), o0 = shape.out(0);
  const std::size_t w0 = o0 * in, t0 = shape.bias_offset(0), rows = data.rows();
  const float* x = data.features.data();
  const TailScorer scorer(evaluator.backend(), shape, data);
  const std::size_t tail = scorer.tail_size();

  // Which candidates are scored here: distinct ones without a non-finite row (the others are
  // marked, as the direct pass marks them).
  std::vector<Tally> tally(plan.count());
  std::vector<std::uint8_t> wanted(plan.count(), 0);
  for (std::size_t c : plan.distinct) {
    if (plan.has_non_finite_row(c))
      tally[c].non_finite_parameters = true;
    else
      wanted[c] = 1;
  }
  // Its tail (b_0 on), built as the direct pass builds it; a non-finite one is marked.
  const auto build_tail = [&](std::size_t c, const float* row, float* dst) {
    plan.fill(c, row, t0, p, dst);
    if (!all_finite(dst, tail)) {
      tally[c].non_finite_parameters = true;
      wanted[c] = 0;
    }
  };

  // The fixed first layers: base, global (when finite), the sum S0 (S, or S without the lone
  // non-finite row, whose leave-one-out mean is the only candidate that needs it then).
  const std::vector<double>* sum = plan.non_finite.empty() ? &plan.sum
                                   : plan.lone_bad < n     ? &plan.sum_without_bad
                                                           : nullptr;
  std::vector<float> fixed(plan.base.begin(), plan.base.begin() + static_cast<std::ptrdiff_t>(w0));
  std::size_t slot_global = 0, slot_sum = 0, slots = 1;
  if (wanted[1]) {
    slot_global = slots++;
    fixed.insert(fixed.end(), plan.global.begin(),
                 plan.global.begin() + static_cast<std::ptrdiff_t>(w0));
  }
  if (sum) {
    slot_sum = slots++;
    for (std::size_t j = 0; j < w0; ++j) fixed.push_back(static_cast<float>((*sum)[j]));
  }
  const std::size_t ld0 = slots * o0;
  std::vector<float> a0(rows * ld0);
  gemm_nt(x, rows, in, fixed.data(), ld0, a0.data());
  ++result.passes;
  const auto a_base = [&](std::size_t r0) { return Term{a0.data() + r0 * ld0, ld0, 1.0f}; };
  const auto a_sum = [&](std::size_t r0, double scale) {
    return Term{a0.data() + r0 * ld0 + slot_sum * o0, ld0, static_cast<float>(scale)};
  };

  std::vector<float> z;
  std::vector<Term> terms;
  const auto block_rows = [&](std::size_t cols) {
    const std::size_t r = std::max(kMinBlockRows, kActivationBytes / (cols * sizeof(float)));
    z.resize(std::min(r, rows) * o0);
    return r;
  };

  // previous, global, and the lone non-finite row's leave-one-out mean.
  {
    std::vector<float> tails(3 * tail);
    const std::size_t bad_without = 2 + n + plan.lone_bad;
    build_tail(0, nullptr, tails.data());
    if (wanted[1]) build_tail(1, nullptr, tails.data() + tail);
    if (plan.lone_bad < n && wanted[bad_without])
      build_tail(bad_without, nullptr, tails.data() + 2 * tail);
    const std::size_t block = block_rows(ld0);
    for (std::size_t r0 = 0; r0 < rows; r0 += block) {
      const std::size_t r = std::min(block, rows - r0);
      const auto score = [&](std::size_t c, const float* tail_c) {
        if (!wanted[c]) return;
        combine(terms, r, o0, z.data());
        scorer.add(z.data(), r0, r, tail_c, tally[c]);
      };
      terms = {a_base(r0)};
      score(0, tails.data());
      terms = {{a0.data() + r0 * ld0 + slot_global * o0, ld0, 1.0f}};
      score(1, tails.data() + tail);
      if (plan.lone_bad < n) {
        terms = {a_base(r0), a_sum(r0, 1.0 / plan.rest(plan.lone_bad))};
        score(bad_without, tails.data() + 2 * tail);
      }
    }
  }

  // The update whose leave-one-out mean is scored from its own built first layer.
  std::size_t heavy = n;
  for (std::size_t i = 0; i < n; ++i)
    if (wanted[2 + n + i] && i != plan.lone_bad && plan.weights[i] > plan.rest(i)) heavy = i;

  // The updates, max_batch() at a time: their first layers stacked (and the heavy one's
  // leave-one-out model after them), one GEMM per block of rows, then each candidate.
  const std::size_t group = std::max<std::size_t>(evaluator.max_batch(), 1);
  detail::RowReader row(*plan.deltas);
  std::vector<float> stack;
  std::vector<float> tails;
  std::vector<std::size_t> members;
  std::vector<float> g;
  for (std::size_t i0 = 0; i0 < n; i0 += group) {
    const std::size_t i1 = std::min(n, i0 + group);
    members.clear();
    bool has_heavy = false;
    for (std::size_t i = i0; i < i1; ++i)
      if (wanted[2 + i]) {
        members.push_back(i);
        has_heavy = has_heavy || i == heavy;
      }
    if (members.empty()) continue;
    const std::size_t m = members.size(), cols = (m + (has_heavy ? 1 : 0)) * o0;
    stack.resize((m + 1) * w0);
    tails.resize(2 * m * tail);
    for (std::size_t k = 0; k < m; ++k) {
      const std::size_t i = members[k];
      const float* d = row(i);
      std::copy(d, d + w0, stack.data() + k * w0);
      build_tail(2 + i, d, tails.data() + 2 * k * tail);
      if (wanted[2 + n + i]) build_tail(2 + n + i, d, tails.data() + (2 * k + 1) * tail);
      if (i == heavy && wanted[2 + n + i]) {
        float* first = stack.data() + m * w0;
        plan.fill(2 + n + i, d, 0, w0, first);
        if (!all_finite(first, w0)) {
          tally[2 + n + i].non_finite_parameters = true;
          wanted[2 + n + i] = 0;
        }
      }
    }
    const std::size_t block = block_rows(cols);
    g.resize(std::min(block, rows) * cols);
    for (std::size_t r0 = 0; r0 < rows; r0 += block) {
      const std::size_t r = std::min(block, rows - r0);
      gemm_nt(x + r0 * in, r, in, stack.data(), cols, g.data());
      for (std::size_t k = 0; k < m; ++k) {
        const std::size_t i = members[k];
        const Term g_i{g.data() + k * o0, cols, 1.0f};
        if (wanted[2 + i]) {
          terms = {a_base(r0), g_i};
          combine(terms, r, o0, z.data());
          scorer.add(z.data(), r0, r, tails.data() + 2 * k * tail, tally[2 + i]);
        }
        const std::size_t c = 2 + n + i;
        if (!wanted[c]) continue;
        if (i == heavy) {
          terms = {{g.data() + m * o0, cols, 1.0f}};
        } else {
          const double rest = plan.rest(i);
          terms = {a_base(r0),
                   a_sum(r0, 1.0 / rest),
                   {g_i.src, cols, static_cast<float>(-plan.weights[i] / rest)}};
        }
        combine(terms, r, o0, z.data());
        scorer.add(z.data(), r0, r, tails.data() + (2 * k + 1) * tail, tally[c]);
      }
    }
    ++result.passes;
  }

  for (std::size_t c : plan.distinct) {
    CandidateScore& s = scores[c];
    s.rows = rows;
    if (tally[c].non_finite_parameters) {
      s.status = CandidateStatus::kNonFiniteParameters;
      s.mean_loss = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    s.mean_loss = tally[c].loss / static_cast<double>(rows);
    s.correct = tally[c].correct;
    s.accuracy = static_cast<double>(s.correct) / static_cast<double>(rows);
    s.status =
        std::isfinite(s.mean_loss) ? CandidateStatus::kScored : CandidateStatus::kNonFiniteLoss;
  }
}

}  // namespace murmur::model::detail
