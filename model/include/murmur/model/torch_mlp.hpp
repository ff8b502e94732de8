#pragma once
// libtorch's side of the MLP: the module, and flat vectors onto and off its parameters.
// Includes torch headers (~30 s per translation unit): include it only where libtorch is used.
// Target murmur::model (murmur::model_core has no libtorch).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include <torch/types.h>

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "murmur/model/idx.hpp"
#include "murmur/model/mlp_spec.hpp"

namespace murmur::model {

/// Sequential(Linear(w0, w1), ReLU(), ..., Linear(w_{L-1}, w_L)): ReLU after every layer but
/// the last; parameters initialised by libtorch's defaults. Its named_parameters() are
/// "0.weight", "0.bias", "2.weight", ... in the flat layout of mlp_spec.hpp.
torch::nn::Sequential make_mlp(const MlpShape& shape);

/// Copies `flat` onto module.parameters() in order (each parameter's elements in row-major
/// order), without recording gradients. Works for any module whose parameters are float32.
/// Throws ModelError when flat.size() differs from the parameters' total (the message lists
/// the parameters and their shapes) or a parameter is not float32.
void assign_parameters(torch::nn::Module& module, std::span<const float> flat);

/// The module's parameters concatenated in parameters() order: the inverse of
/// assign_parameters.
std::vector<float> flatten_parameters(const torch::nn::Module& module);

/// The set as libtorch tensors: the features as an [n, cols] float tensor over the set's own
/// memory (no copy: keep `data` alive and unchanged while it is used) and the labels as an [n]
/// int64 tensor (a copy, as cross_entropy wants).
std::pair<torch::Tensor, torch::Tensor> as_tensors(const LabelledSet& data);

/// "0.weight [10, 784], 0.bias [10]": the parameters a flat vector is mapped onto.
std::string describe_parameters(const torch::nn::Module& module);

}  // namespace murmur::model
