#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "murmur/kernels/batched_mlp.hpp"

namespace murmur::model {

/// A labelled set in memory: `rows()` examples, each a float tensor of shape `example_dims`
/// (e.g. {28, 28}) stored flat and packed, and one class index per example in [0, classes).
struct LabelledSet {
  std::vector<std::size_t> example_dims;
  std::size_t classes = 0;
  std::vector<float> features;       ///< rows() * cols() floats, example-major
  std::vector<std::int32_t> labels;  ///< rows() class indices

  std::size_t rows() const noexcept { return labels.size(); }
  /// Features per example: the product of example_dims.
  std::size_t cols() const noexcept;
  /// The view the kernels take (features flattened to [rows, cols]).
  kernels::LabelledRows view() const noexcept {
    return {features.data(), labels.data(), rows(), cols()};
  }
  /// e.g. "10000 x 28x28, 10 classes".
  std::string describe() const;
  /// Throws DataError naming `what` unless features.size() == rows() * cols() and every label
  /// lies in [0, classes).
  void check(const std::string& what) const;
};

}  // namespace murmur::model
