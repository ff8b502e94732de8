#include "murmur/model/evaluator.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "murmur/model/errors.hpp"

namespace murmur::model {

std::size_t candidate_count(std::size_t size, std::size_t parameters, const std::string& model) {
  if (parameters == 0 || size % parameters != 0)
    throw ModelError(std::to_string(size) + " floats are not a whole number of candidates of " +
                     model + " (" + std::to_string(parameters) +
                     " parameters each): a candidate has the wrong length");
  return size / parameters;
}

std::vector<float> stack_candidates(const CandidateEvaluator& evaluator,
                                    const std::vector<std::vector<float>>& candidates) {
  const std::size_t p = evaluator.parameters();
  std::vector<float> packed;
  packed.reserve(candidates.size() * p);
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    if (candidates[k].size() != p)
      throw ModelError("candidate " + std::to_string(k) + " has " +
                       std::to_string(candidates[k].size()) + " parameters, " +
                       evaluator.describe() + " has " + std::to_string(p) +
                       ": it was made for a different model");
    packed.insert(packed.end(), candidates[k].begin(), candidates[k].end());
  }
  return packed;
}

BatchedMlpEvaluator::BatchedMlpEvaluator(kernels::Backend& backend, MlpShape shape,
                                         const LabelledSet& data, std::size_t max_batch)
    : backend_(backend),
      shape_(std::move(shape)),
      data_(data),
      parameters_(0),
      max_batch_(std::max<std::size_t>(max_batch, 1)) {
  try {
    shape_.check();
  } catch (const std::invalid_argument& e) {
    throw ModelError(e.what());
  }
  parameters_ = shape_.parameters();
  if (data.cols() != shape_.inputs())
    throw ModelError("MLP " + shape_.describe() + " takes " + std::to_string(shape_.inputs()) +
                     " features, the validation set (" + data.describe() + ") has " +
                     std::to_string(data.cols()) + " per example: use the task's data");
  if (data.classes > shape_.classes())
    throw ModelError("MLP " + shape_.describe() + " predicts " + std::to_string(shape_.classes()) +
                     " classes, the validation set has " + std::to_string(data.classes));
  data.check("validation set");
  if (data.rows() == 0) throw DataError("validation set: no examples");
}

std::string BatchedMlpEvaluator::describe() const {
  return "MLP " + shape_.describe() + " on " + backend_.describe();
}

std::vector<CandidateScore> BatchedMlpEvaluator::evaluate(std::span<const float> packed) {
  const std::size_t k = candidate_count(packed.size(), parameters_, "MLP " + shape_.describe());
  return kernels::evaluate_mlp(backend_, shape_, {packed.data(), k, parameters_}, data_.view());
}

}  // namespace murmur::model
