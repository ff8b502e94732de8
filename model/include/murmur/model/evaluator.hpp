#pragma once
// Scoring candidate parameter vectors on one validation set.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/model/labelled_set.hpp"
#include "murmur/model/mlp_spec.hpp"

namespace murmur::model {

using kernels::CandidateScore;
using kernels::CandidateStatus;

/// Scores candidates of one model on one labelled set. Implementations: BatchedMlpEvaluator
/// (K at once, kernels/batched_mlp) and ScriptModelEvaluator (one at a time, libtorch).
class CandidateEvaluator {
 public:
  virtual ~CandidateEvaluator() = default;
  /// Floats per candidate.
  virtual std::size_t parameters() const = 0;
  /// How many candidates one evaluate() call should get at most (memory), >= 1.
  virtual std::size_t max_batch() const = 0;
  /// e.g. "MLP 784-128-10 on cpu: 2 threads, x86-64-v3".
  virtual std::string describe() const = 0;
  /// Scores K = packed.size() / parameters() candidates stored one after another. A
  /// candidate with a non-finite parameter gets status kNonFiniteParameters, the others are
  /// scored. Throws ModelError when packed.size() is not a multiple of parameters().
  virtual std::vector<CandidateScore> evaluate(std::span<const float> packed) = 0;
};

/// The candidates one after another, each checked to have evaluator.parameters() floats
/// (ModelError naming the first that has not).
std::vector<float> stack_candidates(const CandidateEvaluator& evaluator,
                                    const std::vector<std::vector<float>>& candidates);

/// An MLP's candidates scored K at a time in one batched pass (kernels::evaluate_mlp) on the
/// given backend. Keeps references to `backend` and `data`: both must outlive it.
class BatchedMlpEvaluator final : public CandidateEvaluator {
 public:
  /// Throws ModelError if the shape is invalid or does not take data.cols() features, and
  /// DataError if a label is outside [0, classes).
  BatchedMlpEvaluator(kernels::Backend& backend, MlpShape shape, const LabelledSet& data,
                      std::size_t max_batch = 64);

  std::size_t parameters() const override { return parameters_; }
  std::size_t max_batch() const override { return max_batch_; }
  std::string describe() const override;
  std::vector<CandidateScore> evaluate(std::span<const float> packed) override;

  const MlpShape& shape() const noexcept { return shape_; }
  kernels::Backend& backend() const noexcept { return backend_; }
  const LabelledSet& data() const noexcept { return data_; }

 private:
  kernels::Backend& backend_;
  MlpShape shape_;
  const LabelledSet& data_;
  std::size_t parameters_;
  std::size_t max_batch_;
};

/// Throws ModelError unless `size` is a whole number of `parameters`-float candidates.
std::size_t candidate_count(std::size_t size, std::size_t parameters, const std::string& model);

}  // namespace murmur::model
