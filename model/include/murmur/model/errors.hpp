#pragma once
#include <stdexcept>

namespace murmur::model {

/// A model or a parameter vector that cannot be used: wrong length, a model file that does not
/// load, a module whose output is not a [batch, classes] float tensor. The message names what
/// was wrong and what to do.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A data file that cannot be read: missing, truncated, corrupt, wrong magic or version,
/// sizes that do not agree. The message names the file, what was wrong and what to do.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace murmur::model
