// The only translation unit of the simulator that includes libtorch.
#include "murmur/sim/simulate_train.hpp"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>

#include "murmur/model/torch_mlp.hpp"

namespace murmur::sim {

void use_single_threaded_torch() {
  static std::once_flag once;  // set_num_interop_threads may be called only once per process
  std::call_once(once, [] { at::set_num_interop_threads(1); });
  at::set_num_threads(1);
  // libtorch's CPU GEMMs go to the system BLAS; OpenBLAS's own thread pool would otherwise
  // oversubscribe the cores the training workers use (measured: 6x slower rounds on 2 cores).
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(1);
}

std::vector<float> train_local(const kernels::MlpShape& shape, std::span<const float> global,
                               const model::LabelledSet& data, std::span<const std::uint32_t> rows,
                               const LocalTraining& training, std::uint64_t seed,
                               bool flip_labels) {
  if (rows.empty()) throw std::invalid_argument("train_local: the node has no rows to train on");
  if (training.batch == 0) throw std::invalid_argument("train_local: batch size must be >= 1");
  torch::nn::Sequential net = model::make_mlp(shape);
  model::assign_parameters(*net, global);

  // The node's rows, gathered once: [n, cols] features and int64 labels.
  const std::size_t n = rows.size(), cols = data.cols();
  torch::Tensor x = torch::empty({static_cast<std::int64_t>(n), static_cast<std::int64_t>(cols)});
  torch::Tensor y = torch::empty({static_cast<std::int64_t>(n)}, torch::kInt64);
  float* xp = x.data_ptr<float>();
  std::int64_t* yp = y.data_ptr<std::int64_t>();
  const auto classes = static_cast<std::int64_t>(shape.classes());
  for (std::size_t i = 0; i < n; ++i) {
    std::copy_n(data.features.data() + rows[i] * cols, cols, xp + i * cols);
    const std::int64_t label = data.labels[rows[i]];
    yp[i] = flip_labels ? classes - 1 - label : label;
  }

  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  const auto params = net->parameters();
  for (std::size_t epoch = 0; epoch < training.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t begin = 0; begin < n; begin += training.batch) {
      const auto count = static_cast<std::int64_t>(std::min(training.batch, n - begin));
      const torch::Tensor idx = torch::from_blob(order.data() + begin, {count}, torch::kInt64);
      const torch::Tensor logits = net->forward(x.index_select(0, idx));
      const torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits, y.index_select(0, idx));
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      loss.backward();
      torch::NoGradGuard no_grad;
      for (auto& p : params) p.sub_(p.grad(), training.lr);
    }
  }
  std::vector<float> delta = model::flatten_parameters(*net);
  for (std::size_t j = 0; j < delta.size(); ++j) delta[j] -= global[j];
  return delta;
}

}  // namespace murmur::sim
