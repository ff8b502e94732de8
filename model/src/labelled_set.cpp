#include "murmur/model/labelled_set.hpp"

#include <functional>
#include <numeric>

#include "murmur/model/errors.hpp"

namespace murmur::model {

std::size_t LabelledSet::cols() const noexcept {
  return std::accumulate(example_dims.begin(), example_dims.end(), std::size_t{1},
                         std::multiplies<>());
}

std::string LabelledSet::describe() const {
  std::string dims;
  for (std::size_t d : example_dims) {
    if (!dims.empty()) dims.push_back('x');
    dims.append(std::to_string(d));
  }
  return std::to_string(rows()) + " x " + dims + ", " + std::to_string(classes) + " classes";
}

void LabelledSet::check(const std::string& what) const {
  if (example_dims.empty()) throw DataError(what + ": the example shape has no dimensions");
  if (features.size() != rows() * cols())
    throw DataError(what + ": " + std::to_string(features.size()) + " features for " +
                    std::to_string(rows()) + " examples of " + std::to_string(cols()));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes)
      throw DataError(what + ": label " + std::to_string(labels[i]) + " of example " +
                      std::to_string(i) + " is outside [0, " + std::to_string(classes) + ")");
}

}  // namespace murmur::model
