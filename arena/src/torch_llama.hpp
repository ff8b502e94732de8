#pragma once
// The decoder's tensors and forward pass (libtorch): included only by base_model.cpp,
// forward.cpp, train.cpp and evaluate.cpp, the translation units that pay for libtorch's headers.
// Tensors and their operations (<torch/types.h>) and NoGradGuard (<torch/utils.h>) only, not the
// whole C++ frontend of <torch/torch.h> (nn modules, data loaders, serialization: 40% more
// compile time per file); a file that needs more includes it itself (train.cpp: optim, loss).
#include <torch/types.h>
#include <torch/utils.h>

#include <functional>
#include <string>
#include <vector>

#include "murmur/arena/base_model.hpp"

namespace murmur::arena {

/// One decoder layer, projections fused by input: W_qkv = [W_q; W_k; W_v] (rows), W_gu =
/// [W_gate; W_up], so that each is one GEMM.
struct LayerWeights {
  torch::Tensor input_norm;  ///< [hidden]
  torch::Tensor post_norm;   ///< [hidden]
  torch::Tensor qkv;         ///< [(heads + 2 kv_heads) * head_dim, hidden]
  torch::Tensor o;           ///< [hidden, heads * head_dim]
  torch::Tensor gate_up;     ///< [2 intermediate, hidden]
  torch::Tensor down;        ///< [hidden, intermediate]
};

/// Where projection p's weight lies: rows [row_begin, row_begin + rows) of a fused tensor.
struct ProjectionSlot {
  torch::Tensor LayerWeights::*tensor;
  std::int64_t row_begin;
  std::int64_t rows;
};
ProjectionSlot projection_slot(const LlamaConfig& config, Projection p);

struct BaseModel::Impl {
  LlamaConfig config;
  std::string name;
  Device device = Device::kCpu;
  torch::Device torch_device{torch::kCPU};
  torch::Tensor embed;       ///< [vocab, hidden]
  torch::Tensor lm_head;     ///< [vocab, hidden] (embed itself when tied)
  torch::Tensor final_norm;  ///< [hidden]
  std::vector<LayerWeights> layers;
  std::size_t parameters = 0;
};

/// Called after the base GEMM of projection p in `layer`: x is the projection's input
/// [N, in] (contiguous), y its output columns [N, out] (a view with row stride y.stride(0)),
/// to which the hook adds the adapters' deltas in place.
using LoraHook =
    std::function<void(std::size_t layer, Projection p, const torch::Tensor& x, torch::Tensor& y)>;

/// The decoder over tokens [S, L] (int64, on the model's device) with `layers` (the base's, or
/// merged copies): the hidden states after the last layer, before the final norm, [S*L, hidden].
/// `hook` may be null.
torch::Tensor decoder_hidden(const BaseModel::Impl& model, const std::vector<LayerWeights>& layers,
                             const torch::Tensor& tokens, const LoraHook* hook);

/// -log p(label) for each row of `hidden` [T, hidden] (pre-final-norm states at the positions
/// that predict `labels` [T]): final RMSNorm, LM head and logsumexp in chunks of rows, [T] float.
torch::Tensor target_losses(const BaseModel::Impl& model, const torch::Tensor& hidden,
                            const torch::Tensor& labels);

}  // namespace murmur::arena
