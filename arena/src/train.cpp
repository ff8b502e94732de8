// LoRA fine-tuning with libtorch's autograd: the decoder of forward.cpp written without in-place
// ops or NoGradGuard, each targeted projection as W x + scale B (A x), Adam on A and B only.
#include "murmur/arena/train.hpp"

#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>

#include "torch_llama.hpp"

namespace murmur::arena {
namespace {

/// One projection's factors: A [r, in], B [out, r].
struct Factors {
  torch::Tensor a, b;
  double scale = 0;
};
using FactorMap = std::map<std::pair<std::size_t, Projection>, Factors>;

torch::Tensor rms(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * w;
}

/// Sequences padded on the right; next[b][t] = the label predicted at position t (labels[t+1]),
/// kIgnoreLabel elsewhere.
struct Batch {
  torch::Tensor tokens, next;
  std::int64_t targets = 0;
};

Batch make_batch(const EvalSet& data, const std::vector<std::size_t>& which, torch::Device dev) {
  std::size_t length = 0;
  for (std::size_t i : which) length = std::max(length, data.sequences[i].tokens.size());
  const auto B = static_cast<std::int64_t>(which.size()), L = static_cast<std::int64_t>(length);
  std::vector<std::int64_t> tokens(which.size() * length, 0),
      next(which.size() * length, kIgnoreLabel);
  Batch batch;
  for (std::size_t b = 0; b < which.size(); ++b) {
    const EvalSequence& s = data.sequences[which[b]];
    std::copy(s.tokens.begin(), s.tokens.end(),
              tokens.begin() + static_cast<std::ptrdiff_t>(b * length));
    for (std::size_t t = 1; t < s.labels.size(); ++t)
      if (s.labels[t] != kIgnoreLabel) {
        next[b * length + t - 1] = s.labels[t];
        ++batch.targets;
      }
  }
  batch.tokens = torch::from_blob(tokens.data(), {B, L}, torch::kInt64).clone().to(dev);
  batch.next = torch::from_blob(next.data(), {B, L}, torch::kInt64).clone().to(dev);
  return batch;
}

/// Sum over the batch's targets of -log p(label).
torch::Tensor loss_sum(const BaseModel::Impl& m, const FactorMap& factors, const Batch& batch) {
  const LlamaConfig& c = m.config;
  const std::int64_t S = batch.tokens.size(0), L = batch.tokens.size(1);
  const auto d = static_cast<std::int64_t>(c.hidden), H = static_cast<std::int64_t>(c.heads),
             KV = static_cast<std::int64_t>(c.kv_heads),
             hd = static_cast<std::int64_t>(c.head_dim()), half = hd / 2;
  // Rotary tables as forward.cpp computes them: inv_freq_i = theta^(-2i/hd) in float32.
  const torch::Tensor i =
      torch::arange(0, hd, 2, torch::kInt64).to(torch::kFloat) / static_cast<double>(hd);
  const torch::Tensor inv_freq = 1.0 / torch::pow(torch::tensor(c.rope_theta, torch::kFloat), i);
  const torch::Tensor angles =
      torch::outer(torch::arange(L, torch::kInt64).to(torch::kFloat), inv_freq);
  const torch::Tensor cos = angles.cos().to(m.torch_device).view({1, L, 1, half}),
                      sin = angles.sin().to(m.torch_device).view({1, L, 1, half});
  const auto rope = [&](const torch::Tensor& x) {
    const torch::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
    return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
  };
  const torch::Tensor causal =
      torch::ones({L, L}, torch::TensorOptions().dtype(torch::kBool).device(m.torch_device))
          .triu(1);
  const auto project = [&](std::size_t layer, Projection p, const torch::Tensor& x) {
    const ProjectionSlot slot = projection_slot(c, p);
    const torch::Tensor w = (m.layers[layer].*slot.tensor).narrow(0, slot.row_begin, slot.rows);
    torch::Tensor y = torch::matmul(x, w.t());
    const auto it = factors.find({layer, p});
    if (it != factors.end())
      y = y +
          torch::matmul(torch::matmul(x, it->second.a.t()), it->second.b.t()) * it->second.scale;
    return y;
  };

  torch::Tensor x = m.embed.index_select(0, batch.tokens.reshape({S * L})).view({S, L, d});
  for (std::size_t l = 0; l < m.layers.size(); ++l) {
    const LayerWeights& w = m.layers[l];
    const torch::Tensor h = rms(x, w.input_norm, c.rms_eps);
    const torch::Tensor q =
        rope(project(l, Projection::kQ, h).view({S, L, H, hd})).permute({0, 2, 1, 3});
    const torch::Tensor k = rope(project(l, Projection::kK, h).view({S, L, KV, hd}))
                                .permute({0, 2, 1, 3})
                                .repeat_interleave(H / KV, 1);
    const torch::Tensor v = project(l, Projection::kV, h)
                                .view({S, L, KV, hd})
                                .permute({0, 2, 1, 3})
                                .repeat_interleave(H / KV, 1);
    const torch::Tensor scores =
        torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(hd));
    const torch::Tensor attn =
        torch::matmul(
            torch::softmax(scores.masked_fill(causal, -std::numeric_limits<float>::infinity()), -1),
            v)
            .permute({0, 2, 1, 3})
            .reshape({S, L, H * hd});
    x = x + project(l, Projection::kO, attn);
    const torch::Tensor h2 = rms(x, w.post_norm, c.rms_eps);
    x = x +
        project(l, Projection::kDown,
                torch::silu(project(l, Projection::kGate, h2)) * project(l, Projection::kUp, h2));
  }
  const torch::Tensor logits = torch::matmul(rms(x, m.final_norm, c.rms_eps), m.lm_head.t());
  return torch::nn::functional::cross_entropy(
      logits.view({S * L, static_cast<std::int64_t>(c.vocab)}), batch.next.view({S * L}),
      torch::nn::functional::CrossEntropyFuncOptions()
          .ignore_index(kIgnoreLabel)
          .reduction(torch::kSum));
}

torch::Tensor to_tensor(const std::vector<float>& v, std::int64_t rows, std::int64_t cols,
                        torch::Device dev) {
  return torch::from_blob(const_cast<float*>(v.data()), {rows, cols}, torch::kFloat)
      .clone()
      .to(dev);
}

std::vector<float> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

TrainResult train_lora(const BaseModel& base, const EvalSet& data, const TrainOptions& o) {
  if (o.rank == 0) throw std::invalid_argument("train_lora: rank must be >= 1");
  if (o.targets.empty()) throw std::invalid_argument("train_lora: no target projection");
  if (o.batch_sequences == 0) throw std::invalid_argument("train_lora: batch must be >= 1");
  if (data.sequences.empty() || data.target_tokens() == 0)
    throw std::invalid_argument("train_lora: the training set has no target token");
  const BaseModel::Impl& m = base.impl();
  const LlamaConfig& c = m.config;
  std::mt19937_64 rng(o.seed);
  const double scale = o.alpha / static_cast<double>(o.rank);
  const auto r = static_cast<std::int64_t>(o.rank);

  FactorMap factors;
  std::vector<torch::Tensor> params;
  for (std::size_t l = 0; l < c.layers; ++l)
    for (Projection p : kAllProjections) {
      if (std::find(o.targets.begin(), o.targets.end(), p) == o.targets.end()) continue;
      const auto in = static_cast<std::int64_t>(c.in_features(p)),
                 out = static_cast<std::int64_t>(c.out_features(p));
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      std::uniform_real_distribution<double> u(-bound, bound);
      std::vector<float> a(static_cast<std::size_t>(r * in));
      for (float& x : a) x = static_cast<float>(u(rng));
      Factors f;
      f.a = to_tensor(a, r, in, m.torch_device).requires_grad_(true);
      f.b = torch::zeros({out, r}, torch::TensorOptions().device(m.torch_device))
                .requires_grad_(true);
      f.scale = scale;
      params.push_back(f.a);
      params.push_back(f.b);
      factors.emplace(std::make_pair(l, p), std::move(f));
    }

  torch::optim::Adam adam(params, torch::optim::AdamOptions(o.learning_rate));
  std::vector<std::size_t> order(data.sequences.size());
  std::iota(order.begin(), order.end(), 0);
  std::size_t cursor = order.size();
  TrainResult result;
  for (std::size_t step = 0; step < o.steps; ++step) {
    std::vector<std::size_t> which;
    while (which.size() < std::min(o.batch_sequences, order.size())) {
      if (cursor == order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      which.push_back(order[cursor++]);
    }
    const Batch batch = make_batch(data, which, m.torch_device);
    if (batch.targets == 0) continue;
    adam.zero_grad();
    const torch::Tensor loss = loss_sum(m, factors, batch) / static_cast<double>(batch.targets);
    loss.backward();
    adam.step();
    result.step_losses.push_back(loss.item<double>());
  }

  LoraAdapter& a = result.adapter;
  a.name = o.name;
  a.base_model = base.name();
  a.rank = o.rank;
  a.alpha = o.alpha;
  for (const auto& [key, f] : factors) {  // map order: (layer, projection), as load sorts
    LoraModule mod;
    mod.layer = key.first;
    mod.projection = key.second;
    mod.rank = o.rank;
    mod.scale = static_cast<float>(scale);
    mod.a = to_vector(f.a);
    mod.b = to_vector(f.b);
    a.modules.push_back(std::move(mod));
  }
  return result;
}

double lora_mean_loss(const BaseModel& base, const LoraAdapter& adapter, const EvalSet& data,
                      std::size_t batch_sequences) {
  if (batch_sequences == 0) throw std::invalid_argument("lora_mean_loss: batch must be >= 1");
  torch::NoGradGuard no_grad;
  const BaseModel::Impl& m = base.impl();
  const LlamaConfig& c = m.config;
  FactorMap factors;
  for (const LoraModule& mod : adapter.modules) {
    const auto in = static_cast<std::int64_t>(c.in_features(mod.projection)),
               out = static_cast<std::int64_t>(c.out_features(mod.projection)),
               r = static_cast<std::int64_t>(mod.rank);
    factors[{mod.layer, mod.projection}] = {to_tensor(mod.a, r, in, m.torch_device),
                                            to_tensor(mod.b, out, r, m.torch_device), mod.scale};
  }
  double total = 0;
  std::int64_t tokens = 0;
  for (std::size_t first = 0; first < data.sequences.size(); first += batch_sequences) {
    std::vector<std::size_t> which;
    for (std::size_t i = first; i < std::min(first + batch_sequences, data.sequences.size()); ++i)
      which.push_back(i);
    const Batch batch = make_batch(data, which, m.torch_device);
    total += loss_sum(m, factors, batch).item<double>();
    tokens += batch.targets;
  }
  if (tokens == 0) throw std::invalid_argument("lora_mean_loss: the set has no target token");
  return total / static_cast<double>(tokens);
}

}  // namespace murmur::arena
