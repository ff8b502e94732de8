#pragma once
// The task's model when it is an MLP classifier: its shape and flat parameter layout (one
// definition, kernels::MlpShape, shared with the batched kernels).
//
// Flat layout, libtorch's named_parameters() order of the equivalent
//   torch::nn::Sequential(Linear(w0, w1), ReLU(), Linear(w1, w2), ReLU(), ..., Linear(., C)):
//   [ W_0 (w1 x w0, row-major) | b_0 (w1) | W_1 (w2 x w1) | b_1 (w2) | ... ]
// so a node training that Sequential with libtorch uploads flatten_parameters() as is.
#include <cstddef>
#include <string_view>

#include "murmur/kernels/batched_mlp.hpp"

namespace murmur::model {

using kernels::MlpShape;

/// Parses "784-128-10" (input width, hidden widths..., classes); "784-10" is logistic
/// regression. Throws ModelError for anything else, quoting the text.
MlpShape parse_mlp_shape(std::string_view text);

/// Throws ModelError unless `count` == shape.parameters(); `what` names the vector in the
/// message (e.g. "update 3").
void check_parameter_count(const MlpShape& shape, std::size_t count, std::string_view what);

}  // namespace murmur::model
