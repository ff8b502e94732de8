#pragma once
// murmurd's validation step (docs/ARCHITECTURE.md §2, step 5): after aggregation, the round's
// candidates (previous model, new global model, each update alone, each leave-one-out mean) are
// scored on the task's validation set, and each update gets its contribution to the global
// model's loss. The updates are read from the spool through a RowSource, as the aggregation
// reads them.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "murmur/kernels/aggregate.hpp"
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/row_source.hpp"
#include "murmur/model/evaluator.hpp"
#include "murmur/model/labelled_set.hpp"
#include "murmur/model/round_validation.hpp"
#include "murmur/model/script_model.hpp"
#include "murmur/server/config.hpp"

namespace murmur::server {

/// Which weights the leave-one-out means use (see contribution_weights).
enum class ContributionWeights { kRule, kSamples };
const char* to_string(ContributionWeights w);

/// What validating one round found.
struct RoundFigures {
  model::CandidateScore previous;   ///< the model the round started from
  model::CandidateScore candidate;  ///< the new global model, as the rule aggregated it
  /// Per update, in row order: alone, without it, contribution = loss(without) - loss(mean),
  /// where "mean" is the weighted mean the leave-one-out means are taken against (equal to the
  /// candidate when the weights are the rule's own coefficients).
  std::vector<model::UpdateContribution> updates;
  ContributionWeights weights = ContributionWeights::kSamples;
  std::size_t candidates = 0;  ///< scored, 2N + 2 (+ 1 when the candidate is not the mean)
  std::size_t passes = 0;      ///< evaluator calls
  double seconds = 0;
};

/// The weights of each update in the leave-one-out means: the rule's coefficients when the rule
/// is a combination of rows (weighted mean, Krum family, geometric median, centered clipping:
/// every kept row has a finite weight; a rejected row weighs 0, so leaving it out changes
/// nothing and its contribution is 0), else (coordinate-wise rules) the sample counts, i.e.
/// contributions as FedAvg would see them.
std::pair<std::vector<double>, ContributionWeights> contribution_weights(
    const kernels::AggregationReport& report, std::span<const double> sample_counts);

/// The task's model and validation set, loaded once at startup.
class RoundValidator {
 public:
  /// Loads the set and the model named by `config`, keeps a reference to `backend` (which must
  /// outlive the validator). Throws std::runtime_error (model::ModelError / DataError inside)
  /// naming the file or key when a file does not load, the set does not fit the model, or the
  /// model does not have `parameters` parameters (the task's D).
  RoundValidator(const ValidationConfig& config, kernels::Backend& backend, std::size_t parameters);
  ~RoundValidator();
  RoundValidator(const RoundValidator&) = delete;
  RoundValidator& operator=(const RoundValidator&) = delete;

  /// Scores the round: base (the previous global model), candidate (the rule's new global
  /// model), the N update deltas and their weights (contribution_weights). Costs 2N + 2
  /// candidate evaluations (one more when the candidate differs from the weighted mean) and
  /// about 3N row reads. Throws as model::validate_round does.
  RoundFigures validate(std::span<const float> base, std::span<const float> candidate,
                        const kernels::RowSource& deltas, std::span<const double> weights,
                        ContributionWeights kind);

  /// Scores the previous model and the candidate only (no update, no contribution): what a shard
  /// set's coordinator measures, which assembles the whole model but holds none of the updates
  /// (docs/sharding.md). Throws as validate does.
  RoundFigures score(std::span<const float> base, std::span<const float> candidate);

  /// e.g. "MLP 784-128-10 on cpu: ... on 10000 x 28x28, 10 classes".
  std::string describe() const;
  std::size_t rows() const { return data_.rows(); }

 private:
  model::LabelledSet data_;
  std::optional<model::ScriptModel> script_;
  std::unique_ptr<model::CandidateEvaluator> evaluator_;
};

}  // namespace murmur::server
