#include "murmur/model/torch_mlp.hpp"

#include <torch/torch.h>

#include <cstring>
#include <stdexcept>

#include "murmur/model/errors.hpp"

namespace murmur::model {

torch::nn::Sequential make_mlp(const MlpShape& shape) {
  try {
    shape.check();
  } catch (const std::invalid_argument& e) {
    throw ModelError(e.what());
  }
  torch::nn::Sequential seq;
  for (std::size_t l = 0; l < shape.layers(); ++l) {
    seq->push_back(torch::nn::Linear(static_cast<std::int64_t>(shape.in(l)),
                                     static_cast<std::int64_t>(shape.out(l))));
    if (l + 1 < shape.layers()) seq->push_back(torch::nn::ReLU());
  }
  return seq;
}

std::string describe_parameters(const torch::nn::Module& module) {
  std::string s;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!s.empty()) s += ", ";
    s += item.key() + " [";
    const auto sizes = item.value().sizes();
    for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
    s += "]";
  }
  return s;
}

void assign_parameters(torch::nn::Module& module, std::span<const float> flat) {
  std::vector<torch::Tensor> params = module.parameters(/*recurse=*/true);
  std::size_t total = 0;
  for (const auto& p : params) {
    if (p.scalar_type() != torch::kFloat)
      throw ModelError("module parameter of type " + std::string(c10::toString(p.scalar_type())) +
                       ": only float32 modules take a flat float vector; convert with .to(kFloat)");
    total += static_cast<std::size_t>(p.numel());
  }
  if (flat.size() != total)
    throw ModelError("parameter vector has " + std::to_string(flat.size()) +
                     " floats, the module has " + std::to_string(total) + " (" +
                     describe_parameters(module) +
                     "): it was made for a different model; check the task's model spec");
  torch::NoGradGuard no_grad;
  std::size_t offset = 0;
  for (auto& p : params) {
    // from_blob wants a mutable pointer; copy_ only reads it.
    const torch::Tensor src =
        torch::from_blob(const_cast<float*>(flat.data() + offset), p.sizes(), torch::kFloat);
    p.copy_(src);
    offset += static_cast<std::size_t>(p.numel());
  }
}

std::vector<float> flatten_parameters(const torch::nn::Module& module) {
  std::vector<float> flat;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    const torch::Tensor c = p.detach().to(torch::kFloat).contiguous();
    const float* data = c.data_ptr<float>();
    flat.insert(flat.end(), data, data + c.numel());
  }
  return flat;
}

std::pair<torch::Tensor, torch::Tensor> as_tensors(const LabelledSet& data) {
  const auto n = static_cast<std::int64_t>(data.rows());
  torch::Tensor x = torch::from_blob(const_cast<float*>(data.features.data()),
                                     {n, static_cast<std::int64_t>(data.cols())});
  torch::Tensor y =
      torch::from_blob(const_cast<std::int32_t*>(data.labels.data()), {n}, torch::kInt)
          .to(torch::kLong);
  return {std::move(x), std::move(y)};
}

}  // namespace murmur::model
