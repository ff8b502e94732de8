#pragma once
// The general model path: a TorchScript module file whose parameters are filled, in order,
// from a flat vector, and candidates evaluated one at a time with libtorch on the CPU.
// No torch type in this header (the module sits behind a pointer to an implementation); the
// code is in murmur::model, which links libtorch.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "murmur/model/evaluator.hpp"
#include "murmur/model/labelled_set.hpp"

namespace murmur::model {

/// A TorchScript module (torch.jit.save of a scripted or traced model) in evaluation mode.
/// The flat parameter vector is its parameters(recurse = true) concatenated in order, each
/// in row-major order: for a scripted torch.nn.Sequential, exactly named_parameters() order.
class ScriptModel {
 public:
  /// Loads the module on the CPU. Throws ModelError naming the file when it does not exist or
  /// libtorch cannot load it (not a TorchScript archive, truncated, from a newer libtorch),
  /// or a parameter is not float32.
  static ScriptModel load(const std::filesystem::path& path);

  ScriptModel(ScriptModel&&) noexcept;
  ScriptModel& operator=(ScriptModel&&) noexcept;
  ~ScriptModel();

  /// Floats in the flat vector.
  std::size_t parameters() const;
  /// "0.weight [10, 784], 0.bias [10]".
  std::string describe_parameters() const;
  const std::filesystem::path& path() const;

  /// Copies `flat` onto the parameters. Throws ModelError when flat.size() != parameters().
  void assign(std::span<const float> flat);
  std::vector<float> flatten() const;

  /// Scores the current parameters on `data`: the module gets float tensors of shape
  /// [batch, example_dims...] (batch_rows examples at a time) and must return logits
  /// [batch, C] with C >= data.classes; mean softmax cross-entropy (libtorch's
  /// cross_entropy, summed in double over batches) and argmax accuracy. Throws ModelError
  /// when the output is not such a tensor.
  CandidateScore evaluate(const LabelledSet& data, std::size_t batch_rows = 4096);

 private:
  struct Impl;
  explicit ScriptModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// A ScriptModel's candidates scored one at a time: assign, then evaluate. Keeps references
/// to `model` and `data`: both must outlive it.
class ScriptModelEvaluator final : public CandidateEvaluator {
 public:
  ScriptModelEvaluator(ScriptModel& model, const LabelledSet& data, std::size_t batch_rows = 4096);
  std::size_t parameters() const override;
  std::size_t max_batch() const override { return 16; }
  std::string describe() const override;
  std::vector<CandidateScore> evaluate(std::span<const float> packed) override;

 private:
  ScriptModel& model_;
  const LabelledSet& data_;
  std::size_t batch_rows_;
};

}  // namespace murmur::model
