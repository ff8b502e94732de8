#pragma once
// A round's candidate set and each update's contribution (docs/ARCHITECTURE.md §2, step 5).
#include <cstddef>
#include <span>
#include <vector>

#include "murmur/kernels/row_source.hpp"
#include "murmur/model/evaluator.hpp"

namespace murmur::model {

/// One update's part in the round.
struct UpdateContribution {
  CandidateScore alone;    ///< base + delta_i: the update applied by itself
  CandidateScore without;  ///< the leave-one-out mean: the round's aggregate without update i
  /// loss(without) - loss(new global): > 0 when the update lowered the global model's loss.
  /// NaN unless both are scored.
  double contribution = 0;
};

/// How validate_round scores the candidates.
enum class ValidationPath {
  /// Every candidate's first-layer pre-activations as a combination of X W_0(base),
  /// X W_0(global), X W_0(S) and the N products X Delta_0,i (N + 3 GEMM blocks instead of
  /// 2N + 2), the rest of the network per candidate. Used where it can promise kDirect's
  /// statuses (a BatchedMlpEvaluator on the CPU backend, a finite base, |base| + |delta| <=
  /// 1e38); elsewhere (CUDA, TorchScript, ...) validate_round takes kDirect.
  kLinear,
  /// Every candidate built whole and scored by evaluator.evaluate in groups of max_batch():
  /// the reference the linear path is tested against.
  kDirect,
};

/// "linear" or "direct".
const char* to_string(ValidationPath path);

/// Scores of a round's candidates.
struct RoundValidation {
  CandidateScore previous;                  ///< the base model (last accepted global model)
  CandidateScore global;                    ///< the new global model
  std::vector<UpdateContribution> updates;  ///< in the order of the update rows
  std::vector<float> global_parameters;     ///< the new global model's flat vector
  std::size_t candidates = 0;               ///< distinct candidates evaluated (<= 2N + 2)
  /// kDirect: evaluator calls (groups of max_batch()); kLinear: passes over the validation
  /// set (one for previous/global/S, one per max_batch() updates).
  std::size_t passes = 0;
  ValidationPath path = ValidationPath::kDirect;  ///< the path that scored them
};

/// Builds and scores the round's candidates from the base model and N update deltas with
/// weights w_i (e.g. sample counts), FedAvg over the deltas:
///   S = sum_i w_i delta_i,  W = sum_i w_i   (accumulated in double, in row order)
///   previous   = base
///   global     = base + S / W
///   alone_i    = base + delta_i
///   without_i  = base + (S - w_i delta_i) / (W - w_i)   (= base when W - w_i = 0)
/// each rounded once to float. Candidates that are the same model by construction are scored
/// once and share that score, so the record's identities hold exactly whatever the evaluator's
/// GEMMs round: without_i is scored as global when w_i = 0 (a rejected update contributes exactly
/// 0), as previous when w_i is the only weight, and as alone_j when j is the only other weighted
/// update (all rows finite). On the direct path the rest are built and scored in groups of
/// evaluator.max_batch(), so memory is max_batch() * P floats plus S (P doubles).
///
/// Throws ModelError unless base.size() == deltas.d == evaluator.parameters(), and
/// std::invalid_argument unless N >= 1, weights.size() == N, every weight is finite and >= 0
/// and W > 0.
/// Non-finite deltas are allowed: every candidate they enter is reported kNonFiniteParameters.
///
/// `path` (see ValidationPath): kLinear, the default, scores an MLP on the CPU by linearity.
/// Its figures agree with kDirect's to within rounding (the GEMMs add in another order; see
/// model/README.md for the measured agreement), its statuses and aliases exactly:
///   previous = X W0(base), global = X W0(global), both GEMMs of the built models;
///   alone_i    = X W0(base) + X Delta0_i
///   without_i  = X W0(base) + (X S0 - w_i X Delta0_i) / (W - w_i)    when w_i <= W - w_i,
///              = X W0(without_i) (the built model) for the one update, if any, with more than
///                half the weight, whose subtraction would cancel;
///   without_i  = X W0(base) + X S0' / (W - w_i) for the lone non-finite row (S0' without it);
/// then bias, ReLU and the remaining layers (kernels::evaluate_mlp) per candidate with its own
/// built parameters. Memory: (max_batch() + 1) first layers of the updates, X W0 of the three
/// fixed models for every validation row, activations in blocks of at most 32 MiB.
RoundValidation validate_round(CandidateEvaluator& evaluator, std::span<const float> base,
                               kernels::RowsView deltas, std::span<const double> weights,
                               ValidationPath path = ValidationPath::kLinear);

/// The same over rows that need not be resident (e.g. murmurd's spool): each row is read whole
/// when a candidate needs it (kDirect: 4 N row reads in all, kLinear 3 N; N - 1 more when
/// exactly one row is non-finite), so memory is one row on top of the above.
RoundValidation validate_round(CandidateEvaluator& evaluator, std::span<const float> base,
                               const kernels::RowSource& deltas, std::span<const double> weights,
                               ValidationPath path = ValidationPath::kLinear);

}  // namespace murmur::model
