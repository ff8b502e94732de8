#include "round_validator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "murmur/model/errors.hpp"
#include "murmur/model/idx.hpp"
#include "murmur/model/labelled_tensor_file.hpp"
#include "murmur/model/mlp_spec.hpp"

namespace murmur::server {
namespace {

model::LabelledSet load_set(const ValidationConfig& c) {
  model::LabelledSet set;
  if (!c.fashion_mnist.empty()) {
    set = model::load_fashion_mnist(c.fashion_mnist == "train" ? model::FashionMnistSplit::kTrain
                                                               : model::FashionMnistSplit::kTest,
                                    c.fashion_mnist_dir.empty()
                                        ? std::filesystem::path(model::kFashionMnistDir)
                                        : c.fashion_mnist_dir);
  } else if (!c.images.empty()) {
    set = model::read_idx(c.images, c.labels);
  } else {
    set = model::read_labelled_tensors(c.labelled_tensors);
  }
  if (c.max_rows > 0 && c.max_rows < set.rows()) {
    set.features.resize(c.max_rows * set.cols());
    set.labels.resize(c.max_rows);
  }
  if (c.feature_mean != 0 || c.feature_std != 1)
    for (float& x : set.features) x = static_cast<float>((x - c.feature_mean) / c.feature_std);
  return set;
}

}  // namespace

const char* to_string(ContributionWeights w) {
  return w == ContributionWeights::kRule ? "rule" : "samples";
}

std::pair<std::vector<double>, ContributionWeights> contribution_weights(
    const kernels::AggregationReport& report, std::span<const double> sample_counts) {
  const std::size_t n = report.rows.size();
  bool linear = n > 0;
  for (const auto& d : report.rows)
    if (d.verdict == kernels::Verdict::kKept && !std::isfinite(d.weight)) linear = false;
  std::vector<double> w(n, 0.0);
  double total = 0;
  if (linear) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto& d = report.rows[i];
      w[i] = d.verdict == kernels::Verdict::kKept && d.weight > 0 ? d.weight : 0.0;
      total += w[i];
    }
    if (total > 0) return {w, ContributionWeights::kRule};
  }
  w.assign(sample_counts.begin(), sample_counts.end());
  return {w, ContributionWeights::kSamples};
}

RoundValidator::RoundValidator(const ValidationConfig& config, kernels::Backend& backend,
                               std::size_t parameters) {
  try {
    data_ = load_set(config);
    data_.check("validation set");
    if (!config.mlp.empty()) {
      kernels::MlpShape shape{config.mlp};
      evaluator_ =
          std::make_unique<model::BatchedMlpEvaluator>(backend, shape, data_, config.max_batch);
    } else {
      script_.emplace(model::ScriptModel::load(config.torchscript));
      evaluator_ = std::make_unique<model::ScriptModelEvaluator>(*script_, data_);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("validation: ") + e.what());
  }
  if (evaluator_->parameters() != parameters)
    throw std::runtime_error("validation: " + evaluator_->describe() + " has " +
                             std::to_string(evaluator_->parameters()) +
                             " parameters, task.parameters is " + std::to_string(parameters) +
                             ": the [validation] model must be the task's model");
}

RoundValidator::~RoundValidator() = default;

std::string RoundValidator::describe() const {
  return evaluator_->describe() + " on " + data_.describe();
}

RoundFigures RoundValidator::validate(std::span<const float> base, std::span<const float> candidate,
                                      const kernels::RowSource& deltas,
                                      std::span<const double> weights, ContributionWeights kind) {
  const auto t0 = std::chrono::steady_clock::now();
  model::RoundValidation v = model::validate_round(*evaluator_, base, deltas, weights);
  RoundFigures f;
  f.previous = v.previous;
  f.updates = std::move(v.updates);
  f.weights = kind;
  f.candidates = v.candidates;
  f.passes = v.passes;
  // The rule's model is the weighted mean only for combination rules (and then up to the
  // order of summation): anything else is scored by itself.
  if (candidate.size() == v.global_parameters.size() &&
      std::memcmp(candidate.data(), v.global_parameters.data(), candidate.size_bytes()) == 0) {
    f.candidate = v.global;
  } else {
    f.candidate = evaluator_->evaluate(candidate).at(0);
    ++f.candidates;
    ++f.passes;
  }
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return f;
}

RoundFigures RoundValidator::score(std::span<const float> base, std::span<const float> candidate) {
  const auto t0 = std::chrono::steady_clock::now();
  RoundFigures f;
  f.previous = evaluator_->evaluate(base).at(0);
  f.candidate = evaluator_->evaluate(candidate).at(0);
  f.candidates = 2;
  f.passes = 2;
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return f;
}

}  // namespace murmur::server
